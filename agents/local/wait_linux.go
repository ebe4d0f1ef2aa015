//go:build linux

package local

import (
	"os/exec"
	"syscall"
	"unsafe"
)

// awaitExit waits until cmd's process has exited without reaping it
// (waitid with WNOWAIT), so that the zombie keeps its process group id
// reserved while the caller kills what the job left in the group. It never
// reaps: the caller then calls cmd.Wait.
func awaitExit(cmd *exec.Cmd) (reaped bool, err error) {
	const pPID = 1         // idtype_t P_PID
	var siginfo [16]uint64 // siginfo_t is 128 bytes
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(cmd.Process.Pid),
			uintptr(unsafe.Pointer(&siginfo)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch e {
		case 0:
			return false, nil
		case syscall.EINTR:
			continue
		default:
			return false, e // cmd.Wait will report the real state
		}
	}
}
