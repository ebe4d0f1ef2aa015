// Package slurm is the agents.Backend for a Slurm cluster, driven through
// its command-line tools (sbatch, squeue, scancel, sinfo) with
// exec.CommandContext: an argv vector, never a shell, a per-call timeout
// (Config.CallTimeout), bounded output, and an environment holding only
// SLURM_CONF, TZ=UTC, SLURM_TIME_FORMAT=standard and a fixed PATH (sbatch:
// the jobs' base environment, below).
//
// # Submitting
//
// Submit runs "sbatch --parsable --job-name=<GUID> ..." with every option
// as its own argument and the batch script on stdin (or as a file in
// Config.Spool). The job's name is its GUID, which is how Find recognises
// it after an agent crash (exactly once). The translation of JSDL:
//
//   - Executable and Argument: the script's last line, exec -- 'exe' 'arg'
//     ..., each a single-quoted literal; bash looks a bare name up in PATH.
//   - Environment: a minimal base given to sbatch with --export=ALL
//     (PATH=/usr/local/bin:/usr/bin:/bin, HOME, USER, LOGNAME, SLURM_CONF;
//     nothing of the broker's own environment), or with
//     Config.LoginEnvironment the user's login environment on the node
//     (--export=NONE); then one "unset -v NAME; export NAME='value'" line
//     per variable. Names must be identifiers; bash's read-only variables
//     (UID, EUID, PPID, SHELLOPTS, BASHOPTS, BASH_VERSINFO) are rejected.
//   - WorkingDirectory: the script's cd (relative paths resolve against
//     Config.Root, the default); sbatch itself gets --chdir=Config.Root, so
//     no user text reaches Slurm's records.
//   - Input, Output, Error: redirections in the script, relative to the
//     working directory (no %-patterns are expanded); Slurm's own streams
//     are /dev/null. Error naming the Output file shares it (2>&1).
//   - WallTimeLimit: --time in minutes, rounded up (Slurm's resolution;
//     0 becomes 1 minute, never "unlimited").
//   - TotalCPUCount, IndividualCPUCount: one task with --cpus-per-task of
//     the larger. SPMD: --ntasks (NumberOfProcesses), --cpus-per-task
//     (ThreadsPerProcess), --ntasks-per-node (ProcessesPerHost), and the
//     program launched with srun; only for SPMDVariations listed as "spmd="
//     capabilities. TotalResourceCount: --nodes.
//   - IndividualPhysicalMemory, TotalPhysicalMemory (divided over the
//     nodes): --mem in MiB, rounded up. IndividualDiskSpace: --tmp.
//   - ExclusiveExecution true: --exclusive.
//   - CandidateHosts ("any of these", by node or host name): --nodelist for
//     one node, else --exclude of the partition's other nodes (sinfo, cached
//     for a minute); none of them in the partition → rejected.
//   - filesystemName attributes resolve against the FileSystem's
//     MountPoint. UserName and GroupName must be the broker's own.
//   - Rejected (tuplebroker.ErrRejected) before sbatch runs: by the agent
//     core (agents.Admit), DataStaging, a requirement (os=, arch=,
//     exclusive=, spmd=, ...) not in Config.Capabilities, an ApplicationName
//     without executable; by Submit, unsatisfiable ranges. Ignored:
//     the other POSIX limits (CPU time, file size, ...), CPU speed,
//     bandwidth, virtual memory, OperatingSystemVersion.
//
// The script's first line after the shebang is a command, so sbatch reads
// no #SBATCH directive from it whatever the job contains; carriage returns
// are written as $'\r' because sbatch refuses DOS line breaks. Options
// from the operator (Config.ExtraArgs: --account, --qos, ...) come before
// the backend's own.
//
// # Status, lookup, cancel
//
// Status asks one "squeue --states=all --jobs=<id,id,...>" for every id of
// the poll (split only beyond 64 KiB of ids), and reads the cluster's
// jobcomp/filetxt file (Config.JobComp) for ids squeue has forgotten
// (MinJobAge); it never runs one command per job. Find runs
// "squeue --states=all --name=<GUID>", then the jobcomp file. Cancel runs
// scancel. States map to the BES model: PENDING → Pending (backend-queued,
// or backend-held when held), CONFIGURING and REQUEUED → Pending, RUNNING
// and COMPLETING → Running, COMPLETED with exit 0 → Finished, COMPLETED
// nonzero, FAILED, NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE,
// PREEMPTED → Failed with a sub-state, TIMEOUT → Failed/walltime-limit,
// CANCELLED → Cancelled (user-cancelled when cancelled through this
// backend, backend-removed otherwise). Exit codes come from the wait
// status; a signal s reads as 128+s.
//
// # Errors
//
// Slurm reports failures only as text; a table of Slurm 22.05's messages
// classifies them: an unreachable or slow slurmctld, rate limits and
// submit-count limits (AssocMaxSubmitJobLimit, QOSMaxSubmitJobPerUserLimit,
// ...) wrap tuplebroker.ErrRefused, as does a command killed after CallTimeout;
// an invalid partition, "Requested node configuration is not available",
// too many CPUs or nodes, size and time limits of associations and QOSes
// wrap tuplebroker.ErrRejected.
package slurm
