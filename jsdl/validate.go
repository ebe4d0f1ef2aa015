package jsdl

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"unicode"
)

// Validate checks the semantic rules of this package on a JobDefinition,
// whether it came from Parse (which calls Validate before returning) or was
// built or decoded by other means. It returns nil or an [*Error] of kind
// [ErrInvalid] whose Path names the offending element as in a parsed
// document.
//
// Validate does not apply [Limits]; those only exist while parsing.
func (jd *JobDefinition) Validate() error {
	if jd == nil {
		return &Error{Path: "/", Reason: "nil JobDefinition", Kind: ErrInvalid}
	}
	v := validator{}
	v.jobDefinition(jd)
	if v.err != nil {
		return v.err
	}
	return nil
}

// validator records the first error found.
type validator struct {
	err *Error
}

func (v *validator) fail(path, format string, args ...any) {
	if v.err == nil {
		v.err = &Error{Path: path, Reason: fmt.Sprintf(format, args...), Kind: ErrInvalid}
	}
}

func idx(path, name string, i int) string {
	return fmt.Sprintf("%s/%s[%d]", path, name, i+1)
}

// str checks a free-form value: no NUL bytes.
func (v *validator) str(path, s string) {
	if strings.IndexByte(s, 0) >= 0 {
		v.fail(path, "value contains a NUL byte")
	}
}

// attr checks a free-form attribute value.
func (v *validator) attr(path, name, s string) {
	if strings.IndexByte(s, 0) >= 0 {
		v.fail(path, "attribute %s contains a NUL byte", name)
	}
}

// ncname checks an optional NCName-valued attribute or element.
func (v *validator) ncname(path, what, s string) {
	if s != "" && !isNCName(s) {
		v.fail(path, "%s %s is not a valid NCName", what, quote(s))
	}
}

func (v *validator) jobDefinition(jd *JobDefinition) {
	const root = "/JobDefinition"
	v.attr(root, "id", jd.ID)
	desc := &jd.JobDescription
	const dp = root + "/JobDescription"
	if ji := desc.JobIdentification; ji != nil {
		p := dp + "/JobIdentification"
		v.str(p+"/JobName", ji.JobName)
		v.str(p+"/Description", ji.Description)
		for i, s := range ji.JobAnnotation {
			v.str(idx(p, "JobAnnotation", i), s)
		}
		for i, s := range ji.JobProject {
			v.str(idx(p, "JobProject", i), s)
		}
	}
	v.application(dp+"/Application", &desc.Application)
	if r := desc.Resources; r != nil {
		v.resources(dp+"/Resources", r)
	}
	for i := range desc.DataStaging {
		v.dataStaging(idx(dp, "DataStaging", i), &desc.DataStaging[i])
	}
}

func (v *validator) application(p string, app *Application) {
	v.str(p+"/ApplicationName", app.ApplicationName)
	v.str(p+"/ApplicationVersion", app.ApplicationVersion)
	v.str(p+"/Description", app.Description)
	n := 0
	exe := ""
	if a := app.POSIX; a != nil {
		n++
		v.posix(p+"/POSIXApplication", a)
		exe = a.Executable.Path
	}
	if a := app.HPCProfile; a != nil {
		n++
		v.hpcpa(p+"/HPCProfileApplication", a)
		exe = a.Executable.Path
	}
	if a := app.SPMD; a != nil {
		n++
		v.spmd(p+"/SPMDApplication", a)
		exe = a.Executable.Path
	}
	if n > 1 {
		v.fail(p, "more than one application type (POSIX, HPC Profile, SPMD)")
	}
	if exe == "" && app.ApplicationName == "" {
		v.fail(p, "Application has neither an executable nor an ApplicationName")
	}
}

func (v *validator) fileName(p string, f FileName) {
	v.str(p, f.Path)
	v.ncname(p, "filesystemName", f.FilesystemName)
}

// core checks the fields shared by all application kinds.
func (v *validator) core(p, name string, exe FileName, args []Argument, in, out, errf, wd FileName, env []Environment, user string) {
	v.ncname(p, "name", name)
	v.fileName(p+"/Executable", exe)
	for i, a := range args {
		ap := idx(p, "Argument", i)
		v.str(ap, a.Value)
		v.ncname(ap, "filesystemName", a.FilesystemName)
	}
	v.fileName(p+"/Input", in)
	v.fileName(p+"/Output", out)
	v.fileName(p+"/Error", errf)
	v.fileName(p+"/WorkingDirectory", wd)
	seen := make(map[string]int, len(env))
	for i, e := range env {
		ep := idx(p, "Environment", i)
		if !IsEnvName(e.Name) {
			v.fail(ep, "environment variable name %s must match [A-Za-z_][A-Za-z0-9_]*", quote(e.Name))
		}
		if j, dup := seen[e.Name]; dup {
			v.fail(ep, "environment variable %s already set by Environment[%d]", e.Name, j+1)
		}
		seen[e.Name] = i
		v.str(ep, e.Value)
		v.ncname(ep, "filesystemName", e.FilesystemName)
	}
	v.str(p+"/UserName", user)
}

func (v *validator) posix(p string, a *POSIXApplication) {
	v.core(p, a.Name, a.Executable, a.Argument, a.Input, a.Output, a.Error, a.WorkingDirectory, a.Environment, a.UserName)
	v.str(p+"/GroupName", a.GroupName)
}

func (v *validator) hpcpa(p string, a *HPCProfileApplication) {
	v.core(p, a.Name, a.Executable, a.Argument, a.Input, a.Output, a.Error, a.WorkingDirectory, a.Environment, a.UserName)
}

func (v *validator) spmd(p string, a *SPMDApplication) {
	v.posix(p, &a.POSIXApplication)
	if n := a.NumberOfProcesses; n != nil && n.Value == 0 {
		v.fail(p+"/NumberOfProcesses", "must be a positive integer")
	}
	if n := a.ProcessesPerHost; n != nil && *n == 0 {
		v.fail(p+"/ProcessesPerHost", "must be a positive integer")
	}
	if n := a.ThreadsPerProcess; n != nil && n.Value == 0 {
		v.fail(p+"/ThreadsPerProcess", "must be a positive integer")
	}
	if a.SPMDVariation == "" {
		v.fail(p, "missing SPMDVariation")
	} else if reason := checkAbsoluteURI(a.SPMDVariation); reason != "" {
		v.fail(p+"/SPMDVariation", "%s", reason)
	}
}

func (v *validator) resources(p string, r *Resources) {
	for i, h := range r.CandidateHosts {
		hp := idx(p+"/CandidateHosts", "HostName", i)
		if h == "" {
			v.fail(hp, "empty HostName")
		}
		v.str(hp, h)
	}
	names := make(map[string]int, len(r.FileSystem))
	for i := range r.FileSystem {
		fs := &r.FileSystem[i]
		fp := idx(p, "FileSystem", i)
		if fs.Name == "" {
			v.fail(fp, "missing name attribute")
		}
		v.ncname(fp, "name", fs.Name)
		if j, dup := names[fs.Name]; dup {
			v.fail(fp, "FileSystem name %s already used by FileSystem[%d]", quote(fs.Name), j+1)
		}
		names[fs.Name] = i
		v.str(fp+"/Description", fs.Description)
		v.str(fp+"/MountPoint", fs.MountPoint)
		if fs.DiskSpace != nil {
			v.rangeValue(fp+"/DiskSpace", fs.DiskSpace)
		}
		if fs.FileSystemType != "" && !fs.FileSystemType.Valid() {
			v.fail(fp+"/FileSystemType", "unknown FileSystemType %s", quote(string(fs.FileSystemType)))
		}
	}
	if os := r.OperatingSystem; os != nil {
		op := p + "/OperatingSystem"
		if os.Type != "" && !os.Type.Valid() {
			v.fail(op+"/OperatingSystemType/OperatingSystemName", "unknown OperatingSystemName %s", quote(string(os.Type)))
		}
		v.str(op+"/OperatingSystemVersion", os.Version)
		v.str(op+"/Description", os.Description)
	}
	if r.CPUArchitecture != "" && !r.CPUArchitecture.Valid() {
		v.fail(p+"/CPUArchitecture/CPUArchitectureName", "unknown CPUArchitectureName %s", quote(string(r.CPUArchitecture)))
	}
	for _, rr := range rangeResources {
		if rv := *rr.field(r); rv != nil {
			v.rangeValue(p+"/"+rr.name, rv)
		}
	}
}

func (v *validator) number(p string, x float64) {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		v.fail(p, "value must be a finite number")
	case x < 0:
		v.fail(p, "negative value %v not allowed", x)
	}
}

func (v *validator) rangeValue(p string, rv *RangeValue) {
	if rv.IsEmpty() {
		v.fail(p, "empty range: needs UpperBoundedRange, LowerBoundedRange, Exact or Range")
		return
	}
	for i, b := range rv.UpperBoundedRange {
		bp := idx(p, "UpperBoundedRange", i)
		v.number(bp, b.Value)
		if v.err == nil && !b.admitsBelow(0) {
			v.fail(bp, "upper bound admits no non-negative value")
		}
	}
	for i, b := range rv.LowerBoundedRange {
		v.number(idx(p, "LowerBoundedRange", i), b.Value)
	}
	for i, e := range rv.Exact {
		ep := idx(p, "Exact", i)
		v.number(ep, e.Value)
		switch {
		case math.IsNaN(e.Epsilon) || math.IsInf(e.Epsilon, 0):
			v.fail(ep, "epsilon must be a finite number")
		case e.Epsilon < 0:
			v.fail(ep, "negative epsilon %v not allowed", e.Epsilon)
		}
	}
	for i, r := range rv.Range {
		rp := idx(p, "Range", i)
		v.number(rp+"/LowerBound", r.Lower.Value)
		v.number(rp+"/UpperBound", r.Upper.Value)
		if v.err != nil {
			return
		}
		if r.Lower.Value > r.Upper.Value {
			v.fail(rp, "LowerBound %v is greater than UpperBound %v", r.Lower.Value, r.Upper.Value)
		} else if r.empty() {
			v.fail(rp, "range [%v, %v] with exclusive bounds is empty", r.Lower.Value, r.Upper.Value)
		}
	}
}

func (v *validator) dataStaging(p string, ds *DataStaging) {
	v.ncname(p, "name", ds.Name)
	if ds.FileName == "" {
		v.fail(p, "missing FileName")
	}
	v.str(p+"/FileName", ds.FileName)
	v.ncname(p+"/FilesystemName", "FilesystemName", ds.FileSystemName)
	if ds.CreationFlag == "" {
		v.fail(p, "missing CreationFlag")
	} else if !ds.CreationFlag.Valid() {
		v.fail(p+"/CreationFlag", "unknown CreationFlag %s", quote(string(ds.CreationFlag)))
	}
	for _, loc := range []struct {
		name string
		l    *DataLocation
	}{{"Source", ds.Source}, {"Target", ds.Target}} {
		if loc.l == nil || loc.l.URI == "" {
			continue
		}
		if reason := checkAbsoluteURI(loc.l.URI); reason != "" {
			v.fail(p+"/"+loc.name+"/URI", "%s", reason)
		}
	}
}

// checkAbsoluteURI returns "" if s is an absolute URI without whitespace or
// control characters, else the reason it is not.
func checkAbsoluteURI(s string) string {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || unicode.IsSpace(r) {
			return fmt.Sprintf("URI %s contains whitespace or control characters", quote(s))
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("URI %s does not parse", quote(s))
	}
	if u.Scheme == "" {
		return fmt.Sprintf("URI %s is not absolute (no scheme)", quote(s))
	}
	return ""
}

// IsEnvName reports whether s matches [A-Za-z_][A-Za-z0-9_]*, the
// environment variable names the parser accepts; backends that write names
// into scripts check again with it.
func IsEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// isNCName is a close approximation of the XML NCName production: a letter
// or '_' followed by letters, digits, combining marks, '.', '-' and '_'.
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '.' || r == '-' || r == 0xB7 || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Nl)):
		default:
			return false
		}
	}
	return true
}

// rangeResources maps the RangeValue-typed children of jsdl:Resources to
// their fields.
var rangeResources = []struct {
	name  string
	field func(*Resources) **RangeValue
}{
	{"IndividualCPUSpeed", func(r *Resources) **RangeValue { return &r.IndividualCPUSpeed }},
	{"IndividualCPUTime", func(r *Resources) **RangeValue { return &r.IndividualCPUTime }},
	{"IndividualCPUCount", func(r *Resources) **RangeValue { return &r.IndividualCPUCount }},
	{"IndividualNetworkBandwidth", func(r *Resources) **RangeValue { return &r.IndividualNetworkBandwidth }},
	{"IndividualPhysicalMemory", func(r *Resources) **RangeValue { return &r.IndividualPhysicalMemory }},
	{"IndividualVirtualMemory", func(r *Resources) **RangeValue { return &r.IndividualVirtualMemory }},
	{"IndividualDiskSpace", func(r *Resources) **RangeValue { return &r.IndividualDiskSpace }},
	{"TotalCPUTime", func(r *Resources) **RangeValue { return &r.TotalCPUTime }},
	{"TotalCPUCount", func(r *Resources) **RangeValue { return &r.TotalCPUCount }},
	{"TotalPhysicalMemory", func(r *Resources) **RangeValue { return &r.TotalPhysicalMemory }},
	{"TotalVirtualMemory", func(r *Resources) **RangeValue { return &r.TotalVirtualMemory }},
	{"TotalDiskSpace", func(r *Resources) **RangeValue { return &r.TotalDiskSpace }},
	{"TotalResourceCount", func(r *Resources) **RangeValue { return &r.TotalResourceCount }},
}
