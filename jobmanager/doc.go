// Package jobmanager is tuplebroker's manager node: it hosts one JobManager
// per job, answers for the job (state, cancel, events) and keeps the job's
// Response published under its handle, so that factories can route any
// job's URL to the node that hosts it.
//
// # Hosting
//
// Agents write a job's Response unpublished. Hosting workers (Config.Takers)
// take unpublished Responses inside a transaction — a blocking take that
// wakes on writes, up to Config.Batch Responses when many wait — write each
// back published with Manager = the node's handle, and commit. Each one is
// admitted first by the node's strategies.Admission, so a node hosts no
// more than its admission allows; the rest wait for another node. A
// Response that ended before reaching a backend (Failure set, or
// Cancelled) is hosted as a terminal job.
//
// # State
//
// State lives in the backends. Every Config.PollInterval the node asks each
// agent, in ONE bus call, for the states of all its hosted jobs that have
// not ended (Backends.AgentStatus) and maps them onto the jobs' OGSA-BES
// states; every change is published (Events.PublishEvent). A backend that
// no longer knows a job for Config.MissingPolls polls in a row ends it
// Failed; an agent that does not answer leaves the state as it is until the
// next poll. Cancel asks the job's agent to cancel it, marks the job
// "cancel-requested" and polls that agent at once.
//
// # Lifetime
//
// A JobManager lives on Config.Lifetime after its job ended; then the
// node takes the job's Response out of the space and forgets the job
// (retire.go).
//
// # Failover
//
// A node announces a heartbeat at "node.<handle>" in the space's names
// every Config.HostLease/3. A node whose heartbeat is missing or older than
// HostLease (by the names server's clock) is dead: every
// Config.TakeoverEvery the others look for published Responses naming a
// dead node and take each one over in a transaction (the Response is
// rewritten naming the new node), within their admission. A node that finds
// one of its jobs' Responses naming another node drops the job. A node that
// stops leaves its Responses in place; restarted under the same handle it
// hosts them again at once, and if it stays away, others take over once
// its heartbeat has aged.
package jobmanager
