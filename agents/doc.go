// Package agents is the broker agent: one per backend, it takes the requests
// its backend can serve from the tuplespace at the rate its throttle allows,
// admits them, submits them, and writes their responses.
//
// An implementer's checklist (see backend.go):
//
//   - Must: Backend — Name, Capabilities, Submit. Submit names the backend
//     job after Job.GUID, never passes user text through a shell, and wraps
//     tuplebroker.ErrRefused for "try later" and tuplebroker.ErrRejected for
//     "never here".
//   - Must not repeat what the core checks: Admit runs before every Submit
//     and rejects a job without an executable (unless the backend offers
//     "application=<ApplicationName>"), with DataStaging (unless it offers a
//     "datastaging=" label), or with a requirement that is not one of
//     Capabilities. Submit takes the application from
//     jsdl.JobDefinition.Program, translates, and rejects only what this
//     backend alone can tell (its configuration, its hosts, its user).
//   - Constructor: New(ctx context.Context, cfg Config) (*Backend, error),
//     Config carrying Name, zero fields taking DefaultConfig's values.
//   - May: Finder (look a job up by GUID; without it, exactly-once across an
//     agent crash between submit and commit is not guaranteed), Statuser
//     (batched status; without it jobs stay in their last known state),
//     Loader (free slots now; without it the agent takes requests at its
//     throttle's rate and the backend refuses what it cannot start),
//     Canceller (without it cancel is refused), Closer (release processes or
//     files when the agent stops; without it there is nothing to release).
//
// Retries, throttling, transactions, lease renewal and admission live in
// the agent core, written once; backends only translate and call.
//
// Backends: agents/local (child processes; Finder, Statuser, Loader,
// Canceller, Closer), agents/slurm (a Slurm cluster through sbatch, squeue,
// scancel and sinfo; Finder, Statuser, Canceller), agents/gridengine (a Grid
// Engine cell through qsub, qstat, qdel and its accounting file; Finder,
// Statuser, Canceller, Closer), agents/sim (a simulated resource broker for
// benchmarks and load-balancing tests; all of them).
package agents
