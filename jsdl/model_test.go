package jsdl

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestRequirements(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"none", posixDoc(`<jsdl-posix:Executable>/x</jsdl-posix:Executable>`), []string{}},
		{"exclusive false is no requirement", resDoc(`<jsdl:ExclusiveExecution>0</jsdl:ExclusiveExecution>`), []string{}},
		{"exclusive true", resDoc(`<jsdl:ExclusiveExecution>1</jsdl:ExclusiveExecution>`), []string{"exclusive=true"}},
		{"numeric resources are not labels", resDoc(`<jsdl:TotalCPUCount><jsdl:Exact>4</jsdl:Exact></jsdl:TotalCPUCount><jsdl:FileSystem name="S"/>`), []string{}},
		{
			"data staging schemes deduplicated and lower-cased",
			jobDoc(helloApp +
				`<jsdl:DataStaging><jsdl:FileName>a</jsdl:FileName><jsdl:CreationFlag>overwrite</jsdl:CreationFlag><jsdl:Source><jsdl:URI>HTTP://h/a</jsdl:URI></jsdl:Source></jsdl:DataStaging>` +
				`<jsdl:DataStaging><jsdl:FileName>b</jsdl:FileName><jsdl:CreationFlag>overwrite</jsdl:CreationFlag><jsdl:Source><jsdl:URI>http://h/b</jsdl:URI></jsdl:Source><jsdl:Target><jsdl:URI>sftp://h/b</jsdl:URI></jsdl:Target></jsdl:DataStaging>` +
				`<jsdl:DataStaging><jsdl:FileName>c</jsdl:FileName><jsdl:CreationFlag>overwrite</jsdl:CreationFlag><jsdl:Source/></jsdl:DataStaging>`),
			[]string{"datastaging=http", "datastaging=sftp"},
		},
		{"application name with executable is not a label", appDoc(`<jsdl:ApplicationName>x</jsdl:ApplicationName><jsdl-posix:POSIXApplication><jsdl-posix:Executable>/x</jsdl-posix:Executable></jsdl-posix:POSIXApplication>`), []string{}},
		{"application name alone", appDoc(`<jsdl:ApplicationName>matlab</jsdl:ApplicationName>`), []string{"application=matlab"}},
		{
			"spmd",
			appDoc(`<jsdl-spmd:SPMDApplication><jsdl-posix:Executable>/x</jsdl-posix:Executable><jsdl-spmd:SPMDVariation>http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPICH2</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`),
			[]string{"spmd=http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPICH2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.doc).Requirements()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Requirements() = %q, want %q", got, tt.want)
			}
		})
	}
	var nilJD *JobDefinition
	if got := nilJD.Requirements(); got != nil {
		t.Errorf("nil Requirements() = %q", got)
	}
	if exe, args := nilJD.Executable(); exe != "" || args != nil {
		t.Errorf("nil Executable() = %q, %q", exe, args)
	}
}

func TestExecutableKinds(t *testing.T) {
	tests := []struct {
		name string
		app  Application
		exe  string
		args []string
	}{
		{"none", Application{ApplicationName: "x"}, "", nil},
		{"posix", Application{POSIX: &POSIXApplication{Executable: FileName{Path: "/p"}, Argument: []Argument{{Value: "1"}, {Value: ""}}}}, "/p", []string{"1", ""}},
		{"posix no args", Application{POSIX: &POSIXApplication{Executable: FileName{Path: "/p"}}}, "/p", nil},
		{"hpcpa", Application{HPCProfile: &HPCProfileApplication{Executable: FileName{Path: "/h"}, Argument: []Argument{{Value: "a"}}}}, "/h", []string{"a"}},
		{"spmd", Application{SPMD: &SPMDApplication{POSIXApplication: POSIXApplication{Executable: FileName{Path: "/s"}, Argument: []Argument{{Value: "b"}}}}}, "/s", []string{"b"}},
		{"posix without executable", Application{POSIX: &POSIXApplication{Argument: []Argument{{Value: "a"}}}}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jd := &JobDefinition{JobDescription: JobDescription{Application: tt.app}}
			exe, args := jd.Executable()
			if exe != tt.exe || !reflect.DeepEqual(args, tt.args) {
				t.Errorf("Executable() = %q, %q; want %q, %q", exe, args, tt.exe, tt.args)
			}
			if len(args) > 0 {
				args[0] = "mutated"
				if _, again := jd.Executable(); again[0] == "mutated" {
					t.Errorf("Executable() returned the model's own storage")
				}
			}
		})
	}
}

// TestValidate covers JobDefinitions built or decoded without Parse.
func TestValidate(t *testing.T) {
	hello := func() *JobDefinition {
		return &JobDefinition{JobDescription: JobDescription{Application: Application{
			POSIX: &POSIXApplication{Executable: FileName{Path: "/bin/echo"}, Argument: []Argument{{Value: "hi"}}},
		}}}
	}
	tests := []struct {
		name   string
		mutate func(jd *JobDefinition)
		path   string // "" means valid
	}{
		{"valid", func(*JobDefinition) {}, ""},
		{"NUL in argument", func(jd *JobDefinition) {
			jd.JobDescription.Application.POSIX.Argument = append(jd.JobDescription.Application.POSIX.Argument, Argument{Value: "a\x00b"})
		}, pathPOSIX + "/Argument[2]"},
		{"NUL in executable", func(jd *JobDefinition) { jd.JobDescription.Application.POSIX.Executable.Path = "/bin/\x00" }, pathPOSIX + "/Executable"},
		{"NUL in environment value", func(jd *JobDefinition) {
			jd.JobDescription.Application.POSIX.Environment = []Environment{{Name: "A", Value: "\x00"}}
		}, pathPOSIX + "/Environment[1]"},
		{"NUL in job name", func(jd *JobDefinition) {
			jd.JobDescription.JobIdentification = &JobIdentification{JobName: "x\x00"}
		}, pathDesc + "/JobIdentification/JobName"},
		{"NUL in id", func(jd *JobDefinition) { jd.ID = "\x00" }, pathJD},
		{"bad env name", func(jd *JobDefinition) {
			jd.JobDescription.Application.POSIX.Environment = []Environment{{Name: "A B"}}
		}, pathPOSIX + "/Environment[1]"},
		{"duplicate env name", func(jd *JobDefinition) {
			jd.JobDescription.Application.POSIX.Environment = []Environment{{Name: "A"}, {Name: "A"}}
		}, pathPOSIX + "/Environment[2]"},
		{"no executable", func(jd *JobDefinition) { jd.JobDescription.Application.POSIX.Executable.Path = "" }, pathApp},
		{"two kinds", func(jd *JobDefinition) {
			jd.JobDescription.Application.HPCProfile = &HPCProfileApplication{Executable: FileName{Path: "/x"}}
		}, pathApp},
		{"spmd without variation", func(jd *JobDefinition) {
			jd.JobDescription.Application = Application{SPMD: &SPMDApplication{POSIXApplication: POSIXApplication{Executable: FileName{Path: "/x"}}}}
		}, pathApp + "/SPMDApplication"},
		{"bad OS", func(jd *JobDefinition) {
			jd.JobDescription.Resources = &Resources{OperatingSystem: &OperatingSystem{Type: "linux"}}
		}, pathRes + "/OperatingSystem/OperatingSystemType/OperatingSystemName"},
		{"bad arch", func(jd *JobDefinition) { jd.JobDescription.Resources = &Resources{CPUArchitecture: "amd64"} }, pathRes + "/CPUArchitecture/CPUArchitectureName"},
		{"NaN range", func(jd *JobDefinition) {
			jd.JobDescription.Resources = &Resources{TotalCPUCount: &RangeValue{Exact: []Exact{{Value: 1}, {Value: nan()}}}}
		}, pathRes + "/TotalCPUCount/Exact[2]"},
		{"empty range", func(jd *JobDefinition) { jd.JobDescription.Resources = &Resources{TotalDiskSpace: &RangeValue{}} }, pathRes + "/TotalDiskSpace"},
		{"inverted range", func(jd *JobDefinition) {
			jd.JobDescription.Resources = &Resources{IndividualCPUTime: &RangeValue{Range: []Range{{Lower: Bound{Value: 2}, Upper: Bound{Value: 1}}}}}
		}, pathRes + "/IndividualCPUTime/Range[1]"},
		{"bad creation flag", func(jd *JobDefinition) {
			jd.JobDescription.DataStaging = []DataStaging{{FileName: "f", CreationFlag: "Overwrite"}}
		}, pathDesc + "/DataStaging[1]/CreationFlag"},
		{"relative URI", func(jd *JobDefinition) {
			jd.JobDescription.DataStaging = []DataStaging{{FileName: "f", CreationFlag: CreationAppend, Target: &DataLocation{URI: "/tmp/x"}}}
		}, pathDesc + "/DataStaging[1]/Target/URI"},
		{"bad FilesystemName", func(jd *JobDefinition) {
			jd.JobDescription.DataStaging = []DataStaging{{FileName: "f", CreationFlag: CreationAppend, FileSystemName: "a b"}}
		}, pathDesc + "/DataStaging[1]/FilesystemName"},
		{"zero threads", func(jd *JobDefinition) {
			jd.JobDescription.Application = Application{SPMD: &SPMDApplication{
				POSIXApplication:  POSIXApplication{Executable: FileName{Path: "/x"}},
				ThreadsPerProcess: &ThreadsPerProcess{},
				SPMDVariation:     "http://x/MPI",
			}}
		}, pathApp + "/SPMDApplication/ThreadsPerProcess"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jd := hello()
			tt.mutate(jd)
			err := jd.Validate()
			if tt.path == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			checkErr(t, err, ErrInvalid, tt.path)
		})
	}
	var nilJD *JobDefinition
	if err := nilJD.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil Validate() = %v", err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestEnumerations(t *testing.T) {
	if len(osTypes) != 69 {
		t.Errorf("%d operating system types, want the 69 of GFD.56", len(osTypes))
	}
	folded := make(map[string]bool)
	for _, o := range osTypes {
		if !o.Valid() {
			t.Errorf("%q not Valid", o)
		}
		if folded[strings.ToLower(string(o))] {
			t.Errorf("%q collides with another value ignoring case", o)
		}
		folded[strings.ToLower(string(o))] = true
		if got := canonical(osTypes, strings.ToUpper(string(o))); got != o {
			t.Errorf("canonical(%q) = %q", strings.ToUpper(string(o)), got)
		}
	}
	for _, o := range []OperatingSystemType{OSLinux, OSMacOS, OSWinNT, OSSolaris, OSFreeBSD, OSzOS, OSOther, OSUnknown, OSWindowsRMe} {
		if !o.Valid() {
			t.Errorf("%q not Valid", o)
		}
	}
	if OperatingSystemType("SOLARIS").Valid() || OperatingSystemType("").Valid() {
		t.Errorf("non-canonical spelling reported Valid")
	}
	if len(archTypes) != 10 || !ArchX86_64.Valid() || ProcessorArchitecture("amd64").Valid() {
		t.Errorf("bad ProcessorArchitecture enumeration")
	}
	if len(fsTypes) != 4 || !FileSystemSpool.Valid() || FileSystemType("nfs").Valid() {
		t.Errorf("bad FileSystemType enumeration")
	}
	if len(creationFlags) != 3 || !CreationDontOverwrite.Valid() || CreationFlag("dontoverwrite").Valid() {
		t.Errorf("bad CreationFlag enumeration")
	}
}

func TestRequirementsSorted(t *testing.T) {
	jd := mustParse(t, string(readTestdata(t, "full.jsdl")))
	got := jd.Requirements()
	if !sort.StringsAreSorted(got) {
		t.Errorf("Requirements() not sorted: %q", got)
	}
}

func TestOnFileSystem(t *testing.T) {
	r := &Resources{FileSystem: []FileSystem{{Name: "DATA", MountPoint: "/data/"}, {Name: "BARE"}}}
	cases := []struct {
		res         *Resources
		name, value string
		want, err   string
	}{
		{r, "", "rel", "rel", ""},
		{r, "DATA", "in.dat", "/data/in.dat", ""},
		{r, "DATA", "/abs/in.dat", "/abs/in.dat", ""},
		{r, "DATA", "", "/data/", ""},
		{r, "NOPE", "x", "", "does not declare"},
		{nil, "DATA", "x", "", "does not declare"},
		{r, "BARE", "x", "", "no MountPoint"},
	}
	for _, c := range cases {
		got, err := c.res.OnFileSystem(c.name, c.value)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("OnFileSystem(%q, %q) = %q, %v; want an error containing %q", c.name, c.value, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("OnFileSystem(%q, %q) = %q, %v; want %q", c.name, c.value, got, err, c.want)
		}
	}
}
