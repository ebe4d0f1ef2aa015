package factory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/space"
)

// jobID returns the {id} path value if it is a job id (a canonical,
// lower-case UUID), else a not-found problem.
func jobID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if len(id) != 36 {
		return "", newProblem(kindNotFound, "no job with this id")
	}
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return "", newProblem(kindNotFound, "no job with this id")
	}
	return id, nil
}

// tuples is what the space holds about one job.
type tuples struct {
	published, unpublished *tuplebroker.Response
	request                *tuplebroker.Request
	claimed                bool // the request is held by an agent's transaction
	claimedUntil           time.Time
}

func (t tuples) empty() bool { return t.published == nil && t.unpublished == nil && t.request == nil }

// owner is the job's UID as its tuples say.
func (t tuples) owner() string {
	switch {
	case t.published != nil:
		return t.published.UID
	case t.unpublished != nil:
		return t.unpublished.UID
	case t.request != nil:
		return t.request.UID
	}
	return ""
}

// lookup reads the job's tuples from the space, claimed ones included.
func (f *Factory) lookup(guid string) tuples {
	var t tuples
	for _, e := range f.sp.Entries(tuplebroker.ResponseTemplate{GUID: guid}) {
		if r, ok := e.Tuple.(*tuplebroker.Response); ok {
			if r.Published {
				t.published = r
			} else {
				t.unpublished = r
			}
		}
	}
	for _, e := range f.sp.Entries(tuplebroker.RequestTemplate{GUID: guid}) {
		if r, ok := e.Tuple.(*tuplebroker.Request); ok {
			t.request, t.claimed, t.claimedUntil = r, e.ClaimedBy != "", e.ClaimedUntil
		}
	}
	return t
}

// view is one job as uid may see it.
type view struct {
	job    tuplebroker.Job
	hosted *tuplebroker.Response // the published response, if a manager node hosts the job
}

// current returns the job's state: from its hosting manager node if there
// is one (or its response, if that node does not answer), else from its
// tuples. A job of another owner is ErrNotFound.
func (f *Factory) current(ctx context.Context, uid, guid string) (view, error) {
	t := f.lookup(guid)
	if t.empty() || t.owner() != uid {
		return view{}, fmt.Errorf("job %s: %w", guid, tuplebroker.ErrNotFound)
	}
	switch {
	case t.published != nil:
		j, err := f.managerJob(ctx, t.published, uid)
		return view{job: j, hosted: t.published}, err
	case t.unpublished != nil:
		return view{job: tuplebroker.JobFromResponse(t.unpublished)}, nil
	}
	j := tuplebroker.JobFromRequest(t.request, t.claimed)
	facts := pendingFacts{Claimed: t.claimed, ClaimedUntil: t.claimedUntil,
		Requirements: t.request.Requirements, Now: time.Now()}
	facts.Queue, facts.Queued = f.sp.Queue(guid)
	if ads, err := f.names.Adverts(ctx); err == nil {
		facts.Adverts = ads
		j.Waiting = whyPending(facts)
	}
	return view{job: j}, nil
}

// managerJob asks the manager node hosting a job for it; if the node does
// not answer, the response tells what it can.
func (f *Factory) managerJob(ctx context.Context, resp *tuplebroker.Response, uid string) (tuplebroker.Job, error) {
	j, err := f.mgr.ManagerJob(ctx, resp.Manager, uid, resp.GUID)
	if err == nil {
		return j, nil
	}
	if ctx.Err() != nil {
		return tuplebroker.Job{}, ctx.Err()
	}
	if !errors.Is(err, tuplebroker.ErrUnavailable) {
		f.cfg.Logger.Warn("factory: manager node answered with an error", "manager", resp.Manager, "guid", resp.GUID, "err", err)
	}
	return tuplebroker.JobFromResponse(resp), nil
}

// findGrace is how long a job not in the mirror is looked for again before
// it is reported unknown: another factory's 201 may be a few milliseconds
// ahead of this factory's view of the space.
const findGrace = 300 * time.Millisecond

// find is current, looking again for findGrace before ErrNotFound.
func (f *Factory) find(ctx context.Context, uid, guid string) (view, error) {
	deadline := time.Now().Add(findGrace)
	for {
		v, err := f.current(ctx, uid, guid)
		if !errors.Is(err, tuplebroker.ErrNotFound) || time.Now().After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return view{}, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// get answers GET /v1/jobs/{id}.
func (f *Factory) get(w http.ResponseWriter, r *http.Request, uid string) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	v, err := f.find(r.Context(), uid, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v.job)
	return nil
}

// List limits.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// jobList is the body of GET /v1/jobs.
type jobList struct {
	Jobs []tuplebroker.Job `json:"jobs"`
}

// parseState accepts a job state name in any case.
func parseState(s string) (tuplebroker.JobState, bool) {
	for _, st := range []tuplebroker.JobState{tuplebroker.Pending, tuplebroker.Running, tuplebroker.Finished, tuplebroker.Failed, tuplebroker.Cancelled} {
		if strings.EqualFold(s, string(st)) {
			return st, true
		}
	}
	return "", false
}

// list answers GET /v1/jobs: the caller's jobs, newest first.
func (f *Factory) list(w http.ResponseWriter, r *http.Request, uid string) error {
	q := r.URL.Query()
	var state tuplebroker.JobState
	if vs, ok := q["state"]; ok {
		st, valid := parseState(vs[0])
		if len(vs) != 1 || !valid {
			return newProblem(kindBadQuery, "state must be one of Pending, Running, Finished, Failed, Cancelled")
		}
		state = st
	}
	limit := defaultListLimit
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if len(vs) != 1 || err != nil || n < 1 {
			return newProblem(kindBadQuery, "limit must be a positive integer (at most %d)", maxListLimit)
		}
		limit = min(n, maxListLimit)
	}

	jobs := map[string]tuplebroker.Job{}
	for _, e := range f.sp.Entries(tuplebroker.RequestTemplate{UID: uid}) {
		if req, ok := e.Tuple.(*tuplebroker.Request); ok {
			jobs[req.GUID] = tuplebroker.JobFromRequest(req, e.ClaimedBy != "")
		}
	}
	hosted := map[string][]*tuplebroker.Response{} // by manager
	for _, e := range f.sp.Entries(tuplebroker.ResponseTemplate{UID: uid}) {
		resp, ok := e.Tuple.(*tuplebroker.Response)
		if !ok {
			continue
		}
		if resp.Published {
			hosted[resp.Manager] = append(hosted[resp.Manager], resp)
		} else {
			jobs[resp.GUID] = tuplebroker.JobFromResponse(resp) // over its request, if both are seen
		}
	}
	for mgr, resps := range hosted {
		guids := make([]string, len(resps))
		for i, resp := range resps {
			guids[i] = resp.GUID
			jobs[resp.GUID] = tuplebroker.JobFromResponse(resp)
		}
		js, err := f.mgr.ManagerJobs(r.Context(), mgr, uid, guids)
		if err != nil {
			if r.Context().Err() != nil {
				return r.Context().Err()
			}
			f.cfg.Logger.Warn("factory: list: manager node did not answer", "manager", mgr, "err", err)
			continue
		}
		for _, j := range js {
			if j.Owner == uid && slices.Contains(guids, j.ID) {
				jobs[j.ID] = j
			}
		}
	}

	out := jobList{Jobs: make([]tuplebroker.Job, 0, len(jobs))}
	for _, j := range jobs {
		if state == "" || j.State == state {
			out.Jobs = append(out.Jobs, j)
		}
	}
	slices.SortFunc(out.Jobs, func(a, b tuplebroker.Job) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(out.Jobs) > limit {
		out.Jobs = out.Jobs[:limit]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// cancelJob answers DELETE /v1/jobs/{id}. A job still queued in the space
// is taken out of it and ends Cancelled at once (a Response records it, for
// a manager node to host); a job an agent is submitting is waited for; a
// hosted job is cancelled by its manager node.
func (f *Factory) cancelJob(w http.ResponseWriter, r *http.Request, uid string) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := f.find(ctx, uid, id); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, f.cfg.CancelWait)
	defer cancel()
	var changes <-chan tuplebroker.Tuple // responses written, once waiting
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		t := f.lookup(id)
		if t.empty() || t.owner() != uid {
			return fmt.Errorf("cancel %s: %w", id, tuplebroker.ErrNotFound)
		}
		switch {
		case t.published != nil:
			j, err := f.mgr.ManagerCancel(ctx, t.published.Manager, uid, id)
			if err != nil {
				return fmt.Errorf("cancel %s: %w", id, err)
			}
			writeJSON(w, http.StatusOK, j)
			return nil
		case t.unpublished != nil:
			if tuplebroker.JobFromResponse(t.unpublished).State.Terminal() {
				return newProblem(kindConflict, "the job has ended already")
			}
			// At a backend, not yet hosted: wait for the manager node.
		case !t.claimed:
			resp, err := f.withdraw(ctx, t.request)
			if err == nil {
				writeJSON(w, http.StatusOK, tuplebroker.JobFromResponse(resp))
				return nil
			}
			if !errors.Is(err, space.ErrNoMatch) {
				return fmt.Errorf("cancel %s: %w", id, err)
			}
			// An agent took it first: look again.
			continue
		}
		if changes == nil {
			// Wake on the job's responses; a request put back by an
			// aborted submission is seen by the ticker.
			if changes, err = f.sp.Notify(wctx, tuplebroker.ResponseTemplate{GUID: id}); err != nil {
				return fmt.Errorf("cancel %s: %w", id, err)
			}
			continue // look once more: the response may predate the subscription
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wctx.Done():
			return &problem{kind: kindUnavailable, retryAfter: time.Second,
				detail: "an agent is still submitting the job; retry the cancel"}
		case _, ok := <-changes:
			if !ok {
				changes = make(chan tuplebroker.Tuple) // ended with wctx: never ready again
			}
		case <-tick.C:
		}
	}
}

// withdraw takes a queued request out of the space and records the job as
// cancelled, in one transaction. It returns space.ErrNoMatch if an agent
// took the request first.
func (f *Factory) withdraw(ctx context.Context, req *tuplebroker.Request) (*tuplebroker.Response, error) {
	ctx = context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tx, err := f.sp.Begin(ctx, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("withdraw %s: %w", req.GUID, err)
	}
	t, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{Class: req.Requirements.Class(), GUID: req.GUID})
	if err != nil {
		_ = tx.Abort(ctx)
		return nil, fmt.Errorf("withdraw %s: %w", req.GUID, err)
	}
	taken := t.(*tuplebroker.Request)
	resp := taken.Cancelled(time.Now())
	if err := tx.Write(resp, space.Forever); err != nil {
		_ = tx.Abort(ctx)
		return nil, fmt.Errorf("withdraw %s: %w", req.GUID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("withdraw %s: %w", req.GUID, err)
	}
	return resp, nil
}
