package jsdl

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// XML namespaces understood by this package. Elements in any other namespace
// are extensions and are skipped.
const (
	// NamespaceJSDL is the JSDL 1.0 core namespace (GFD.56).
	NamespaceJSDL = "http://schemas.ggf.org/jsdl/2005/11/jsdl"
	// NamespacePOSIX is the JSDL POSIXApplication extension namespace (GFD.56).
	NamespacePOSIX = "http://schemas.ggf.org/jsdl/2005/11/jsdl-posix"
	// NamespaceHPCPA is the HPC Profile Application extension namespace (GFD.111).
	NamespaceHPCPA = "http://schemas.ggf.org/jsdl/2006/07/jsdl-hpcpa"
	// NamespaceSPMD is the SPMD Application extension namespace (GFD.115).
	NamespaceSPMD = "http://schemas.ogf.org/jsdl/2007/02/jsdl-spmd"
)

// JobDefinition is the root jsdl:JobDefinition element.
type JobDefinition struct {
	// ID is the optional id attribute, kept verbatim (after trimming).
	ID string
	// JobDescription is the mandatory job description.
	JobDescription JobDescription
}

// JobDescription is jsdl:JobDescription.
type JobDescription struct {
	// JobIdentification is nil when the element is absent.
	JobIdentification *JobIdentification
	// Application is mandatory in documents accepted by Parse.
	Application Application
	// Resources is nil when the element is absent.
	Resources *Resources
	// DataStaging lists the files to stage in and out, in document order.
	DataStaging []DataStaging
}

// JobIdentification is jsdl:JobIdentification: descriptive, never interpreted.
type JobIdentification struct {
	JobName       string
	Description   string
	JobAnnotation []string
	JobProject    []string
}

// Application is jsdl:Application. At most one of POSIX, HPCProfile and SPMD
// is set. A document accepted by Parse has either an executable in one of
// them or a non-empty ApplicationName (or both).
type Application struct {
	ApplicationName    string
	ApplicationVersion string
	Description        string
	// POSIX is jsdl-posix:POSIXApplication.
	POSIX *POSIXApplication
	// HPCProfile is jsdl-hpcpa:HPCProfileApplication.
	HPCProfile *HPCProfileApplication
	// SPMD is jsdl-spmd:SPMDApplication.
	SPMD *SPMDApplication
}

// FileName is a path-valued element (Executable, Input, Output, Error,
// WorkingDirectory) with its optional filesystemName attribute. An empty Path
// means the element was absent (Parse rejects empty path elements).
type FileName struct {
	// Path is the element text, exactly as written apart from trimming of
	// surrounding XML whitespace. It is never interpreted or escaped.
	Path string
	// FilesystemName names a jsdl:FileSystem the path is relative to, or "".
	FilesystemName string
}

// Argument is one command-line argument, exactly as written apart from
// trimming of surrounding XML whitespace. It may be empty.
type Argument struct {
	Value string
	// FilesystemName is the optional filesystemName attribute, or "".
	FilesystemName string
}

// Environment is one environment variable. Name always matches
// [A-Za-z_][A-Za-z0-9_]* and is unique within its application.
type Environment struct {
	Name string
	// Value is exactly as written apart from trimming; it may be empty.
	Value string
	// FilesystemName is the optional filesystemName attribute, or "".
	FilesystemName string
}

// POSIXApplication is jsdl-posix:POSIXApplication. Limit fields are nil when
// absent; their units are those of GFD.56 (seconds for WallTimeLimit and
// CPUTimeLimit, bytes for the size and memory limits, counts otherwise).
type POSIXApplication struct {
	// Name is the optional name attribute.
	Name             string
	Executable       FileName
	Argument         []Argument
	Input            FileName
	Output           FileName
	Error            FileName
	WorkingDirectory FileName
	Environment      []Environment

	WallTimeLimit        *uint64
	FileSizeLimit        *uint64
	CoreDumpLimit        *uint64
	DataSegmentLimit     *uint64
	LockedMemoryLimit    *uint64
	MemoryLimit          *uint64
	OpenDescriptorsLimit *uint64
	PipeSizeLimit        *uint64
	StackSizeLimit       *uint64
	CPUTimeLimit         *uint64
	ProcessCountLimit    *uint64
	VirtualMemoryLimit   *uint64
	ThreadCountLimit     *uint64

	UserName  string
	GroupName string
}

// HPCProfileApplication is jsdl-hpcpa:HPCProfileApplication (GFD.111).
type HPCProfileApplication struct {
	// Name is the optional name attribute.
	Name             string
	Executable       FileName
	Argument         []Argument
	Input            FileName
	Output           FileName
	Error            FileName
	WorkingDirectory FileName
	Environment      []Environment
	UserName         string
}

// SPMDApplication is jsdl-spmd:SPMDApplication (GFD.115). GFD.115 reuses the
// jsdl-posix elements for the executable, arguments, standard streams,
// working directory, environment and user name; they (and any other
// jsdl-posix element, such as WallTimeLimit) are stored in the embedded
// POSIXApplication, whose Name is the SPMDApplication's name attribute.
type SPMDApplication struct {
	POSIXApplication
	// NumberOfProcesses is nil when absent.
	NumberOfProcesses *NumberOfProcesses
	// ProcessesPerHost is nil when absent; otherwise it is at least 1.
	ProcessesPerHost *uint64
	// ThreadsPerProcess is nil when absent.
	ThreadsPerProcess *ThreadsPerProcess
	// SPMDVariation is the mandatory absolute URI naming the SPMD flavour,
	// e.g. "http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI".
	SPMDVariation string
}

// NumberOfProcesses is jsdl-spmd:NumberOfProcesses.
type NumberOfProcesses struct {
	// Value is at least 1.
	Value uint64
	// ActualTotalCPUCount means "use the number of CPUs actually allocated
	// (TotalCPUCount)" rather than Value.
	ActualTotalCPUCount bool
}

// ThreadsPerProcess is jsdl-spmd:ThreadsPerProcess.
type ThreadsPerProcess struct {
	// Value is at least 1.
	Value uint64
	// ActualIndividualCPUCount means "use the number of CPUs actually
	// allocated per host (IndividualCPUCount)" rather than Value.
	ActualIndividualCPUCount bool
}

// Resources is jsdl:Resources. Nil range fields were not specified. Units
// follow GFD.56: CPU speed in Hertz, CPU time in seconds, bandwidth in bits
// per second, memory and disk space in bytes, counts as plain numbers.
type Resources struct {
	// CandidateHosts lists host names the job may run on (any of them).
	CandidateHosts []string
	FileSystem     []FileSystem
	// ExclusiveExecution is nil when unspecified.
	ExclusiveExecution *bool
	// OperatingSystem is nil when absent.
	OperatingSystem *OperatingSystem
	// CPUArchitecture is "" when absent.
	CPUArchitecture ProcessorArchitecture

	IndividualCPUSpeed         *RangeValue
	IndividualCPUTime          *RangeValue
	IndividualCPUCount         *RangeValue
	IndividualNetworkBandwidth *RangeValue
	IndividualPhysicalMemory   *RangeValue
	IndividualVirtualMemory    *RangeValue
	IndividualDiskSpace        *RangeValue
	TotalCPUTime               *RangeValue
	TotalCPUCount              *RangeValue
	TotalPhysicalMemory        *RangeValue
	TotalVirtualMemory         *RangeValue
	TotalDiskSpace             *RangeValue
	TotalResourceCount         *RangeValue
}

// FileSystem is jsdl:FileSystem.
type FileSystem struct {
	// Name is the mandatory name attribute (an NCName, unique per document).
	Name        string
	Description string
	MountPoint  string
	// DiskSpace is nil when absent.
	DiskSpace *RangeValue
	// FileSystemType is "" when absent.
	FileSystemType FileSystemType
}

// OperatingSystem is jsdl:OperatingSystem.
type OperatingSystem struct {
	// Type is the OperatingSystemType/OperatingSystemName value, or "".
	Type OperatingSystemType
	// Version is the free-form OperatingSystemVersion, or "".
	Version     string
	Description string
}

// DataStaging is jsdl:DataStaging.
type DataStaging struct {
	// Name is the optional name attribute.
	Name string
	// FileName is the mandatory local file name, verbatim.
	FileName string
	// FileSystemName names a jsdl:FileSystem FileName is relative to, or "".
	FileSystemName string
	// CreationFlag is mandatory.
	CreationFlag CreationFlag
	// DeleteOnTermination is nil when unspecified.
	DeleteOnTermination *bool
	// Source is nil when absent (no stage-in).
	Source *DataLocation
	// Target is nil when absent (no stage-out).
	Target *DataLocation
}

// DataLocation is jsdl:Source or jsdl:Target.
type DataLocation struct {
	// URI is an absolute URI, verbatim, or "" when the element has no URI.
	URI string
}

// Executable returns the executable path and arguments of whichever
// application element is present, or "" and nil when there is none (the job
// is then identified by Application.ApplicationName alone). The strings are
// returned exactly as parsed and must be passed to the process out of band
// (as an argv vector), never through a shell.
func (jd *JobDefinition) Executable() (path string, args []string) {
	p, err := jd.Program()
	if err != nil {
		return "", nil
	}
	if len(p.Argument) > 0 {
		args = make([]string, len(p.Argument))
		for i, a := range p.Argument {
			args[i] = a.Value
		}
	}
	return p.Executable.Path, args
}

// Requirements returns the sorted, de-duplicated "name=value" labels a
// backend must provide to run the job, for matchmaking:
//
//	os=<OperatingSystemType>      e.g. os=LINUX
//	arch=<ProcessorArchitecture>  e.g. arch=x86_64
//	exclusive=true                ExclusiveExecution is true
//	datastaging=<scheme>          per distinct lower-cased Source/Target URI scheme
//	application=<ApplicationName> only when there is no executable
//	spmd=<SPMDVariation>          for SPMD applications
//
// Values after the first '=' are verbatim. Numeric resources are not labels;
// match them with the RangeValue fields of Resources. Likewise
// OperatingSystem.Version, CandidateHosts, FileSystem, ApplicationVersion and
// UserName/GroupName are exposed only through the struct.
func (jd *JobDefinition) Requirements() []string {
	if jd == nil {
		return nil
	}
	set := make(map[string]struct{})
	add := func(k, v string) { set[k+"="+v] = struct{}{} }
	desc := &jd.JobDescription
	if r := desc.Resources; r != nil {
		if r.OperatingSystem != nil && r.OperatingSystem.Type != "" {
			add("os", string(r.OperatingSystem.Type))
		}
		if r.CPUArchitecture != "" {
			add("arch", string(r.CPUArchitecture))
		}
		if r.ExclusiveExecution != nil && *r.ExclusiveExecution {
			add("exclusive", "true")
		}
	}
	for _, ds := range desc.DataStaging {
		for _, loc := range []*DataLocation{ds.Source, ds.Target} {
			if loc == nil || loc.URI == "" {
				continue
			}
			if u, err := url.Parse(loc.URI); err == nil && u.Scheme != "" {
				add("datastaging", strings.ToLower(u.Scheme))
			}
		}
	}
	app := &desc.Application
	if exe, _ := jd.Executable(); exe == "" && app.ApplicationName != "" {
		add("application", app.ApplicationName)
	}
	if app.SPMD != nil && app.SPMD.SPMDVariation != "" {
		add("spmd", app.SPMD.SPMDVariation)
	}
	labels := make([]string, 0, len(set))
	for l := range set {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	return labels
}

// OnFileSystem resolves value against the MountPoint of the file system the
// document declares under name (GFD.56 filesystemName): a relative value is
// prefixed with the mount point, an absolute one is kept, an empty one is the
// mount point. An empty name leaves value unchanged. r may be nil (no
// Resources: no file system is declared). The error says what is wrong with
// the reference, for the caller to prefix with the element that made it.
func (r *Resources) OnFileSystem(name, value string) (string, error) {
	if name == "" {
		return value, nil
	}
	var f *FileSystem
	if r != nil {
		for i := range r.FileSystem {
			if r.FileSystem[i].Name == name {
				f = &r.FileSystem[i]
				break
			}
		}
	}
	switch {
	case f == nil:
		return "", fmt.Errorf("refers to file system %q, which the job does not declare", name)
	case f.MountPoint == "":
		return "", fmt.Errorf("refers to file system %q, which has no MountPoint to locate it by", name)
	case strings.HasPrefix(value, "/"):
		return value, nil
	case value == "":
		return f.MountPoint, nil
	}
	return strings.TrimSuffix(f.MountPoint, "/") + "/" + value, nil
}
