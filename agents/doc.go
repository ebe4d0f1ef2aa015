// Package agents is the broker agent: one per backend, it takes the requests
// its backend can serve from the tuplespace at the rate its throttle allows,
// submits them, and writes their responses.
//
// An implementer's checklist (see backend.go):
//
//   - Must: Backend — Name, Capabilities, Submit. Submit names the backend
//     job after Job.GUID, never passes user text through a shell, and wraps
//     tuplebroker.ErrRefused for "try later" and tuplebroker.ErrRejected for "never here".
//   - May: Finder (look a job up by GUID; without it, exactly-once across an
//     agent crash between submit and commit is not guaranteed), Statuser
//     (batched status; without it jobs stay in their last known state),
//     Canceller (without it cancel is refused).
//
// Retries, throttling, transactions and lease renewal live in the agent
// core, written once; backends only translate and call.
//
// Backends: agents/local (child processes), agents/sim (a simulated
// resource broker for benchmarks and load-balancing tests).
package agents
