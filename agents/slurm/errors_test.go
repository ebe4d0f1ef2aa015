package slurm

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"tuplebroker"
)

// TestClassify checks the table on messages Slurm 22.05 commands print
// (most seen on this project's clusters or quoted from sites' reports).
func TestClassify(t *testing.T) {
	cases := []struct {
		msg  string
		want class
	}{
		// Refusals: slow down, try later or elsewhere.
		{"sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)", classRefused},
		{"slurm_load_jobs error: Unable to contact slurm controller (connect failure)", classRefused},
		{"scancel: error: Kill job error on job id 5: Unable to contact slurm controller (connect failure)", classRefused},
		{"sbatch: error: Batch job submission failed: Socket timed out on send/recv operation", classRefused},
		{"sbatch: error: Batch job submission failed: Zero Bytes were transmitted or received", classRefused},
		{"sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying", classRefused},
		{"sbatch: error: Batch job submission failed: Resource temporarily unavailable", classRefused},
		{"sbatch: error: Batch job submission failed: Submission rate too high", classRefused},
		{"sbatch: error: Batch job submission failed: Rate limit exceeded, please retry momentarily", classRefused},
		{"sbatch: error: AssocMaxSubmitJobLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)", classRefused},
		{"sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)", classRefused},
		{"sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)", classRefused},
		{"sbatch: error: Batch job submission failed: Slurm backup controller in standby mode", classRefused},
		{"sbatch: error: Batch job submission failed: Required partition not available (inactive or drain)", classRefused},
		// Rejections: never here.
		{"sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified", classRejected},
		{"sbatch: error: Batch job submission failed: Requested node configuration is not available", classRejected},
		{"sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job submission failed: Requested node configuration is not available", classRejected},
		{"sbatch: error: Batch job submission failed: More processors requested than permitted", classRejected},
		{"sbatch: error: Batch job submission failed: Node count specification invalid", classRejected},
		{"sbatch: error: Batch job submission failed: Invalid node name specified", classRejected},
		{"sbatch: error: Invalid generic resource (gres) specification", classRejected},
		{"sbatch: error: QOSMaxCpuPerJobLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)", classRejected},
		{"sbatch: error: AssocMaxWallDurationPerJobLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)", classRejected},
		{"sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified", classRejected},
		{"sbatch: error: Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)", classRejected},
		{"sbatch: error: Batch script contains DOS line breaks (\\r\\n)", classRejected},
		// Neither: a failed attempt.
		{"sbatch: error: Slurm internal error, contact system administrator", classOther},
		{"", classOther},
	}
	for _, tc := range cases {
		if got := classify(tc.msg); got != tc.want {
			t.Errorf("classify(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

func TestWrapCmd(t *testing.T) {
	exitErr := func() error {
		err := exec.Command("false").Run()
		if err == nil {
			t.Fatal("false succeeded")
		}
		return err
	}()
	refused := wrapCmd("sbatch g", &cmdError{cmd: "sbatch", stderr: "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation", err: exitErr})
	if !errors.Is(refused, tuplebroker.ErrRefused) || errors.Is(refused, tuplebroker.ErrRejected) {
		t.Errorf("socket timeout: %v", refused)
	}
	if !strings.Contains(refused.Error(), "Socket timed out") {
		t.Errorf("message lost: %v", refused)
	}
	rejected := wrapCmd("sbatch g", &cmdError{cmd: "sbatch", stderr: "sbatch: error: Batch job submission failed: Invalid partition name specified", err: exitErr})
	if !errors.Is(rejected, tuplebroker.ErrRejected) || !strings.Contains(rejected.Error(), "Invalid partition name specified") {
		t.Errorf("invalid partition: %v", rejected)
	}
	// Killed after CallTimeout without a word: refused (the job may exist;
	// Find adopts it on the retry).
	timedOut := wrapCmd("sbatch g", &cmdError{cmd: "sbatch", err: fmt.Errorf("%w after 2s", errTimeout)})
	if !errors.Is(timedOut, tuplebroker.ErrRefused) {
		t.Errorf("timeout: %v", timedOut)
	}
	other := wrapCmd("sbatch g", &cmdError{cmd: "sbatch", stderr: "sbatch: error: something new", err: exitErr})
	if errors.Is(other, tuplebroker.ErrRefused) || errors.Is(other, tuplebroker.ErrRejected) {
		t.Errorf("unknown message classified: %v", other)
	}
}
