package jsdl

import (
	"strings"
	"testing"
)

func TestParseRejects(t *testing.T) {
	exe := `<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>`
	tests := []struct {
		name string
		doc  string
		kind error
		path string
	}{
		// Malformed XML.
		{"empty document", ``, ErrMalformed, "/"},
		{"whitespace only", " \n\t", ErrMalformed, "/"},
		{"not XML", `hello world`, ErrMalformed, "/"},
		{"unclosed root", `<jsdl:JobDefinition` + nsDecls + `><jsdl:JobDescription>`, ErrMalformed, pathDesc},
		{"mismatched end tag", `<jsdl:JobDefinition` + nsDecls + `><jsdl:JobDescription></jsdl:JobDefinition>`, ErrMalformed, pathDesc},
		{"undeclared prefix", `<jsdl:JobDefinition><jsdl:JobDescription/></jsdl:JobDefinition>`, ErrMalformed, pathJD},
		{"undeclared attribute prefix", posixDoc(`<jsdl-posix:Executable q:a="1">/x</jsdl-posix:Executable>`), ErrMalformed, pathPOSIX + "/Executable"},
		{"duplicate attribute", `<jsdl:JobDefinition` + nsDecls + ` id="a" id="b"/>`, ErrMalformed, pathJD},
		{"duplicate namespace declaration", `<jsdl:JobDefinition` + nsDecls + ` xmlns:ext="urn:y"/>`, ErrMalformed, pathJD},
		{"prefix bound to empty namespace", `<jsdl:JobDefinition` + nsDecls + ` xmlns:e=""/>`, ErrMalformed, pathJD},
		{"text after root", posixDoc(exe) + `trailing`, ErrMalformed, "/"},
		{"second root element", posixDoc(exe) + posixDoc(exe), ErrMalformed, "/"},
		{"text before root", `junk` + posixDoc(exe), ErrMalformed, "/"},
		{"undefined entity", posixDoc(`<jsdl-posix:Executable>&lol;</jsdl-posix:Executable>`), ErrMalformed, pathPOSIX + "/Executable"},
		{"NUL character reference", posixDoc(`<jsdl-posix:Executable>/bin/a&#0;b</jsdl-posix:Executable>`), ErrMalformed, pathPOSIX + "/Executable"},
		{"literal NUL byte", posixDoc("<jsdl-posix:Executable>/bin/a\x00b</jsdl-posix:Executable>"), ErrMalformed, pathPOSIX + "/Executable"},
		{"invalid UTF-8", posixDoc("<jsdl-posix:Executable>/bin/\xff</jsdl-posix:Executable>"), ErrMalformed, pathPOSIX + "/Executable"},
		{"unsupported encoding", `<?xml version="1.0" encoding="UTF-16"?>` + posixDoc(exe), ErrMalformed, "/"},
		{"late XML declaration", posixDoc(exe) + `<?xml version="1.0"?>`, ErrMalformed, "/"},

		// DTDs are never processed.
		{"DOCTYPE", `<!DOCTYPE jsdl:JobDefinition>` + posixDoc(exe), ErrInvalid, "/"},
		{"ENTITY declaration", `<!DOCTYPE d [<!ENTITY e "/bin/sh">]>` + posixDoc(`<jsdl-posix:Executable>&e;</jsdl-posix:Executable>`), ErrInvalid, "/"},
		{"external entity", `<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + posixDoc(`<jsdl-posix:Executable>&e;</jsdl-posix:Executable>`), ErrInvalid, "/"},

		// Structure.
		{"root is not JobDefinition", `<jsdl:JobDescription` + nsDecls + `/>`, ErrInvalid, "/JobDescription"},
		{"root in wrong namespace", `<JobDefinition xmlns="urn:other"><JobDescription/></JobDefinition>`, ErrInvalid, pathJD},
		{"root without namespace", `<JobDefinition/>`, ErrInvalid, pathJD},
		{"missing JobDescription", `<jsdl:JobDefinition` + nsDecls + `/>`, ErrInvalid, pathJD},
		{"missing Application", jobDoc(`<jsdl:JobIdentification/>`), ErrInvalid, pathDesc},
		{"empty Application", appDoc(``), ErrInvalid, pathApp},
		{"POSIX without executable or name", posixDoc(`<jsdl-posix:Argument>x</jsdl-posix:Argument>`), ErrInvalid, pathApp},
		{"HPCPA without executable", appDoc(`<jsdl-hpcpa:HPCProfileApplication/>`), ErrInvalid, pathApp},
		{"only ApplicationVersion", appDoc(`<jsdl:ApplicationVersion>1</jsdl:ApplicationVersion>`), ErrInvalid, pathApp},
		{"empty ApplicationName", appDoc(`<jsdl:ApplicationName> </jsdl:ApplicationName>`), ErrInvalid, pathApp + "/ApplicationName"},
		{"empty Executable", posixDoc(`<jsdl-posix:Executable>  </jsdl-posix:Executable>`), ErrInvalid, pathPOSIX + "/Executable"},
		{"two application types", appDoc(`<jsdl-posix:POSIXApplication>` + exe + `</jsdl-posix:POSIXApplication><jsdl-hpcpa:HPCProfileApplication><jsdl-hpcpa:Executable>/x</jsdl-hpcpa:Executable></jsdl-hpcpa:HPCProfileApplication>`), ErrInvalid, pathApp + "/HPCProfileApplication"},
		{"two POSIX applications", appDoc(`<jsdl-posix:POSIXApplication>` + exe + `</jsdl-posix:POSIXApplication><jsdl-posix:POSIXApplication>` + exe + `</jsdl-posix:POSIXApplication>`), ErrInvalid, pathApp + "/POSIXApplication[2]"},
		{"misspelled POSIX element", posixDoc(exe + `<jsdl-posix:Executabel>/bin/sh</jsdl-posix:Executabel>`), ErrInvalid, pathPOSIX + "/Executabel"},
		{"unknown JSDL element", jobDoc(helloApp + `<jsdl:Resource/>`), ErrInvalid, pathDesc + "/Resource"},
		{"unknown SPMD element", appDoc(`<jsdl-spmd:SPMDApplication>` + exe + `<jsdl-spmd:Processes>2</jsdl-spmd:Processes></jsdl-spmd:SPMDApplication>`), ErrInvalid, pathApp + "/SPMDApplication/Processes"},
		{"POSIX element misplaced under Application", appDoc(exe), ErrInvalid, pathApp + "/Executable"},
		{"JSDL element misplaced in POSIX", posixDoc(exe + `<jsdl:Argument>x</jsdl:Argument>`), ErrInvalid, pathPOSIX + "/Argument[1]"},
		{"POSIX element in HPCPA", appDoc(`<jsdl-hpcpa:HPCProfileApplication>` + exe + `</jsdl-hpcpa:HPCProfileApplication>`), ErrInvalid, pathApp + "/HPCProfileApplication/Executable"},
		{"HPCPA POSIX-only field", appDoc(`<jsdl-hpcpa:HPCProfileApplication><jsdl-hpcpa:Executable>/x</jsdl-hpcpa:Executable><jsdl-hpcpa:WallTimeLimit>1</jsdl-hpcpa:WallTimeLimit></jsdl-hpcpa:HPCProfileApplication>`), ErrInvalid, pathApp + "/HPCProfileApplication/WallTimeLimit"},
		{"element in no namespace", `<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"><jsdl:JobDescription><Application/></jsdl:JobDescription></jsdl:JobDefinition>`, ErrInvalid, pathDesc + "/Application"},
		{"default namespace undeclared", jobDoc(`<jsdl:Application><POSIXApplication xmlns=""/></jsdl:Application>`), ErrInvalid, pathApp + "/POSIXApplication"},
		{"unknown attribute", posixDoc(`<jsdl-posix:Executable filesystemname="HOME">/x</jsdl-posix:Executable>`), ErrInvalid, pathPOSIX + "/Executable"},
		{"JSDL-qualified attribute", posixDoc(`<jsdl-posix:Executable jsdl-posix:filesystemName="HOME">/x</jsdl-posix:Executable>`), ErrInvalid, pathPOSIX + "/Executable"},
		{"attribute on element without attributes", jobDoc(`<jsdl:Application priority="1">` + `</jsdl:Application>`), ErrInvalid, pathApp},
		{"text in complex element", appDoc(`/bin/sh<jsdl:ApplicationName>x</jsdl:ApplicationName>`), ErrInvalid, pathApp},
		{"element inside a value", posixDoc(exe + `<jsdl-posix:Argument>a<ext:b/></jsdl-posix:Argument>`), ErrInvalid, pathPOSIX + "/Argument[1]/b"},

		// Duplicates of single-valued elements.
		{"duplicate Executable", posixDoc(exe + exe), ErrInvalid, pathPOSIX + "/Executable[2]"},
		{"duplicate JobName", jobDoc(`<jsdl:JobIdentification><jsdl:JobName>a</jsdl:JobName><jsdl:JobName>b</jsdl:JobName></jsdl:JobIdentification>` + helloApp), ErrInvalid, pathDesc + "/JobIdentification/JobName[2]"},
		{"duplicate Application", jobDoc(helloApp + helloApp), ErrInvalid, pathApp + "[2]"},
		{"duplicate Resources", jobDoc(helloApp + `<jsdl:Resources/><jsdl:Resources/>`), ErrInvalid, pathRes + "[2]"},
		{"duplicate ExclusiveExecution", resDoc(`<jsdl:ExclusiveExecution>true</jsdl:ExclusiveExecution><jsdl:ExclusiveExecution>false</jsdl:ExclusiveExecution>`), ErrInvalid, pathRes + "/ExclusiveExecution[2]"},
		{"duplicate WallTimeLimit", posixDoc(exe + `<jsdl-posix:WallTimeLimit>1</jsdl-posix:WallTimeLimit><jsdl-posix:WallTimeLimit>2</jsdl-posix:WallTimeLimit>`), ErrInvalid, pathPOSIX + "/WallTimeLimit[2]"},
		{"duplicate TotalCPUCount", resDoc(`<jsdl:TotalCPUCount><jsdl:Exact>1</jsdl:Exact></jsdl:TotalCPUCount><jsdl:TotalCPUCount><jsdl:Exact>2</jsdl:Exact></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount[2]"},
		{"duplicate LowerBound", resDoc(`<jsdl:TotalCPUCount><jsdl:Range><jsdl:LowerBound>1</jsdl:LowerBound><jsdl:LowerBound>2</jsdl:LowerBound><jsdl:UpperBound>3</jsdl:UpperBound></jsdl:Range></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Range[1]/LowerBound[2]"},
		{"duplicate SPMD Executable across namespaces", appDoc(`<jsdl-spmd:SPMDApplication>` + exe + `<jsdl-spmd:Executable>/y</jsdl-spmd:Executable></jsdl-spmd:SPMDApplication>`), ErrInvalid, pathApp + "/SPMDApplication/Executable"},
		{"duplicate DataStaging FilesystemName spellings", stageDoc(`<jsdl:FileName>f</jsdl:FileName><jsdl:FilesystemName>A</jsdl:FilesystemName><jsdl:FileSystemName>B</jsdl:FileSystemName><jsdl:CreationFlag>append</jsdl:CreationFlag>`), ErrInvalid, pathDesc + "/DataStaging[1]/FileSystemName"},

		// Numbers.
		{"negative POSIX limit", posixDoc(exe + `<jsdl-posix:WallTimeLimit>-1</jsdl-posix:WallTimeLimit>`), ErrInvalid, pathPOSIX + "/WallTimeLimit"},
		{"fractional POSIX limit", posixDoc(exe + `<jsdl-posix:MemoryLimit>1.5</jsdl-posix:MemoryLimit>`), ErrInvalid, pathPOSIX + "/MemoryLimit"},
		{"POSIX limit with unit", posixDoc(exe + `<jsdl-posix:MemoryLimit>1G</jsdl-posix:MemoryLimit>`), ErrInvalid, pathPOSIX + "/MemoryLimit"},
		{"POSIX limit overflow", posixDoc(exe + `<jsdl-posix:CPUTimeLimit>18446744073709551616</jsdl-posix:CPUTimeLimit>`), ErrInvalid, pathPOSIX + "/CPUTimeLimit"},
		{"empty POSIX limit", posixDoc(exe + `<jsdl-posix:ThreadCountLimit/>`), ErrInvalid, pathPOSIX + "/ThreadCountLimit"},
		{"NaN", resDoc(`<jsdl:TotalCPUCount><jsdl:Exact>NaN</jsdl:Exact></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Exact[1]"},
		{"INF", resDoc(`<jsdl:TotalCPUTime><jsdl:UpperBoundedRange>INF</jsdl:UpperBoundedRange></jsdl:TotalCPUTime>`), ErrInvalid, pathRes + "/TotalCPUTime/UpperBoundedRange[1]"},
		{"Infinity", resDoc(`<jsdl:TotalCPUTime><jsdl:LowerBoundedRange>+Infinity</jsdl:LowerBoundedRange></jsdl:TotalCPUTime>`), ErrInvalid, pathRes + "/TotalCPUTime/LowerBoundedRange[1]"},
		{"overflow to infinity", resDoc(`<jsdl:TotalDiskSpace><jsdl:LowerBoundedRange>1e400</jsdl:LowerBoundedRange></jsdl:TotalDiskSpace>`), ErrInvalid, pathRes + "/TotalDiskSpace/LowerBoundedRange[1]"},
		{"hex float", resDoc(`<jsdl:TotalDiskSpace><jsdl:LowerBoundedRange>0x1p4</jsdl:LowerBoundedRange></jsdl:TotalDiskSpace>`), ErrInvalid, pathRes + "/TotalDiskSpace/LowerBoundedRange[1]"},
		{"underscore digits", resDoc(`<jsdl:TotalDiskSpace><jsdl:LowerBoundedRange>1_000</jsdl:LowerBoundedRange></jsdl:TotalDiskSpace>`), ErrInvalid, pathRes + "/TotalDiskSpace/LowerBoundedRange[1]"},
		{"negative range value", resDoc(`<jsdl:TotalCPUCount><jsdl:LowerBoundedRange>-4</jsdl:LowerBoundedRange></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/LowerBoundedRange[1]"},
		{"negative range bound", resDoc(`<jsdl:TotalCPUCount><jsdl:Range><jsdl:LowerBound>-1</jsdl:LowerBound><jsdl:UpperBound>3</jsdl:UpperBound></jsdl:Range></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Range[1]/LowerBound"},
		{"empty range value", resDoc(`<jsdl:TotalCPUCount><jsdl:Exact></jsdl:Exact></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Exact[1]"},
		{"zero NumberOfProcesses", appDoc(`<jsdl-spmd:SPMDApplication>` + exe + `<jsdl-spmd:NumberOfProcesses>0</jsdl-spmd:NumberOfProcesses><jsdl-spmd:SPMDVariation>http://x/MPI</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`), ErrInvalid, pathApp + "/SPMDApplication/NumberOfProcesses"},
		{"zero ProcessesPerHost", appDoc(`<jsdl-spmd:SPMDApplication>` + exe + `<jsdl-spmd:ProcessesPerHost>0</jsdl-spmd:ProcessesPerHost><jsdl-spmd:SPMDVariation>http://x/MPI</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`), ErrInvalid, pathApp + "/SPMDApplication/ProcessesPerHost"},

		// Ranges.
		{"empty range element", resDoc(`<jsdl:TotalCPUCount/>`), ErrInvalid, pathRes + "/TotalCPUCount"},
		{"range with only foreign content", resDoc(`<jsdl:TotalCPUCount><ext:x/></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount"},
		{"empty DiskSpace", resDoc(`<jsdl:FileSystem name="S"><jsdl:DiskSpace/></jsdl:FileSystem>`), ErrInvalid, pathRes + "/FileSystem[1]/DiskSpace"},
		{"lower greater than upper", resDoc(`<jsdl:TotalCPUCount><jsdl:Range><jsdl:LowerBound>8</jsdl:LowerBound><jsdl:UpperBound>4</jsdl:UpperBound></jsdl:Range></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Range[1]"},
		{"second range bad", resDoc(`<jsdl:TotalCPUCount><jsdl:Range><jsdl:LowerBound>1</jsdl:LowerBound><jsdl:UpperBound>4</jsdl:UpperBound></jsdl:Range><jsdl:Range><jsdl:UpperBound>1</jsdl:UpperBound><jsdl:LowerBound>2</jsdl:LowerBound></jsdl:Range></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Range[2]"},
		{"range missing upper bound", resDoc(`<jsdl:TotalCPUCount><jsdl:Range><jsdl:LowerBound>1</jsdl:LowerBound></jsdl:Range></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Range[1]"},
		{"range empty by exclusivity", resDoc(`<jsdl:TotalCPUCount><jsdl:Range><jsdl:LowerBound exclusiveBound="true">2</jsdl:LowerBound><jsdl:UpperBound>2</jsdl:UpperBound></jsdl:Range></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Range[1]"},
		{"upper bound excluding zero", resDoc(`<jsdl:TotalCPUTime><jsdl:UpperBoundedRange exclusiveBound="1">0</jsdl:UpperBoundedRange></jsdl:TotalCPUTime>`), ErrInvalid, pathRes + "/TotalCPUTime/UpperBoundedRange[1]"},
		{"negative epsilon", resDoc(`<jsdl:TotalCPUCount><jsdl:Exact epsilon="-0.5">4</jsdl:Exact></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Exact[1]"},
		{"NaN epsilon", resDoc(`<jsdl:TotalCPUCount><jsdl:Exact epsilon="NaN">4</jsdl:Exact></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Exact[1]"},
		{"bad exclusiveBound", resDoc(`<jsdl:TotalCPUCount><jsdl:LowerBoundedRange exclusiveBound="yes">4</jsdl:LowerBoundedRange></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/LowerBoundedRange[1]"},
		{"unknown range child", resDoc(`<jsdl:TotalCPUCount><jsdl:Between>4</jsdl:Between></jsdl:TotalCPUCount>`), ErrInvalid, pathRes + "/TotalCPUCount/Between"},

		// Enumerations and booleans.
		{"unknown operating system", resDoc(`<jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>TempleOS</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem>`), ErrInvalid, pathRes + "/OperatingSystem/OperatingSystemType/OperatingSystemName"},
		{"operating system type without name", resDoc(`<jsdl:OperatingSystem><jsdl:OperatingSystemType/></jsdl:OperatingSystem>`), ErrInvalid, pathRes + "/OperatingSystem/OperatingSystemType"},
		{"operating system name as text", resDoc(`<jsdl:OperatingSystem><jsdl:OperatingSystemType>LINUX</jsdl:OperatingSystemType></jsdl:OperatingSystem>`), ErrInvalid, pathRes + "/OperatingSystem/OperatingSystemType"},
		{"unknown architecture", resDoc(`<jsdl:CPUArchitecture><jsdl:CPUArchitectureName>amd64</jsdl:CPUArchitectureName></jsdl:CPUArchitecture>`), ErrInvalid, pathRes + "/CPUArchitecture/CPUArchitectureName"},
		{"architecture without name", resDoc(`<jsdl:CPUArchitecture/>`), ErrInvalid, pathRes + "/CPUArchitecture"},
		{"unknown file system type", resDoc(`<jsdl:FileSystem name="S"><jsdl:FileSystemType>nfs</jsdl:FileSystemType></jsdl:FileSystem>`), ErrInvalid, pathRes + "/FileSystem[1]/FileSystemType"},
		{"unknown creation flag", stageDoc(`<jsdl:FileName>f</jsdl:FileName><jsdl:CreationFlag>clobber</jsdl:CreationFlag>`), ErrInvalid, pathDesc + "/DataStaging[1]/CreationFlag"},
		{"boolean yes", resDoc(`<jsdl:ExclusiveExecution>yes</jsdl:ExclusiveExecution>`), ErrInvalid, pathRes + "/ExclusiveExecution"},
		{"boolean True", resDoc(`<jsdl:ExclusiveExecution>True</jsdl:ExclusiveExecution>`), ErrInvalid, pathRes + "/ExclusiveExecution"},
		{"boolean empty", stageDoc(`<jsdl:FileName>f</jsdl:FileName><jsdl:CreationFlag>append</jsdl:CreationFlag><jsdl:DeleteOnTermination/>`), ErrInvalid, pathDesc + "/DataStaging[1]/DeleteOnTermination"},
		{"bad actualTotalCPUCount", appDoc(`<jsdl-spmd:SPMDApplication>` + exe + `<jsdl-spmd:NumberOfProcesses actualTotalCPUCount="sure">2</jsdl-spmd:NumberOfProcesses><jsdl-spmd:SPMDVariation>http://x/MPI</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`), ErrInvalid, pathApp + "/SPMDApplication/NumberOfProcesses"},

		// Values.
		{"environment name with dash", posixDoc(exe + `<jsdl-posix:Environment name="A-B">x</jsdl-posix:Environment>`), ErrInvalid, pathPOSIX + "/Environment[1]"},
		{"environment name starting with digit", posixDoc(exe + `<jsdl-posix:Environment name="A">1</jsdl-posix:Environment><jsdl-posix:Environment name="1A">x</jsdl-posix:Environment>`), ErrInvalid, pathPOSIX + "/Environment[2]"},
		{"environment name with equals", posixDoc(exe + `<jsdl-posix:Environment name="LD_PRELOAD=/x.so">x</jsdl-posix:Environment>`), ErrInvalid, pathPOSIX + "/Environment[1]"},
		{"environment name empty", posixDoc(exe + `<jsdl-posix:Environment name="">x</jsdl-posix:Environment>`), ErrInvalid, pathPOSIX + "/Environment[1]"},
		{"environment name missing", posixDoc(exe + `<jsdl-posix:Environment>x</jsdl-posix:Environment>`), ErrInvalid, pathPOSIX + "/Environment[1]"},
		{"environment name duplicated", posixDoc(exe + `<jsdl-posix:Environment name="P">1</jsdl-posix:Environment><jsdl-posix:Environment name="P">2</jsdl-posix:Environment>`), ErrInvalid, pathPOSIX + "/Environment[2]"},
		{"filesystemName not an NCName", posixDoc(`<jsdl-posix:Executable filesystemName="../etc">/x</jsdl-posix:Executable>`), ErrInvalid, pathPOSIX + "/Executable"},
		{"empty UserName", posixDoc(exe + `<jsdl-posix:UserName/>`), ErrInvalid, pathPOSIX + "/UserName"},
		{"empty HostName", resDoc(`<jsdl:CandidateHosts><jsdl:HostName/></jsdl:CandidateHosts>`), ErrInvalid, pathRes + "/CandidateHosts/HostName[1]"},
		{"empty CandidateHosts", resDoc(`<jsdl:CandidateHosts/>`), ErrInvalid, pathRes + "/CandidateHosts"},
		{"FileSystem without name", resDoc(`<jsdl:FileSystem><jsdl:MountPoint>/s</jsdl:MountPoint></jsdl:FileSystem>`), ErrInvalid, pathRes + "/FileSystem[1]"},
		{"FileSystem name reused", resDoc(`<jsdl:FileSystem name="S"/><jsdl:FileSystem name="S"/>`), ErrInvalid, pathRes + "/FileSystem[2]"},
		{"DataStaging without FileName", stageDoc(`<jsdl:CreationFlag>append</jsdl:CreationFlag>`), ErrInvalid, pathDesc + "/DataStaging[1]"},
		{"DataStaging without CreationFlag", stageDoc(`<jsdl:FileName>f</jsdl:FileName>`), ErrInvalid, pathDesc + "/DataStaging[1]"},
		{"relative URI", stageDoc(`<jsdl:FileName>f</jsdl:FileName><jsdl:CreationFlag>append</jsdl:CreationFlag><jsdl:Source><jsdl:URI>data/f</jsdl:URI></jsdl:Source>`), ErrInvalid, pathDesc + "/DataStaging[1]/Source/URI"},
		{"URI with space", stageDoc(`<jsdl:FileName>f</jsdl:FileName><jsdl:CreationFlag>append</jsdl:CreationFlag><jsdl:Target><jsdl:URI>http://h/a b</jsdl:URI></jsdl:Target>`), ErrInvalid, pathDesc + "/DataStaging[1]/Target/URI"},
		{"SPMD without variation", appDoc(`<jsdl-spmd:SPMDApplication>` + exe + `</jsdl-spmd:SPMDApplication>`), ErrInvalid, pathApp + "/SPMDApplication"},
		{"SPMD relative variation", appDoc(`<jsdl-spmd:SPMDApplication>` + exe + `<jsdl-spmd:SPMDVariation>MPI</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`), ErrInvalid, pathApp + "/SPMDApplication/SPMDVariation"},
	}
	seen := make(map[string]bool)
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("duplicate test name %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			jd, err := ParseBytes([]byte(tt.doc), DefaultLimits())
			if jd != nil {
				t.Errorf("got a JobDefinition along with the error")
			}
			checkErr(t, err, tt.kind, tt.path)
		})
	}
}

func TestErrorMessages(t *testing.T) {
	_, err := ParseBytes([]byte(posixDoc(`<jsdl-posix:Executable>/x</jsdl-posix:Executable><jsdl-posix:Executabel>/y</jsdl-posix:Executabel>`)), Limits{})
	want := "jsdl: " + pathPOSIX + "/Executabel: unknown or misplaced element jsdl-posix:Executabel"
	if err == nil || err.Error() != want {
		t.Errorf("Error() = %v, want %q", err, want)
	}
	_, err = ParseBytes([]byte(posixDoc(`<jsdl-posix:Input> </jsdl-posix:Input>`)), Limits{})
	if e := checkErr(t, err, ErrInvalid, pathPOSIX+"/Input"); e.Reason != "empty Input" {
		t.Errorf("Reason = %q, want %q", e.Reason, "empty Input")
	}
	// Untrusted values are quoted and truncated in messages.
	long := strings.Repeat("\x01\u2603", 1000)
	_, err = ParseBytes([]byte(resDoc(`<jsdl:ExclusiveExecution>`+strings.Repeat("é", 1000)+`</jsdl:ExclusiveExecution>`)), Limits{})
	e := checkErr(t, err, ErrInvalid, pathRes+"/ExclusiveExecution")
	if len(e.Reason) > 200 {
		t.Errorf("Reason is %d bytes long", len(e.Reason))
	}
	if q := quote(long); len(q) > 200 || strings.ContainsRune(q, 1) {
		t.Errorf("quote(...) = %q", q)
	}
	// Long element names are truncated in paths.
	name := strings.Repeat("n", 5000)
	_, err = ParseBytes([]byte(jobDoc(`<jsdl:`+name+`/>`)), Limits{})
	e = checkErr(t, err, ErrInvalid, pathDesc+"/"+strings.Repeat("n", 64)+"...")
	if len(e.Error()) > 400 {
		t.Errorf("Error() is %d bytes long", len(e.Error()))
	}
}
