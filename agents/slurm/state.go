package slurm

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"tuplebroker"
)

// Sub-states this backend reports beside those of package tuplebroker.
const (
	SubHeld           = "backend-held"     // Pending: held in the queue (JobHeldUser, JobHeldAdmin)
	SubConfiguring    = "configuring"      // Pending: nodes allocated, being readied
	SubRequeued       = "requeued"         // Pending: put back in the queue
	SubCompleting     = "completing"       // Running: processes ending, epilogs running
	SubSuspended      = "suspended"        // Running: suspended or stopped
	SubKilledBySignal = "killed-by-signal" // Failed: the job ended on a signal
	SubNodeFail       = "node-fail"        // Failed: a node of the job failed
	SubBootFail       = "boot-fail"        // Failed: a node failed to boot
	SubOutOfMemory    = "out-of-memory"    // Failed: killed for exceeding its memory
	SubDeadline       = "deadline"         // Failed: its deadline passed
	SubPreempted      = "preempted"        // Failed: preempted and not requeued
	SubLaunchFailed   = "launch-failed"    // Failed: Slurm could not launch it
	SubUnknown        = "slurm-unknown"    // Pending: a state this backend does not know
)

// record is what Slurm says of one job, from squeue or a jobcomp line.
type record struct {
	id    string
	state string // JobState, e.g. "COMPLETED"
	// Exit: code and signal; hasExit is false when Slurm gave none.
	code, signal int
	hasExit      bool
	start, end   time.Time
	ran          bool // the job was allocated nodes (it started)
	reason       string
}

// timeLayout is how Slurm prints times with SLURM_TIME_FORMAT=standard.
const timeLayout = "2006-01-02T15:04:05"

// parseTime parses a Slurm time in loc; "", "N/A", "Unknown", "None" and
// malformed values are the zero time.
func parseTime(s string, loc *time.Location) time.Time {
	t, err := time.ParseInLocation(timeLayout, s, loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// squeueFormat is the --Format of the status query: one line per job,
// fields ended by "|", the free-form reason last.
const squeueFormat = "JobID:|,State:|,exit_code:|,StartTime:|,EndTime:|,NodeList:|,Reason:|"

// parseSqueue reads the output of squeue -h -O squeueFormat, printed in UTC.
// Lines that do not parse are skipped and counted.
func parseSqueue(out []byte) (recs []record, bad int) {
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.SplitN(line, "|", 7)
		if len(f) != 7 || !isJobID(f[0]) {
			bad++
			continue
		}
		r := record{
			id:     f[0],
			state:  baseState(f[1]),
			start:  parseTime(f[3], time.UTC),
			end:    parseTime(f[4], time.UTC),
			ran:    f[5] != "" && f[5] != "(null)",
			reason: strings.TrimSpace(strings.TrimSuffix(f[6], "|")),
		}
		if ws, err := strconv.Atoi(f[2]); err == nil && ws >= 0 {
			// squeue's exit_code is the raw wait status.
			r.hasExit = true
			if sig := ws & 0x7f; sig != 0 {
				r.signal = sig
			} else {
				r.code = (ws >> 8) & 0xff
			}
		}
		recs = append(recs, r)
	}
	return recs, bad
}

// parseExitPair parses Slurm's "N:S" exit code and signal.
func parseExitPair(s string) (code, signal int, ok bool) {
	c, sg, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	ci, err1 := strconv.Atoi(c)
	si, err2 := strconv.Atoi(sg)
	if err1 != nil || err2 != nil || ci < 0 || si < 0 {
		return 0, 0, false
	}
	return ci, si, true
}

// baseState strips what follows a state name ("CANCELLED by 0", flags).
func baseState(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " +"); i >= 0 {
		s = s[:i]
	}
	return strings.ToUpper(s)
}

// isJobID reports whether s is a plain numeric job id.
func isJobID(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// terminalStates are the job states Slurm never leaves.
var terminalStates = map[string]bool{
	"COMPLETED": true, "FAILED": true, "CANCELLED": true, "TIMEOUT": true, "NODE_FAIL": true,
	"BOOT_FAIL": true, "OUT_OF_MEMORY": true, "DEADLINE": true, "PREEMPTED": true, "REVOKED": true,
	"SPECIAL_EXIT": true,
}

// status maps a Slurm record to the BES state model. cancelledHere tells a
// job cancelled through this backend (user-cancelled) from one cancelled by
// someone else (backend-removed).
func (r record) status(cancelledHere bool) tuplebroker.Status {
	var st tuplebroker.Status
	reason := r.reason
	if reason == "None" || reason == "(null)" {
		reason = ""
	}
	exit := func() {
		if !r.hasExit || !r.ran {
			return
		}
		c := r.code
		if r.signal != 0 {
			c = 128 + r.signal
		}
		st.ExitCode = &c
	}
	how := func() string {
		switch {
		case !r.ran:
			return "never started"
		case !r.hasExit:
			return "exit status unknown"
		case r.signal != 0:
			return fmt.Sprintf("killed by signal %d", r.signal)
		default:
			return fmt.Sprintf("exit status %d", r.code)
		}
	}
	// explain joins a description with Slurm's reason code.
	explain := func(desc string) string {
		if reason == "" || strings.Contains(desc, reason) {
			return desc
		}
		if desc == "" {
			return reason
		}
		return desc + " (Slurm reason " + reason + ")"
	}

	switch r.state {
	case "PENDING":
		st.State, st.SubState, st.Reason = tuplebroker.Pending, tuplebroker.SubBackendQueued, reason
		if strings.HasPrefix(reason, "JobHeld") {
			st.SubState = SubHeld
		}
	case "REQUEUED", "REQUEUE_FED":
		st.State, st.SubState, st.Reason = tuplebroker.Pending, SubRequeued, reason
	case "REQUEUE_HOLD", "RESV_DEL_HOLD":
		st.State, st.SubState, st.Reason = tuplebroker.Pending, SubHeld, explain(strings.ToLower(r.state))
	case "CONFIGURING":
		st.State, st.SubState = tuplebroker.Pending, SubConfiguring
	case "RUNNING", "SIGNALING", "RESIZING":
		st.State, st.SubState = tuplebroker.Running, tuplebroker.SubExecuting
	case "STAGE_OUT":
		st.State, st.SubState = tuplebroker.Running, tuplebroker.SubStagingOut
	case "COMPLETING":
		st.State, st.SubState = tuplebroker.Running, SubCompleting
	case "SUSPENDED", "STOPPED":
		st.State, st.SubState, st.Reason = tuplebroker.Running, SubSuspended, reason
	case "COMPLETED":
		exit()
		if r.hasExit && r.code == 0 && r.signal == 0 {
			st.State = tuplebroker.Finished
			break
		}
		st.State, st.SubState, st.Reason = tuplebroker.Failed, tuplebroker.SubExitedNonzero, explain(how())
		if r.signal != 0 {
			st.SubState = SubKilledBySignal
		}
	case "FAILED", "SPECIAL_EXIT":
		exit()
		st.State, st.Reason = tuplebroker.Failed, explain(how())
		switch {
		case r.signal != 0:
			st.SubState = SubKilledBySignal
		case r.hasExit && r.code != 0:
			st.SubState = tuplebroker.SubExitedNonzero
		default:
			st.SubState = SubLaunchFailed
		}
	case "TIMEOUT":
		exit()
		st.State, st.SubState, st.Reason = tuplebroker.Failed, tuplebroker.SubWallTimeLimit, explain("wall time limit exceeded")
	case "NODE_FAIL":
		exit()
		st.State, st.SubState, st.Reason = tuplebroker.Failed, SubNodeFail, explain("a node of the job failed")
	case "BOOT_FAIL":
		st.State, st.SubState, st.Reason = tuplebroker.Failed, SubBootFail, explain("a node failed to boot")
	case "OUT_OF_MEMORY":
		exit()
		st.State, st.SubState, st.Reason = tuplebroker.Failed, SubOutOfMemory, explain("out of memory")
	case "DEADLINE":
		st.State, st.SubState, st.Reason = tuplebroker.Failed, SubDeadline, explain("deadline reached")
	case "PREEMPTED":
		exit()
		st.State, st.SubState, st.Reason = tuplebroker.Failed, SubPreempted, explain("preempted")
	case "CANCELLED":
		exit()
		if cancelledHere {
			st.State, st.SubState, st.Reason = tuplebroker.Cancelled, tuplebroker.SubUserCancelled, "cancelled on request"
		} else {
			st.State, st.SubState, st.Reason = tuplebroker.Cancelled, tuplebroker.SubBackendRemoved, explain("cancelled in Slurm")
		}
	case "REVOKED":
		st.State, st.SubState, st.Reason = tuplebroker.Cancelled, tuplebroker.SubBackendRemoved, explain("revoked (runs on another federation cluster)")
	default:
		// Not terminal as far as we know: keep polling.
		st.State, st.SubState, st.Reason = tuplebroker.Pending, SubUnknown, explain("Slurm state "+r.state)
	}
	if r.ran && st.State != tuplebroker.Pending {
		st.Started = r.start
	}
	if terminalStates[r.state] {
		st.Ended = r.end
	}
	return st
}
