package slurm

import (
	"errors"
	"fmt"
	"strings"
	"tuplebroker"
)

// class is how the agent should treat a failed Slurm command.
type class int

const (
	// classOther: neither; the agent counts a failed attempt.
	classOther class = iota
	// classRefused: the cluster cannot take the job now (tuplebroker.ErrRefused).
	classRefused
	// classRejected: the job can never run here (tuplebroker.ErrRejected).
	classRejected
)

func (c class) String() string {
	switch c {
	case classRefused:
		return "refused"
	case classRejected:
		return "rejected"
	default:
		return "other"
	}
}

// A message rule: a Slurm error text (matched case-insensitively as a
// substring of the command's stderr) and its class. Slurm commands report
// failures only as text; these are the strings of Slurm 22.05's error table
// (slurm_errno.c) and of the commands themselves.
type rule struct {
	text  string
	class class
}

// rules are tried in order; the first match wins. Submit-limit reason codes
// come before the generic accounting-policy text they precede on stderr.
var rules = []rule{
	// The cluster is busy or unreachable: slow down, try later or elsewhere.
	{"Socket timed out on send/recv operation", classRefused},
	{"Zero Bytes were transmitted or received", classRefused},
	{"Unable to contact slurm controller", classRefused},
	{"Communication connection failure", classRefused},
	{"Message send failure", classRefused},
	{"Message receive failure", classRefused},
	{"Connection timed out", classRefused},
	{"Connection refused", classRefused},
	{"Connection reset by peer", classRefused},
	{"Slurm backup controller in standby mode", classRefused},
	{"Process is shutting down", classRefused},
	{"Rate limit exceeded", classRefused},
	{"Submission rate too high", classRefused},
	{"temporarily unable to accept job", classRefused},
	{"Resource temporarily unavailable", classRefused},
	{"MaxJobCount limit reached", classRefused},
	{"Unable to create job record, try again", classRefused},
	{"System submissions disabled", classRefused},
	{"Requested partition configuration not available now", classRefused},
	{"Required partition not available (inactive or drain)", classRefused},
	{"Slurm is busy", classRefused},
	{"try again", classRefused},
	// Submit-count limits of associations and QOSes: the queue is full for
	// this user or account, not the job too big.
	{"AssocMaxSubmitJobLimit", classRefused},
	{"AssocGrpSubmitJobsLimit", classRefused},
	{"QOSMaxSubmitJobPerUserLimit", classRefused},
	{"QOSMaxSubmitJobPerAccountLimit", classRefused},
	{"QOSGrpSubmitJobsLimit", classRefused},
	// Other association and QOS limits (size, time, TRES per job): the job
	// exceeds what policy allows.
	{"error: Assoc", classRejected},
	{"error: QOS", classRejected},
	// Bare policy message: treated as a submit limit, the common case.
	{"Job violates accounting/QOS policy", classRefused},

	// The job can never run here.
	{"Invalid partition name specified", classRejected},
	{"invalid partition specified", classRejected},
	{"No partition specified or system default partition", classRejected},
	{"Requested node configuration is not available", classRejected},
	{"Requested nodes not in this partition", classRejected},
	{"More processors requested than permitted", classRejected},
	{"Node count specification invalid", classRejected},
	{"Task count specification invalid", classRejected},
	{"CPU count specification invalid", classRejected},
	{"Memory required by task is not available", classRejected},
	{"Memory specification can not be satisfied", classRejected},
	{"Invalid node name specified", classRejected},
	{"Invalid feature specification", classRejected},
	{"Invalid generic resource (gres) specification", classRejected},
	{"Invalid account or account/partition combination specified", classRejected},
	{"Invalid qos specification", classRejected},
	{"Invalid wckey specification", classRejected},
	{"Invalid license specification", classRejected},
	{"Requested time limit is invalid", classRejected},
	{"Access/permission denied", classRejected},
	{"User's group not permitted to use this partition", classRejected},
	{"Access denied to requested reservation", classRejected},
	{"Requested reservation is invalid", classRejected},
	{"Pathname of a file, directory or other parameter too long", classRejected},
	{"Job size specification needs to be provided", classRejected},
	{"Invalid user id", classRejected},
	{"Batch script contains DOS line breaks", classRejected},
	{"Batch script is empty", classRejected},
	{"invalid number of", classRejected},
	{"invalid --", classRejected},
	{"unrecognized option", classRejected},
}

// classify returns the class of a Slurm command's error text.
func classify(text string) class {
	lower := strings.ToLower(text)
	for _, r := range rules {
		if strings.Contains(lower, strings.ToLower(r.text)) {
			return r.class
		}
	}
	return classOther
}

// errTimeout marks a command killed for running past Config.CallTimeout.
var errTimeout = errors.New("timed out")

// cmdError is a Slurm command that failed: it could not start, exited
// nonzero, or ran out of time.
type cmdError struct {
	cmd    string // "sbatch", "squeue", ...
	stderr string // trimmed
	err    error  // *exec.ExitError, errTimeout, or a start failure
}

func (e *cmdError) Error() string {
	msg := strings.Join(strings.Fields(e.stderr), " ")
	if msg == "" {
		return fmt.Sprintf("%s: %v", e.cmd, e.err)
	}
	return fmt.Sprintf("%s: %v: %s", e.cmd, e.err, msg)
}

func (e *cmdError) Unwrap() error { return e.err }

// wrapCmd turns a command failure into the backend's error: refused,
// rejected or neither, with the command's message.
func wrapCmd(what string, err error) error {
	var ce *cmdError
	if !errors.As(err, &ce) {
		return fmt.Errorf("slurm: %s: %w", what, err)
	}
	c := classify(ce.stderr)
	if errors.Is(ce.err, errTimeout) && c == classOther {
		c = classRefused
	}
	switch c {
	case classRefused:
		return fmt.Errorf("slurm: %s: %w: %w", what, tuplebroker.ErrRefused, ce)
	case classRejected:
		return fmt.Errorf("slurm: %s: %w: %w", what, tuplebroker.ErrRejected, ce)
	default:
		return fmt.Errorf("slurm: %s: %w", what, ce)
	}
}
