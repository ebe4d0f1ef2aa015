package agents

import (
	"context"

	"tuplebroker"
	"tuplebroker/jsdl"
)

// Job is what an agent hands its backend: one job, already parsed and
// validated, named by its GUID.
type Job struct {
	GUID       string
	UID        string
	Definition *jsdl.JobDefinition
	// Attempt counts earlier submissions of this job that were refused or
	// failed (0 on the first).
	Attempt int
}

// Backend is what every backend must implement: say what it offers, and
// submit. Everything else is optional (see Finder, Statuser, Loader,
// Canceller, Closer). The agent core has admitted every job it submits
// (Admit): Submit translates and hands over, and rejects only what this
// backend alone can tell it cannot run.
//
// A backend package is built by one constructor of one shape,
//
//	func New(ctx context.Context, cfg Config) (*Backend, error)
//
// where Config has Name (Backend.Name) and zero fields take the values of
// DefaultConfig(); ctx bounds whatever New waits for.
type Backend interface {
	// Name identifies the backend instance (e.g. "slurm-a").
	Name() string
	// Capabilities returns the "name=value" labels this backend offers,
	// matched against jsdl.JobDefinition.Requirements().
	Capabilities() []string
	// Submit hands the job to the backend and returns the backend's job id.
	// Errors wrap tuplebroker.ErrRefused (the backend is busy or unreachable: slow down,
	// retry later, anywhere) or tuplebroker.ErrRejected (this job can never run here);
	// any other error counts as a failed attempt.
	Submit(ctx context.Context, job Job) (backendJobID string, err error)
}

// Finder is implemented by backends that can find a job by the GUID it was
// submitted under. The agent core calls it before submitting, so an agent
// that died between the backend accepting a job and its commit adopts the
// job on retry instead of submitting it twice.
type Finder interface {
	Find(ctx context.Context, guid string) (backendJobID string, found bool, err error)
}

// Statuser is implemented by backends that report job states. Status takes
// every job of one poll at once; backends answer with as few calls to the
// scheduler as they can. Ids the backend no longer knows are absent from
// the result.
type Statuser interface {
	Status(ctx context.Context, backendJobIDs []string) (map[string]tuplebroker.Status, error)
}

// Loader is implemented by backends that know how many more jobs they can
// take now (a local machine's free slots). The agent takes no request while
// Free reports 0, leaving it queued in the space for any agent, rather than
// taking it only to be refused.
type Loader interface {
	Free() int
}

// Canceller is implemented by backends that can cancel a job.
type Canceller interface {
	Cancel(ctx context.Context, backendJobID string) error
}

// Closer is implemented by backends that hold something to release when
// their agent stops (child processes, a spool directory). Whoever built the
// backend closes it once its agent's Run has returned; ctx bounds the wait
// (a backend whose jobs must end first gives up, or kills them, when ctx
// ends). Without it there is nothing to release.
type Closer interface {
	Close(ctx context.Context) error
}
