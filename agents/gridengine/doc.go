// Package gridengine is the agents backend for a Grid Engine cell (tested
// with Debian 12's gridengine 8.1.9): it submits with qsub, follows jobs
// with one "qstat -xml" call per poll plus the cell's accounting file, and
// cancels with qdel. Commands run as argv (never through a shell) with only
// the SGE_* variables, TZ and PATH in their environment, each bounded by
// Config.CallTimeout.
//
// # Translation
//
// A job is named JobName(GUID) ("tb-" + GUID: Grid Engine refuses names
// starting with a digit). Its script is generated and submitted as a file
// with an empty "qsub -C" prefix, so no line of it is ever read as a "#$"
// directive; every job-supplied string (executable, arguments, environment
// values, paths) is single-quoted in it, environment names must be
// identifiers, and NUL bytes are rejected. The script changes to the WorkingDirectory, exports the
// Environment, redirects Input, Output and Error (qsub's own -o/-e are
// /dev/null: Grid Engine would expand variables in them), and execs the
// program. Resources become qsub options:
//
//	WallTimeLimit, CPUTimeLimit         -l h_rt=, h_cpu= (seconds)
//	VirtualMemoryLimit, MemoryLimit     -l h_vmem=, h_rss= (bytes)
//	FileSize/CoreDump/DataSegment/StackSizeLimit  -l h_fsize=, h_core=, h_data=, h_stack=
//	Total/IndividualPhysicalMemory      -l mem_free= (the larger)
//	Total/IndividualCPUCount, SPMD processes × threads  -pe <ParallelEnv> N
//	ExclusiveExecution                  -l <ExclusiveResource>=true
//	CandidateHosts                      -l h=a|b
//
// Other POSIX limits are ignored. Rejected (tuplebroker.ErrRejected) before
// qsub: by the agent core (agents.Admit), DataStaging, an ApplicationName
// without executable, a requirement (OS, architecture, ...) not in
// Capabilities; by Submit, exclusive execution without an ExclusiveResource, more than one CPU without a
// ParallelEnv, more than MaxSlots slots or MaxMemory bytes, more than one
// host, an SPMD variation without a launcher in Config.SPMD, another user or
// a group the broker's user is not in, undeclared file systems.
//
// # States
//
// Queue state letters map to Pending (qw: backend-queued, h: backend-held)
// and Running (r: executing, t: transferring, s/S/T: suspended; d adds
// "deleting"); E (error) is Failed/start-failed. Finished jobs map by their
// accounting record: exit status 0 is Finished; "failed" 37 or a kill after
// the requested h_rt is Failed/walltime-limit; another nonzero "failed" code
// is Failed/start-failed; a nonzero exit status is Failed/exited-nonzero with
// its code. Jobs this backend deleted (Cancel) end Cancelled/user-cancelled;
// a job that left the queue with no accounting record (deleted while
// pending by someone else) ends Cancelled/backend-removed after
// Config.AccountingLag. The record of a job deleted while running looks
// like a job killed by SIGKILL (exit status 137), so a deletion by another
// process or agent instance is reported Failed/exited-nonzero.
//
// The accounting file must be readable where the backend runs (it is what
// qacct reads); it is read incrementally, keeping only this backend's jobs
// for Config.Retain.
package gridengine
