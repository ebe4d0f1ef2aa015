package gridengine

import (
	"fmt"
	"strings"
	"tuplebroker"
)

// refusals are fragments of Grid Engine messages meaning "not now": the
// qmaster cannot be reached or is busy, or a submission limit is reached.
// The job may run here later, or elsewhere now. They are checked before
// rejections (a limit message also says "job rejected").
var refusals = []string{
	"unable to contact qmaster",
	"unable to send message to qmaster",
	"commlib error",
	"got select error",
	"connection refused",
	"can't connect",
	"connect error",
	"timed out",
	"timeout",
	"failed receiving gdi request",
	"qmaster is shutting down",
	"jobs are allowed per user",    // max_u_jobs
	"jobs are allowed per cluster", // max_jobs
	"is no submit host",            // this backend's host is misconfigured: not the job's fault
	"resource temporarily unavailable",
}

// rejections are fragments of Grid Engine messages meaning "never here":
// the request names something the cell does not have or cannot parse.
var rejections = []string{
	"unknown queue",
	"unknown resource",
	"no suitable queues",
	"parallel environment",
	"can't resolve hostname",
	"is not a valid object name",
	"is not a time value",
	"is not a memory value",
	"is not a valid",
	"pe range",
	"invalid option argument",
	"unknown option",
	"job rejected",
	"denied: the requested",
}

// classify turns a failed Grid Engine command into an error wrapping
// tuplebroker.ErrRefused or tuplebroker.ErrRejected when its message says which, or
// a plain error otherwise. msg is the command's combined output.
func classify(cmd string, msg string, err error) error {
	text := strings.Join(strings.Fields(msg), " ")
	if text == "" {
		text = err.Error()
	}
	lower := strings.ToLower(text)
	for _, f := range refusals {
		if strings.Contains(lower, f) {
			return fmt.Errorf("gridengine: %s: %w: %s", cmd, tuplebroker.ErrRefused, text)
		}
	}
	for _, f := range rejections {
		if strings.Contains(lower, f) {
			return fmt.Errorf("gridengine: %s: %w: %s", cmd, tuplebroker.ErrRejected, text)
		}
	}
	return fmt.Errorf("gridengine: %s: %s: %w", cmd, text, err)
}
