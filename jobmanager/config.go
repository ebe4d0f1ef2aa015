package jobmanager

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"tuplebroker/bus"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// ErrInvalidConfig: a Config failed Validate. The message names the field
// and the rule it broke.
var ErrInvalidConfig = errors.New("jobmanager: invalid configuration")

// Config configures a manager node. Start from DefaultConfig.
type Config struct {
	// Handle names the node: it is written into the Responses the node
	// hosts, its heartbeat is "node.<Handle>" and the bus serves it under
	// this name. It must pass bus.CheckName.
	Handle string
	// Admission decides whether the node hosts one more job.
	Admission strategies.Admission
	// PollInterval is how often the node asks each agent, in one call per
	// agent, for the states of the hosted jobs that have not ended.
	PollInterval time.Duration
	// Lifetime is how long a JobManager lives after its job ended; then the
	// job's Response is retired (taken out of the space) and the job is
	// forgotten.
	Lifetime time.Duration
	// HostLease is how long a node's heartbeat stays valid: a node whose
	// heartbeat is missing or older is dead, and other nodes take over its
	// jobs. The node announces its heartbeat every HostLease/3.
	HostLease time.Duration
	// TakeoverEvery is how often the node looks for jobs of dead nodes.
	TakeoverEvery time.Duration
	// MissingPolls: a job its backend has not known for this many polls in
	// a row ends Failed.
	MissingPolls int
	// Takers is how many hosting workers take unpublished Responses at
	// once.
	Takers int
	// TxnLease is the lease of each hosting or takeover transaction.
	TxnLease time.Duration
	// Batch is the most Responses one hosting transaction takes when many
	// are waiting (one begin and one commit for all of them).
	Batch  int
	Logger *slog.Logger
}

// DefaultConfig returns the defaults. Handle and Admission have none.
func DefaultConfig() Config {
	return Config{
		PollInterval:  time.Second,
		Lifetime:      time.Hour,
		HostLease:     10 * time.Second,
		TakeoverEvery: 2 * time.Second,
		MissingPolls:  3,
		Takers:        4,
		TxnLease:      10 * time.Second,
		Batch:         16,
		Logger:        slog.Default(),
	}
}

// Validate reports the first problem as an error wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	if err := bus.CheckName(c.Handle); err != nil {
		return fmt.Errorf("%w: handle: %w", ErrInvalidConfig, err)
	}
	switch {
	case c.Admission == nil:
		return invalid("admission strategy is nil")
	case c.PollInterval < 10*time.Millisecond:
		return invalid("poll interval %v below 10ms", c.PollInterval)
	case c.Lifetime <= 0:
		return invalid("lifetime %v must be positive", c.Lifetime)
	case c.HostLease < time.Second:
		return invalid("host lease %v below 1s (heartbeats are written every third of it)", c.HostLease)
	case c.TakeoverEvery < 10*time.Millisecond:
		return invalid("takeover interval %v below 10ms", c.TakeoverEvery)
	case c.MissingPolls < 1:
		return invalid("missing polls %d < 1", c.MissingPolls)
	case c.Takers < 1:
		return invalid("takers %d < 1", c.Takers)
	case c.TxnLease < space.MinTxnLease:
		return invalid("transaction lease %v below %v", c.TxnLease, space.MinTxnLease)
	case c.Batch < 1 || c.Batch > 256:
		return invalid("batch %d not in 1..256", c.Batch)
	case c.Logger == nil:
		return invalid("nil logger")
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
