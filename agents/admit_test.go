package agents_test

import (
	"errors"
	"strings"
	"testing"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

func TestAdmit(t *testing.T) {
	const mpi = "http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI"
	exe := func() *jsdl.JobDefinition {
		return &jsdl.JobDefinition{JobDescription: jsdl.JobDescription{Application: jsdl.Application{
			POSIX: &jsdl.POSIXApplication{Executable: jsdl.FileName{Path: "/bin/true"}}}}}
	}
	with := func(mod func(d *jsdl.JobDescription)) *jsdl.JobDefinition {
		def := exe()
		mod(&def.JobDescription)
		return def
	}
	res := func(r jsdl.Resources) *jsdl.JobDefinition {
		return with(func(d *jsdl.JobDescription) { d.Resources = &r })
	}
	yes := true
	staging := func(uri string) *jsdl.JobDefinition {
		return with(func(d *jsdl.JobDescription) {
			ds := jsdl.DataStaging{FileName: "f", CreationFlag: jsdl.CreationOverwrite}
			if uri != "" {
				ds.Source = &jsdl.DataLocation{URI: uri}
			}
			d.DataStaging = []jsdl.DataStaging{ds}
		})
	}
	named := func(name string) *jsdl.JobDefinition {
		return &jsdl.JobDefinition{JobDescription: jsdl.JobDescription{Application: jsdl.Application{ApplicationName: name}}}
	}
	spmd := &jsdl.JobDefinition{JobDescription: jsdl.JobDescription{Application: jsdl.Application{SPMD: &jsdl.SPMDApplication{
		POSIXApplication: jsdl.POSIXApplication{Executable: jsdl.FileName{Path: "/bin/app"}}, SPMDVariation: mpi}}}}
	linux := []string{"os=LINUX", "arch=x86_64", "exclusive=true"}

	tests := []struct {
		name    string
		def     *jsdl.JobDefinition
		caps    []string
		element string   // "" means admitted
		words   []string // in the message
		cause   error
	}{
		{name: "plain executable", def: exe(), caps: nil},
		{name: "offered requirements", def: res(jsdl.Resources{OperatingSystem: &jsdl.OperatingSystem{Type: jsdl.OSLinux},
			CPUArchitecture: jsdl.ArchX86_64, ExclusiveExecution: &yes}), caps: linux},
		{name: "offered spmd", def: spmd, caps: []string{"spmd=" + mpi}},
		{name: "offered application", def: named("blast"), caps: []string{"application=blast"}},
		{name: "offered staging scheme", def: staging("http://example.org/f"), caps: []string{"datastaging=http"}},

		{name: "nil definition", def: nil, caps: linux, element: "JobDefinition", words: []string{"no definition"}},
		{name: "no executable", def: &jsdl.JobDefinition{}, caps: linux, element: "Application",
			words: []string{"no executable"}, cause: jsdl.ErrNoExecutable},
		{name: "application not offered", def: named("gromacs"), caps: linux, element: "Application",
			words: []string{`"gromacs"`, "no executable", "no application= label"}, cause: jsdl.ErrNoExecutable},
		{name: "other application offered", def: named("gromacs"), caps: []string{"application=blast"}, element: "Application",
			words: []string{`"gromacs"`, "application=blast"}, cause: jsdl.ErrNoExecutable},
		{name: "data staging", def: staging("http://example.org/f"), caps: linux, element: "DataStaging",
			words: []string{"1 DataStaging element(s)", "cannot stage files"}},
		// No URI: no datastaging= requirement, so matchmaking alone lets it
		// through; only the DataStaging rule stops it.
		{name: "data staging without URI", def: staging(""), caps: linux, element: "DataStaging",
			words: []string{"DataStaging"}},
		{name: "staging scheme not offered", def: staging("gsiftp://example.org/f"), caps: []string{"datastaging=http"},
			element: "DataStaging", words: []string{"datastaging=gsiftp", "datastaging=http"}},
		{name: "other os", def: res(jsdl.Resources{OperatingSystem: &jsdl.OperatingSystem{Type: jsdl.OSWinNT}}), caps: linux,
			element: "OperatingSystem", words: []string{"job requires os=WINNT; this backend offers os=LINUX"}},
		{name: "other arch", def: res(jsdl.Resources{CPUArchitecture: jsdl.ArchSparc}), caps: linux,
			element: "CPUArchitecture", words: []string{"arch=sparc", "arch=x86_64"}},
		{name: "exclusive not offered", def: res(jsdl.Resources{ExclusiveExecution: &yes}), caps: []string{"os=LINUX"},
			element: "ExclusiveExecution", words: []string{"exclusive=true", "no exclusive= label"}},
		{name: "spmd not offered", def: spmd, caps: linux, element: "SPMDVariation", words: []string{"spmd=" + mpi}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := agents.Admit(tt.def, tt.caps)
			if tt.element == "" {
				if err != nil {
					t.Fatalf("Admit: %v", err)
				}
				return
			}
			if !errors.Is(err, tuplebroker.ErrRejected) {
				t.Fatalf("Admit = %v, want an error wrapping ErrRejected", err)
			}
			var r *agents.Rejection
			if !errors.As(err, &r) || r.Element != tt.element {
				t.Fatalf("Admit = %#v, want a Rejection of %s", err, tt.element)
			}
			if !strings.Contains(err.Error(), tt.element) {
				t.Errorf("message %q does not name %s", err, tt.element)
			}
			for _, w := range tt.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("%v does not wrap %v", err, tt.cause)
			}
		})
	}
}
