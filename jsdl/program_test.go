package jsdl

import (
	"errors"
	"testing"
)

func TestProgram(t *testing.T) {
	wall := uint64(60)
	posix := &POSIXApplication{Executable: FileName{Path: "/p"}, Argument: []Argument{{Value: "a"}},
		Input: FileName{Path: "in"}, Output: FileName{Path: "out"}, Error: FileName{Path: "err"},
		WorkingDirectory: FileName{Path: "wd", FilesystemName: "HOME"}, Environment: []Environment{{Name: "A", Value: "1"}},
		WallTimeLimit: &wall, UserName: "u", GroupName: "g"}
	hpc := &HPCProfileApplication{Executable: FileName{Path: "/h"}, Argument: []Argument{{Value: "b"}},
		Output: FileName{Path: "o"}, UserName: "v"}
	spmd := &SPMDApplication{POSIXApplication: POSIXApplication{Executable: FileName{Path: "/s"}, WallTimeLimit: &wall, GroupName: "sg"},
		SPMDVariation: "http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI"}
	tests := []struct {
		name  string
		app   Application
		check func(t *testing.T, p *Program)
		err   string // "" means a Program
	}{
		{name: "posix", app: Application{POSIX: posix}, check: func(t *testing.T, p *Program) {
			if p.Executable.Path != "/p" || p.Argument[0].Value != "a" || p.Input.Path != "in" || p.Output.Path != "out" ||
				p.Error.Path != "err" || p.WorkingDirectory.FilesystemName != "HOME" || p.Environment[0].Name != "A" ||
				p.UserName != "u" || p.GroupName != "g" || p.Limits != posix || p.SPMD != nil || p.WallTimeLimit() != &wall {
				t.Errorf("%+v", p)
			}
		}},
		{name: "hpc profile", app: Application{HPCProfile: hpc}, check: func(t *testing.T, p *Program) {
			if p.Executable.Path != "/h" || p.Argument[0].Value != "b" || p.Output.Path != "o" || p.UserName != "v" ||
				p.GroupName != "" || p.Limits != nil || p.SPMD != nil || p.WallTimeLimit() != nil {
				t.Errorf("%+v", p)
			}
		}},
		{name: "spmd", app: Application{SPMD: spmd}, check: func(t *testing.T, p *Program) {
			if p.Executable.Path != "/s" || p.GroupName != "sg" || p.Limits != &spmd.POSIXApplication || p.SPMD != spmd ||
				p.WallTimeLimit() != &wall {
				t.Errorf("%+v", p)
			}
		}},
		{name: "application name", app: Application{ApplicationName: "blast"}, err: `job names application "blast" but no executable`},
		{name: "application name and empty posix", app: Application{ApplicationName: "blast", POSIX: &POSIXApplication{}},
			err: `job names application "blast" but no executable`},
		{name: "nothing", app: Application{}, err: "job has no executable"},
		{name: "hpc profile without executable", app: Application{HPCProfile: &HPCProfileApplication{}}, err: "job has no executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jd := &JobDefinition{JobDescription: JobDescription{Application: tt.app}}
			p, err := jd.Program()
			if tt.err != "" {
				if p != nil || !errors.Is(err, ErrNoExecutable) || err.Error() != tt.err {
					t.Fatalf("Program() = %v, %v; want error %q wrapping ErrNoExecutable", p, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
	var nilJD *JobDefinition
	if _, err := nilJD.Program(); !errors.Is(err, ErrNoExecutable) {
		t.Errorf("nil Program(): %v", err)
	}
}

func TestGoOSArch(t *testing.T) {
	for goos, want := range map[string]OperatingSystemType{
		"linux": OSLinux, "android": OSLinux, "darwin": OSMacOS, "freebsd": OSFreeBSD, "netbsd": OSNetBSD,
		"openbsd": OSOpenBSD, "dragonfly": OSBSDUNIX, "illumos": OSSolaris, "aix": OSAIX, "windows": OSWinNT,
		"plan9": OSOther,
	} {
		if got := GoOS(goos); got != want || !got.Valid() {
			t.Errorf("GoOS(%q) = %q, want %q", goos, got, want)
		}
	}
	for goarch, want := range map[string]ProcessorArchitecture{
		"amd64": ArchX86_64, "386": ArchX86_32, "arm": ArchARM, "arm64": ArchARM, "ppc64le": ArchPowerPC,
		"mips64": ArchMIPS, "sparc64": ArchSparc, "riscv64": ArchOther,
	} {
		if got := GoArch(goarch); got != want || !got.Valid() {
			t.Errorf("GoArch(%q) = %q, want %q", goarch, got, want)
		}
	}
}
