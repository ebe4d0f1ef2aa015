//go:build !linux

package local

import "os/exec"

// awaitExit waits for cmd's process and reaps it: without waitid(WNOWAIT)
// the group's leftovers are killed just after the reap.
func awaitExit(cmd *exec.Cmd) (reaped bool, err error) {
	return true, cmd.Wait()
}
