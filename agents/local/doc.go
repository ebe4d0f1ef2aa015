// Package local is the agents.Backend that runs a JSDL job as a child
// process of the broker, on this machine.
//
// # Running a job
//
// Submit starts the POSIX (or HPC Profile) application at once or not at
// all: there is no queue, so a job is never Pending here. The executable and
// its arguments are passed to execve as an argv vector and the environment as
// an envp vector, byte for byte as the JSDL document gave them; nothing is
// ever interpreted by a shell, so "$(...)", backticks, ";", quotes, newlines
// or "#SBATCH" lines in arguments, environment values or file names are
// plain data.
//
//   - Executable: an absolute path; a relative path containing a slash
//     (resolved against the working directory); or a bare name, looked up in
//     the job's PATH (the JSDL Environment's PATH if it sets one, else the
//     base PATH). argv[0] is the executable exactly as written.
//   - Environment: a minimal base, PATH=/usr/local/bin:/usr/bin:/bin and
//     HOME=<the broker user's home>, then the JSDL Environment entries,
//     which override the base. Nothing of the broker's own environment leaks
//     into jobs.
//   - Working directory: WorkingDirectory, relative paths resolved against
//     Config.Root; Config.Root when absent. It must exist.
//   - Standard streams: Input (must be an existing regular file or device;
//     /dev/null when absent), Output and Error (created with mode 0600 and
//     truncated; /dev/null when absent). Relative paths resolve against the
//     working directory. When Error names the same file as Output, both
//     streams share one file description, so their lines interleave in
//     order.
//   - filesystemName attributes (on Executable, Argument, Input, Output,
//     Error, WorkingDirectory and Environment) are honoured by prefixing
//     relative values with the MountPoint of the named jsdl:FileSystem; a
//     reference to an undeclared file system or one without a MountPoint is
//     rejected.
//   - WallTimeLimit: when it runs out, the job is terminated (see below) and
//     ends Failed/walltime-limit. The other POSIX limits (CPU time, memory,
//     file size, ...) are not enforced.
//   - ExclusiveExecution=true: the job is started only when no other job of
//     this backend runs, and no other job is started while it runs (Submit
//     returns ErrRefused meanwhile).
//
// Each job runs in its own process group. Terminating a job (Cancel, wall
// time limit, Close) sends SIGTERM and SIGCONT to the whole group, then
// SIGKILL after Config.KillGrace. When the job's main process exits, any
// process it left behind in its group is killed with SIGKILL: a job's
// processes do not outlive it.
//
// # Rejections
//
// The agent core rejects before Submit (agents.Admit) a job without an
// executable, with DataStaging (nothing is staged), or with a requirement
// (OperatingSystem, CPUArchitecture, ...) not among Capabilities. Submit
// wraps tuplebroker.ErrRejected, with a message saying why, for the other
// jobs this backend can never run: SPMD (parallel) applications; CandidateHosts not
// naming this host; a UserName or GroupName other than the broker's user and
// its groups; an executable that does not exist or is not executable; a
// missing working directory or Input file; an Output or Error file that
// cannot be created. It wraps tuplebroker.ErrRefused when all Config.Slots are in
// use, during an exclusive job, and after Close. Other start failures are
// plain errors (a failed attempt).
//
// # States
//
// A job is Running/executing from Submit until its main process has exited
// and been reaped, then Finished (exit status 0), Failed/exited-nonzero
// (Reason "exit status N" or "killed by signal SIGxxx"; ExitCode is N, or
// 128+signal number), Failed/walltime-limit, Cancelled/user-cancelled
// (Cancel) or Cancelled/backend-removed (Close). Ended jobs are remembered
// for Config.Retain, then forgotten (Status leaves them out, Find no longer
// finds them).
//
// Jobs are kept in memory only: after a broker restart, jobs started by the
// previous process are unknown (and not killed).
package local
