package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"tuplebroker"
)

// NoWait, as SubmitOptions.Wait, asks the factory to answer at once
// (wait=0).
const NoWait time.Duration = -1

// SubmitOptions are the optional parts of a submission.
type SubmitOptions struct {
	// Priority is sent as the Priority header if not 0 (the factory's
	// default): -1000..1000, higher first.
	Priority int
	// IdempotencyKey, if set, is sent as the Idempotency-Key header:
	// submitting again with the same key (and document) answers the same
	// job instead of making a new one.
	IdempotencyKey string
	// Wait is how long the factory may hold the request for the job to be
	// hosted by a manager node (wait=); the request's time limit grows by
	// as much. 0 leaves it to the factory (10 s by default); NoWait (any
	// negative duration) sends wait=0.
	Wait time.Duration
	// ContentType is the document's media type; "" means application/xml.
	ContentType string
}

// Submitted is a factory's answer to a submission.
type Submitted struct {
	tuplebroker.Job
	// StatusCode is 201 (the job is hosted by a manager node) or 202 (not
	// yet, or the request asked not to wait).
	StatusCode int
	// Location is the job's path as answered (/v1/jobs/ID).
	Location string
}

// A CallOption changes one call.
type CallOption func(*callOptions)

type callOptions struct {
	raw *[]json.RawMessage
}

// RawJSON makes the call store in *dst the JSON of each job it answers,
// compacted, in order: the jobs as the factory sent them, fields this
// client does not know included.
func RawJSON(dst *[]json.RawMessage) CallOption { return func(o *callOptions) { o.raw = dst } }

func gather(opts []CallOption) callOptions {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

func (o callOptions) keep(raws ...json.RawMessage) {
	if o.raw != nil {
		*o.raw = raws
	}
}

// Submit posts the JSDL document jsdl to /v1/jobs and returns the job the
// factory answers (201 or 202). Any other answer is an *Error: 400
// (invalid-jsdl, with Problem.Errors naming the elements; bad-priority,
// bad-idempotency-key, bad-wait), 401, 409 (the Idempotency-Key was used for
// another document: errors.Is tuplebroker.ErrConflict), 413, 415, 422
// (Problem.Unmet), 503 (tuplebroker.ErrUnavailable). No answer in time is a
// *TimeoutError; other failures are transport or decoding errors.
func (c *Client) Submit(ctx context.Context, jsdl []byte, opts SubmitOptions, copts ...CallOption) (Submitted, error) {
	ct := opts.ContentType
	if ct == "" {
		ct = "application/xml"
	}
	hdr := http.Header{"Content-Type": {ct}}
	if opts.Priority != 0 {
		hdr.Set("Priority", strconv.Itoa(opts.Priority))
	}
	if opts.IdempotencyKey != "" {
		hdr.Set("Idempotency-Key", opts.IdempotencyKey)
	}
	var (
		q     url.Values
		extra time.Duration
	)
	switch {
	case opts.Wait > 0:
		q, extra = url.Values{"wait": {opts.Wait.String()}}, opts.Wait
	case opts.Wait < 0:
		q = url.Values{"wait": {"0s"}}
	default:
		extra = 10 * time.Second // the factory's default wait
	}
	r, err := c.do(ctx, http.MethodPost, q, hdr, jsdl, extra, "v1", "jobs")
	if err != nil {
		return Submitted{}, err
	}
	if r.status != http.StatusCreated && r.status != http.StatusAccepted {
		return Submitted{}, errorFrom(r)
	}
	j, raw, err := decodeJob(r.body)
	if err != nil {
		return Submitted{}, err
	}
	gather(copts).keep(raw)
	return Submitted{Job: j, StatusCode: r.status, Location: r.header.Get("Location")}, nil
}

// Job returns the job id (GET /v1/jobs/{id}). A job that does not exist or
// belongs to another user is an *Error matching tuplebroker.ErrNotFound;
// other error answers (401, 503: tuplebroker.ErrUnavailable) are *Error too;
// an id that cannot name a job is an error before anything is sent.
func (c *Client) Job(ctx context.Context, id string, opts ...CallOption) (tuplebroker.Job, error) {
	return c.jobCall(ctx, http.MethodGet, id, opts)
}

// Cancel cancels the job id (DELETE /v1/jobs/{id}) and returns it as the
// factory answers: Cancelled, or still Pending or Running with sub-state
// cancel-requested until its backend confirms. A job that has ended is an
// *Error matching tuplebroker.ErrConflict (409); no such job matches
// tuplebroker.ErrNotFound; other errors are as for Job.
func (c *Client) Cancel(ctx context.Context, id string, opts ...CallOption) (tuplebroker.Job, error) {
	return c.jobCall(ctx, http.MethodDelete, id, opts)
}

func (c *Client) jobCall(ctx context.Context, method, id string, opts []CallOption) (tuplebroker.Job, error) {
	if err := checkID(id); err != nil {
		return tuplebroker.Job{}, err
	}
	r, err := c.do(ctx, method, nil, nil, nil, 0, "v1", "jobs", id)
	if err != nil {
		return tuplebroker.Job{}, err
	}
	if r.status != http.StatusOK {
		return tuplebroker.Job{}, errorFrom(r)
	}
	j, raw, err := decodeJob(r.body)
	if err != nil {
		return tuplebroker.Job{}, err
	}
	gather(opts).keep(raw)
	return j, nil
}

// checkID refuses ids that cannot name a job: empty, "." and "..".
func checkID(id string) error {
	if id == "" || id == "." || id == ".." {
		return fmt.Errorf("client: %q is not a job ID", id)
	}
	return nil
}

// Filter selects the jobs Jobs lists.
type Filter struct {
	// State, if set, keeps only the jobs in this state.
	State tuplebroker.JobState
	// Limit, if positive, asks for at most this many jobs (the factory's
	// default: 100, at most 1000).
	Limit int
}

// Jobs lists the user's jobs, newest first (GET /v1/jobs). A filter the
// factory refuses is an *Error (400 bad-query); other error answers are
// *Error too.
func (c *Client) Jobs(ctx context.Context, f Filter, opts ...CallOption) ([]tuplebroker.Job, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	r, err := c.do(ctx, http.MethodGet, q, nil, nil, 0, "v1", "jobs")
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, errorFrom(r)
	}
	var list struct {
		Jobs []json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		return nil, fmt.Errorf("decoding the job list: %w", err)
	}
	jobs := make([]tuplebroker.Job, len(list.Jobs))
	raws := make([]json.RawMessage, len(list.Jobs))
	for i, m := range list.Jobs {
		if jobs[i], raws[i], err = decodeJob(m); err != nil {
			return nil, err
		}
	}
	gather(opts).keep(raws...)
	return jobs, nil
}

// Health is the answer of GET /healthz.
type Health struct {
	// Status is "ok" when the answer is 200.
	Status string `json:"status"`
	// Tuples is the number of tuples in the space, if the server (`serve`)
	// tells.
	Tuples int `json:"tuples,omitempty"`
}

// Health asks the server whether it is up (GET /healthz). An answer other
// than 200 is an *Error (503: tuplebroker.ErrUnavailable), an undecodable
// 200 a decoding error.
func (c *Client) Health(ctx context.Context) (Health, error) {
	r, err := c.do(ctx, http.MethodGet, nil, nil, nil, 0, "healthz")
	if err != nil {
		return Health{}, err
	}
	if r.status != http.StatusOK {
		return Health{}, errorFrom(r)
	}
	var h Health
	if err := json.Unmarshal(r.body, &h); err != nil {
		return Health{}, fmt.Errorf("GET %s: decoding the answer: %w", r.url, err)
	}
	return h, nil
}
