package tuplebroker

import (
	"errors"
	"time"
)

// Status is a job's state as its backend reports it. Agents read it from
// their backends, the bus carries it to manager nodes, and manager nodes
// advance the job's view from it (jobmanager/advance.go).
type Status struct {
	State    JobState
	SubState string
	// ExitCode is set once the job has exited.
	ExitCode *int
	// Reason explains a Failed or Cancelled state (the scheduler's words).
	Reason  string
	Started time.Time
	Ended   time.Time
}

// Errors a backend wraps so the agent core can tell refusal from failure;
// the bus carries them between processes.
var (
	// ErrRefused: the backend cannot take the job now (busy, rate limit,
	// unreachable). The job goes back to the space and the throttle slows.
	ErrRefused = errors.New("backend refused the submission")
	// ErrRejected: the job can never run on this backend; it ends Failed
	// with the backend's message.
	ErrRejected = errors.New("backend rejected the job")
	// ErrUnknownJob: the backend does not know this job id.
	ErrUnknownJob = errors.New("backend does not know the job")
)

// Advert is what an agent announces in the space's names, at AdvertName:
// what it can serve (for the factories' matchmaking) and where to reach it.
type Advert struct {
	Agent        string   `json:"agent"`
	Backend      string   `json:"backend"`
	Capabilities []string `json:"capabilities"`
	Address      string   `json:"address,omitempty"`
	Workers      int      `json:"workers"`
	Couriers     int      `json:"couriers,omitempty"`
	// Seen is when the names server last stored the advert (not encoded:
	// the directory tells).
	Seen time.Time `json:"-"`
}

// AdvertPrefix is the names prefix of agent adverts: "agent.<name>".
const AdvertPrefix = "agent"

// AdvertName is the name an agent advertises under.
func AdvertName(agent string) string { return AdvertPrefix + "." + agent }
