package jsdl

// Handlers for the JSDL element tree. Each is called with the start token of
// its element current and consumes everything up to and including its end tag.

func (p *parser) jobDefinition(t *token) (*JobDefinition, error) {
	vals, _, err := p.attrs(t, "id")
	if err != nil {
		return nil, err
	}
	jd := &JobDefinition{ID: vals[0]}
	seen := false
	err = p.children(func(c *token) error {
		if c.is(NamespaceJSDL, "JobDescription") {
			seen = true
			return p.jobDescription(c, &jd.JobDescription)
		}
		return p.other(c)
	})
	if err != nil {
		return nil, err
	}
	if !seen {
		return nil, p.invalidf("missing JobDescription")
	}
	return jd, nil
}

func (p *parser) jobDescription(t *token, d *JobDescription) error {
	if _, _, err := p.attrs(t); err != nil {
		return err
	}
	seenApp := false
	err := p.children(func(c *token) error {
		if c.name.Space != NamespaceJSDL {
			return p.other(c)
		}
		switch c.name.Local {
		case "JobIdentification":
			d.JobIdentification = &JobIdentification{}
			return p.jobIdentification(c, d.JobIdentification)
		case "Application":
			seenApp = true
			return p.application(c, &d.Application)
		case "Resources":
			d.Resources = &Resources{}
			return p.resources(c, d.Resources)
		case "DataStaging":
			d.DataStaging = append(d.DataStaging, DataStaging{})
			return p.dataStaging(c, &d.DataStaging[len(d.DataStaging)-1])
		}
		return p.other(c)
	})
	if err != nil {
		return err
	}
	if !seenApp {
		return p.invalidf("missing Application")
	}
	return nil
}

func (p *parser) jobIdentification(t *token, ji *JobIdentification) error {
	if _, _, err := p.attrs(t); err != nil {
		return err
	}
	return p.children(func(c *token) error {
		if c.name.Space != NamespaceJSDL {
			return p.other(c)
		}
		var err error
		switch c.name.Local {
		case "JobName":
			ji.JobName, err = p.plain(c)
		case "Description":
			ji.Description, err = p.plain(c)
		case "JobAnnotation":
			var s string
			s, err = p.plain(c)
			ji.JobAnnotation = append(ji.JobAnnotation, s)
		case "JobProject":
			var s string
			s, err = p.plain(c)
			ji.JobProject = append(ji.JobProject, s)
		default:
			err = p.other(c)
		}
		return err
	})
}

func (p *parser) application(t *token, app *Application) error {
	if _, _, err := p.attrs(t); err != nil {
		return err
	}
	return p.children(func(c *token) error {
		isApp := c.is(NamespacePOSIX, "POSIXApplication") ||
			c.is(NamespaceHPCPA, "HPCProfileApplication") ||
			c.is(NamespaceSPMD, "SPMDApplication")
		if isApp && (app.POSIX != nil || app.HPCProfile != nil || app.SPMD != nil) {
			return p.invalidf("more than one application element (POSIX, HPC Profile, SPMD) in Application")
		}
		var err error
		switch {
		case c.is(NamespaceJSDL, "ApplicationName"):
			app.ApplicationName, err = p.nonEmpty(c)
		case c.is(NamespaceJSDL, "ApplicationVersion"):
			app.ApplicationVersion, err = p.plain(c)
		case c.is(NamespaceJSDL, "Description"):
			app.Description, err = p.plain(c)
		case c.is(NamespacePOSIX, "POSIXApplication"):
			app.POSIX = &POSIXApplication{}
			err = p.posixApplication(c, app.POSIX)
		case c.is(NamespaceHPCPA, "HPCProfileApplication"):
			app.HPCProfile = &HPCProfileApplication{}
			err = p.hpcProfileApplication(c, app.HPCProfile)
		case c.is(NamespaceSPMD, "SPMDApplication"):
			app.SPMD = &SPMDApplication{}
			err = p.spmdApplication(c, app.SPMD)
		default:
			err = p.other(c)
		}
		return err
	})
}

// appName reads the optional name attribute of an application element.
func (p *parser) appName(t *token) (string, error) {
	vals, _, err := p.attrs(t, "name")
	if err != nil {
		return "", err
	}
	return vals[0], nil
}

func (p *parser) posixApplication(t *token, a *POSIXApplication) error {
	var err error
	if a.Name, err = p.appName(t); err != nil {
		return err
	}
	return p.children(func(c *token) error {
		if c.name.Space == NamespacePOSIX {
			return p.posixField(c, a, false)
		}
		return p.other(c)
	})
}

// coreFields are the application fields common to POSIX, HPC Profile and
// SPMD applications.
var coreFields = map[string]bool{
	"Executable": true, "Argument": true, "Input": true, "Output": true, "Error": true,
	"WorkingDirectory": true, "Environment": true, "UserName": true,
}

func (p *parser) hpcProfileApplication(t *token, h *HPCProfileApplication) error {
	var err error
	if h.Name, err = p.appName(t); err != nil {
		return err
	}
	var a POSIXApplication
	err = p.children(func(c *token) error {
		if c.name.Space == NamespaceHPCPA && coreFields[c.name.Local] {
			return p.posixField(c, &a, false)
		}
		return p.other(c)
	})
	if err != nil {
		return err
	}
	h.Executable, h.Argument, h.Input, h.Output, h.Error = a.Executable, a.Argument, a.Input, a.Output, a.Error
	h.WorkingDirectory, h.Environment, h.UserName = a.WorkingDirectory, a.Environment, a.UserName
	return nil
}

func (p *parser) spmdApplication(t *token, s *SPMDApplication) error {
	var err error
	if s.Name, err = p.appName(t); err != nil {
		return err
	}
	seenVariation := false
	err = p.children(func(c *token) error {
		switch {
		case c.name.Space == NamespacePOSIX:
			// GFD.115 references the jsdl-posix elements; fields from the
			// spmd namespace below may already have set them.
			return p.posixField(c, &s.POSIXApplication, true)
		case c.name.Space != NamespaceSPMD:
			return p.other(c)
		case coreFields[c.name.Local]:
			// Lenient: the core fields in the spmd namespace mean the same.
			return p.posixField(c, &s.POSIXApplication, true)
		}
		var err error
		switch c.name.Local {
		case "NumberOfProcesses":
			var n NumberOfProcesses
			n.Value, n.ActualTotalCPUCount, err = p.uintValue(c, "actualTotalCPUCount")
			s.NumberOfProcesses = &n
		case "ProcessesPerHost":
			var n uint64
			n, _, err = p.uintValue(c, "")
			s.ProcessesPerHost = &n
		case "ThreadsPerProcess":
			var n ThreadsPerProcess
			n.Value, n.ActualIndividualCPUCount, err = p.uintValue(c, "actualIndividualCPUCount")
			s.ThreadsPerProcess = &n
		case "SPMDVariation":
			seenVariation = true
			s.SPMDVariation, err = p.nonEmpty(c)
		default:
			err = p.other(c)
		}
		return err
	})
	if err != nil {
		return err
	}
	if !seenVariation {
		return p.invalidf("missing SPMDVariation")
	}
	return nil
}

// posixField parses one jsdl-posix element into a. With checkDup set,
// duplicates are detected from the fields themselves, because the same field
// may arrive under two namespaces.
func (p *parser) posixField(c *token, a *POSIXApplication, checkDup bool) error {
	dup := func(set bool) error {
		if checkDup && set {
			return p.invalidf("duplicate element %s", c.name.Local)
		}
		return nil
	}
	path := func(f *FileName) error {
		if err := dup(f.Path != ""); err != nil {
			return err
		}
		vals, _, err := p.attrs(c, "filesystemName")
		if err != nil {
			return err
		}
		s, err := p.text()
		if err != nil {
			return err
		}
		if s == "" {
			return p.invalidf("empty %s", c.name.Local)
		}
		*f = FileName{Path: s, FilesystemName: vals[0]}
		return nil
	}
	limit := func(f **uint64) error {
		if err := dup(*f != nil); err != nil {
			return err
		}
		n, _, err := p.uintValue(c, "")
		*f = &n
		return err
	}
	str := func(f *string) error {
		if err := dup(*f != ""); err != nil {
			return err
		}
		var err error
		*f, err = p.nonEmpty(c)
		return err
	}
	switch c.name.Local {
	case "Executable":
		return path(&a.Executable)
	case "Input":
		return path(&a.Input)
	case "Output":
		return path(&a.Output)
	case "Error":
		return path(&a.Error)
	case "WorkingDirectory":
		return path(&a.WorkingDirectory)
	case "Argument":
		if len(a.Argument) >= p.lim.MaxArguments {
			return p.tooLargef("more than MaxArguments (%d) Argument elements", p.lim.MaxArguments)
		}
		vals, _, err := p.attrs(c, "filesystemName")
		if err != nil {
			return err
		}
		s, err := p.text()
		if err != nil {
			return err
		}
		a.Argument = append(a.Argument, Argument{Value: s, FilesystemName: vals[0]})
		return nil
	case "Environment":
		if len(a.Environment) >= p.lim.MaxEnvironment {
			return p.tooLargef("more than MaxEnvironment (%d) Environment elements", p.lim.MaxEnvironment)
		}
		vals, present, err := p.attrs(c, "name", "filesystemName")
		if err != nil {
			return err
		}
		name := vals[0]
		switch {
		case !present[0]:
			return p.invalidf("Environment is missing the name attribute")
		case !IsEnvName(name):
			return p.invalidf("environment variable name %s must match [A-Za-z_][A-Za-z0-9_]*", quote(name))
		}
		for _, e := range a.Environment {
			if e.Name == name {
				return p.invalidf("environment variable %s is set more than once", name)
			}
		}
		s, err := p.text()
		if err != nil {
			return err
		}
		a.Environment = append(a.Environment, Environment{Name: name, Value: s, FilesystemName: vals[1]})
		return nil
	case "WallTimeLimit":
		return limit(&a.WallTimeLimit)
	case "FileSizeLimit":
		return limit(&a.FileSizeLimit)
	case "CoreDumpLimit":
		return limit(&a.CoreDumpLimit)
	case "DataSegmentLimit":
		return limit(&a.DataSegmentLimit)
	case "LockedMemoryLimit":
		return limit(&a.LockedMemoryLimit)
	case "MemoryLimit":
		return limit(&a.MemoryLimit)
	case "OpenDescriptorsLimit":
		return limit(&a.OpenDescriptorsLimit)
	case "PipeSizeLimit":
		return limit(&a.PipeSizeLimit)
	case "StackSizeLimit":
		return limit(&a.StackSizeLimit)
	case "CPUTimeLimit":
		return limit(&a.CPUTimeLimit)
	case "ProcessCountLimit":
		return limit(&a.ProcessCountLimit)
	case "VirtualMemoryLimit":
		return limit(&a.VirtualMemoryLimit)
	case "ThreadCountLimit":
		return limit(&a.ThreadCountLimit)
	case "UserName":
		return str(&a.UserName)
	case "GroupName":
		return str(&a.GroupName)
	}
	return p.other(c)
}

func (p *parser) resources(t *token, r *Resources) error {
	if _, _, err := p.attrs(t); err != nil {
		return err
	}
	return p.children(func(c *token) error {
		if c.name.Space != NamespaceJSDL {
			return p.other(c)
		}
		switch c.name.Local {
		case "CandidateHosts":
			return p.candidateHosts(c, r)
		case "FileSystem":
			r.FileSystem = append(r.FileSystem, FileSystem{})
			return p.fileSystem(c, &r.FileSystem[len(r.FileSystem)-1])
		case "ExclusiveExecution":
			var err error
			r.ExclusiveExecution, err = p.boolValue(c)
			return err
		case "OperatingSystem":
			r.OperatingSystem = &OperatingSystem{}
			return p.operatingSystem(c, r.OperatingSystem)
		case "CPUArchitecture":
			return p.cpuArchitecture(c, r)
		}
		for _, rr := range rangeResources {
			if c.name.Local == rr.name {
				rv, err := p.rangeValue(c)
				*rr.field(r) = rv
				return err
			}
		}
		return p.other(c)
	})
}

func (p *parser) candidateHosts(t *token, r *Resources) error {
	if _, _, err := p.attrs(t); err != nil {
		return err
	}
	hosts := []string{}
	err := p.children(func(c *token) error {
		if !c.is(NamespaceJSDL, "HostName") {
			return p.other(c)
		}
		h, err := p.nonEmpty(c)
		hosts = append(hosts, h)
		return err
	})
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return p.invalidf("CandidateHosts needs at least one HostName")
	}
	r.CandidateHosts = hosts
	return nil
}

func (p *parser) fileSystem(t *token, fs *FileSystem) error {
	vals, present, err := p.attrs(t, "name")
	if err != nil {
		return err
	}
	if !present[0] || vals[0] == "" {
		return p.invalidf("FileSystem is missing the name attribute")
	}
	fs.Name = vals[0]
	return p.children(func(c *token) error {
		if c.name.Space != NamespaceJSDL {
			return p.other(c)
		}
		var err error
		switch c.name.Local {
		case "Description":
			fs.Description, err = p.plain(c)
		case "MountPoint":
			fs.MountPoint, err = p.nonEmpty(c)
		case "DiskSpace":
			fs.DiskSpace, err = p.rangeValue(c)
		case "FileSystemType":
			var s string
			if s, err = p.plain(c); err == nil {
				fs.FileSystemType = canonical(fsTypes, s)
				if !fs.FileSystemType.Valid() {
					err = p.invalidf("unknown FileSystemType %s", quote(s))
				}
			}
		default:
			err = p.other(c)
		}
		return err
	})
}

func (p *parser) operatingSystem(t *token, os *OperatingSystem) error {
	if _, _, err := p.attrs(t); err != nil {
		return err
	}
	return p.children(func(c *token) error {
		if c.name.Space != NamespaceJSDL {
			return p.other(c)
		}
		var err error
		switch c.name.Local {
		case "OperatingSystemType":
			if _, _, err = p.attrs(c); err != nil {
				return err
			}
			seen := false
			err = p.children(func(cc *token) error {
				if !cc.is(NamespaceJSDL, "OperatingSystemName") {
					return p.other(cc)
				}
				seen = true
				s, err := p.plain(cc)
				if err != nil {
					return err
				}
				os.Type = canonical(osTypes, s)
				if !os.Type.Valid() {
					return p.invalidf("unknown OperatingSystemName %s", quote(s))
				}
				return nil
			})
			if err == nil && !seen {
				err = p.invalidf("missing OperatingSystemName")
			}
		case "OperatingSystemVersion":
			os.Version, err = p.plain(c)
		case "Description":
			os.Description, err = p.plain(c)
		default:
			err = p.other(c)
		}
		return err
	})
}

func (p *parser) cpuArchitecture(t *token, r *Resources) error {
	if _, _, err := p.attrs(t); err != nil {
		return err
	}
	err := p.children(func(c *token) error {
		if !c.is(NamespaceJSDL, "CPUArchitectureName") {
			return p.other(c)
		}
		s, err := p.plain(c)
		if err != nil {
			return err
		}
		r.CPUArchitecture = canonical(archTypes, s)
		if !r.CPUArchitecture.Valid() {
			return p.invalidf("unknown CPUArchitectureName %s", quote(s))
		}
		return nil
	})
	if err == nil && r.CPUArchitecture == "" {
		err = p.invalidf("missing CPUArchitectureName")
	}
	return err
}

func (p *parser) rangeValue(t *token) (*RangeValue, error) {
	if _, _, err := p.attrs(t); err != nil {
		return nil, err
	}
	rv := &RangeValue{}
	err := p.children(func(c *token) error {
		if c.name.Space != NamespaceJSDL {
			return p.other(c)
		}
		switch c.name.Local {
		case "UpperBoundedRange":
			b, err := p.bound(c)
			rv.UpperBoundedRange = append(rv.UpperBoundedRange, b)
			return err
		case "LowerBoundedRange":
			b, err := p.bound(c)
			rv.LowerBoundedRange = append(rv.LowerBoundedRange, b)
			return err
		case "Exact":
			vals, present, err := p.attrs(c, "epsilon")
			if err != nil {
				return err
			}
			var e Exact
			if present[0] {
				var reason string
				if e.Epsilon, reason = parseDouble(vals[0]); reason != "" {
					return p.invalidf("epsilon: %s", reason)
				}
				if e.Epsilon < 0 {
					return p.invalidf("negative epsilon %s", quote(vals[0]))
				}
			}
			if e.Value, err = p.number(); err != nil {
				return err
			}
			rv.Exact = append(rv.Exact, e)
			return nil
		case "Range":
			r, err := p.rangeElement(c)
			rv.Range = append(rv.Range, r)
			return err
		}
		return p.other(c)
	})
	if err != nil {
		return nil, err
	}
	if rv.IsEmpty() {
		return nil, p.invalidf("empty range: needs UpperBoundedRange, LowerBoundedRange, Exact or Range")
	}
	return rv, nil
}

func (p *parser) rangeElement(t *token) (Range, error) {
	var r Range
	if _, _, err := p.attrs(t); err != nil {
		return r, err
	}
	var lower, upper bool
	err := p.children(func(c *token) error {
		var err error
		switch {
		case c.is(NamespaceJSDL, "LowerBound"):
			lower = true
			r.Lower, err = p.bound(c)
		case c.is(NamespaceJSDL, "UpperBound"):
			upper = true
			r.Upper, err = p.bound(c)
		default:
			err = p.other(c)
		}
		return err
	})
	if err != nil {
		return r, err
	}
	if !lower || !upper {
		return r, p.invalidf("Range needs both LowerBound and UpperBound")
	}
	if r.Lower.Value > r.Upper.Value {
		return r, p.invalidf("LowerBound %v is greater than UpperBound %v", r.Lower.Value, r.Upper.Value)
	}
	return r, nil
}

// bound reads a Boundary_Type element.
func (p *parser) bound(t *token) (Bound, error) {
	var b Bound
	vals, present, err := p.attrs(t, "exclusiveBound")
	if err != nil {
		return b, err
	}
	if present[0] {
		var reason string
		if b.ExclusiveBound, reason = parseBool(vals[0]); reason != "" {
			return b, p.invalidf("exclusiveBound: %s", reason)
		}
	}
	b.Value, err = p.number()
	return b, err
}

// number reads the text of the current element as a non-negative finite
// xsd:double.
func (p *parser) number() (float64, error) {
	s, err := p.text()
	if err != nil {
		return 0, err
	}
	x, reason := parseDouble(s)
	if reason != "" {
		return 0, p.invalidf("%s", reason)
	}
	if x < 0 {
		return 0, p.invalidf("negative value %s not allowed", quote(s))
	}
	return x, nil
}

func (p *parser) dataStaging(t *token, ds *DataStaging) error {
	vals, _, err := p.attrs(t, "name")
	if err != nil {
		return err
	}
	ds.Name = vals[0]
	seenFS := false
	return p.children(func(c *token) error {
		if c.name.Space != NamespaceJSDL {
			return p.other(c)
		}
		var err error
		switch c.name.Local {
		case "FileName":
			ds.FileName, err = p.nonEmpty(c)
		case "FilesystemName", "FileSystemName":
			// GFD.56 spells it FilesystemName; accept the other spelling too.
			if seenFS {
				return p.invalidf("duplicate element %s", c.name.Local)
			}
			seenFS = true
			ds.FileSystemName, err = p.nonEmpty(c)
		case "CreationFlag":
			var s string
			if s, err = p.plain(c); err == nil {
				ds.CreationFlag = canonical(creationFlags, s)
				if !ds.CreationFlag.Valid() {
					err = p.invalidf("unknown CreationFlag %s", quote(s))
				}
			}
		case "DeleteOnTermination":
			ds.DeleteOnTermination, err = p.boolValue(c)
		case "Source":
			ds.Source = &DataLocation{}
			err = p.location(c, ds.Source)
		case "Target":
			ds.Target = &DataLocation{}
			err = p.location(c, ds.Target)
		default:
			err = p.other(c)
		}
		return err
	})
}

func (p *parser) location(t *token, l *DataLocation) error {
	if _, _, err := p.attrs(t); err != nil {
		return err
	}
	return p.children(func(c *token) error {
		if !c.is(NamespaceJSDL, "URI") {
			return p.other(c)
		}
		s, err := p.nonEmpty(c)
		if err != nil {
			return err
		}
		if reason := checkAbsoluteURI(s); reason != "" {
			return p.invalidf("%s", reason)
		}
		l.URI = s
		return nil
	})
}
