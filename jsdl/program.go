package jsdl

import (
	"errors"
	"fmt"
)

// ErrNoExecutable is returned (wrapped) by [JobDefinition.Program] for a job
// that names no executable in a POSIX, HPC Profile or SPMD application: it
// names an application by ApplicationName alone, or nothing at all.
var ErrNoExecutable = errors.New("no executable")

// Program is the executable part of a job, whichever application element
// carries it: the fields common to POSIXApplication, HPCProfileApplication
// and SPMDApplication, exactly as parsed (shared with the JobDefinition, not
// copied). Backends translate it; they never pass its strings through a
// shell.
type Program struct {
	Executable       FileName
	Argument         []Argument
	Input            FileName
	Output           FileName
	Error            FileName
	WorkingDirectory FileName
	Environment      []Environment
	UserName         string
	// GroupName is "" for an HPC Profile application, which has none.
	GroupName string
	// Limits holds the POSIX limits (WallTimeLimit, CPUTimeLimit, ...): the
	// POSIXApplication itself, or the SPMD application's embedded one; nil
	// for an HPC Profile application, which has no limits.
	Limits *POSIXApplication
	// SPMD is the SPMD application, nil for the other kinds.
	SPMD *SPMDApplication
}

// WallTimeLimit returns Limits.WallTimeLimit, or nil without limits.
func (p *Program) WallTimeLimit() *uint64 {
	if p.Limits == nil {
		return nil
	}
	return p.Limits.WallTimeLimit
}

// Program returns the executable part of the job. A job without an
// executable gives an error wrapping ErrNoExecutable that says what the job
// names instead ("job names application "blast" but no executable", or
// "job has no executable").
func (jd *JobDefinition) Program() (*Program, error) {
	if jd == nil {
		return nil, fmt.Errorf("job has %w", ErrNoExecutable)
	}
	ja := &jd.JobDescription.Application
	switch {
	case ja.POSIX != nil && ja.POSIX.Executable.Path != "":
		p := ja.POSIX
		return &Program{Executable: p.Executable, Argument: p.Argument, Input: p.Input, Output: p.Output,
			Error: p.Error, WorkingDirectory: p.WorkingDirectory, Environment: p.Environment,
			UserName: p.UserName, GroupName: p.GroupName, Limits: p}, nil
	case ja.HPCProfile != nil && ja.HPCProfile.Executable.Path != "":
		h := ja.HPCProfile
		return &Program{Executable: h.Executable, Argument: h.Argument, Input: h.Input, Output: h.Output,
			Error: h.Error, WorkingDirectory: h.WorkingDirectory, Environment: h.Environment,
			UserName: h.UserName}, nil
	case ja.SPMD != nil && ja.SPMD.Executable.Path != "":
		s := ja.SPMD
		return &Program{Executable: s.Executable, Argument: s.Argument, Input: s.Input, Output: s.Output,
			Error: s.Error, WorkingDirectory: s.WorkingDirectory, Environment: s.Environment,
			UserName: s.UserName, GroupName: s.GroupName, Limits: &s.POSIXApplication, SPMD: s}, nil
	case ja.ApplicationName != "":
		return nil, fmt.Errorf("job names application %q but %w", ja.ApplicationName, ErrNoExecutable)
	default:
		return nil, fmt.Errorf("job has %w", ErrNoExecutable)
	}
}
