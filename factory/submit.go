package factory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/jsdl"
	"tuplebroker/space"
)

// Header and parameter bounds of POST /v1/jobs.
const (
	MinPriority       = -1000
	MaxPriority       = 1000
	MaxIdempotencyKey = 255
)

// replayGrace is how long a replayed POST waits for the job its key is
// bound to to become visible (the factory that bound the key writes the
// request just after).
const replayGrace = 5 * time.Second

// submit answers POST /v1/jobs.
func (f *Factory) submit(w http.ResponseWriter, r *http.Request, uid string) error {
	ctx := r.Context()
	if err := checkContentType(r.Header.Values("Content-Type")); err != nil {
		return err
	}
	body, err := f.readBody(w, r)
	if err != nil {
		return err
	}
	def, err := jsdl.ParseBytes(body, f.cfg.Limits)
	if err != nil {
		return jsdlProblem(err)
	}
	priority, err := parsePriority(r.Header.Values("Priority"))
	if err != nil {
		return err
	}
	key, err := parseIdempotencyKey(r.Header.Values("Idempotency-Key"))
	if err != nil {
		return err
	}
	wait, err := f.parseWait(r.URL.Query())
	if err != nil {
		return err
	}
	reqs := def.Requirements()
	unmet, err := f.unmet(ctx, reqs)
	if err != nil {
		return unavailable("cannot read the pool's agent adverts", err)
	}
	if unmet != nil {
		p := newProblem(kindUnmet, "no agent in the pool offers every requirement of this job")
		p.unmet = unmet
		return p
	}

	guid := uuid.NewString()
	sum := sha256.Sum256(body)
	bodySum := hex.EncodeToString(sum[:])
	var idemName string
	if key != "" {
		ks := sha256.Sum256([]byte(uid + "\x00" + key))
		idemName = "idem." + hex.EncodeToString(ks[:])
		mine := guid + ":" + bodySum
		bound, err := f.names.Reserve(ctx, idemName, mine)
		if err != nil {
			return unavailable("cannot record the Idempotency-Key", err)
		}
		if bound != mine {
			bguid, bsum, ok := strings.Cut(bound, ":")
			if !ok || bsum != bodySum {
				return newProblem(kindIdempotencyConflict, "this Idempotency-Key was used for a different document")
			}
			f.stats.replays.Add(1)
			return f.answer(w, r, uid, bguid, wait, true)
		}
	}

	req := &tuplebroker.Request{GUID: guid, Factory: f.cfg.Handle, UID: uid, JSDL: body, Priority: priority,
		Requirements: reqs, Created: time.Now().UTC()}
	return f.accept(w, r, req, wait, idemName)
}

// accept writes the request (reserved for a courier's agent if the
// strategy pushes it), pushes it, and answers once the job is hosted or
// the wait is over.
func (f *Factory) accept(w http.ResponseWriter, r *http.Request, req *tuplebroker.Request, wait time.Duration, idemName string) error {
	ctx := r.Context()
	// Subscribe before writing: the publication cannot come before it.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var published <-chan tuplebroker.Tuple
	if wait > 0 {
		var err error
		published, err = f.sp.Notify(wctx, tuplebroker.ResponseTemplate{GUID: req.GUID, Published: tuplebroker.Bool(true)})
		if err != nil {
			f.forgetKey(ctx, idemName)
			return unavailable("cannot watch the tuplespace", err)
		}
	}

	reqs := []string(req.Requirements)
	sup := f.supply(reqs, time.Now())
	dec := f.cfg.Strategy.Decide(req.Priority, sup)
	var c *tuplebroker.Courier
	if dec.Push {
		c = f.acquire(ctx, reqs)
	}
	if pushFallback(f.cfg.Strategy, req.Priority, sup, dec, c != nil) {
		f.stats.pushFallbacks.Add(1)
	}
	if c != nil {
		req.PushedTo = c.Agent
	}
	bg, bgCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer bgCancel()
	if _, err := f.sp.Write(ctx, req, space.Forever); err != nil {
		if c != nil {
			f.release(bg, c)
		}
		if !ambiguous(err) {
			f.forgetKey(ctx, idemName)
		}
		return unavailable("cannot write the job into the tuplespace", err)
	}
	f.stats.accepted.Add(1)
	if c != nil {
		f.pushAsync(bg, c, req)
	}
	f.rebalance(bg, dec.KeepCouriers)
	return f.answerWith(w, r, req.UID, req.GUID, wait, published, false)
}

// ambiguous reports whether a failed write may have happened all the same
// (it timed out or was abandoned): its Idempotency-Key must then stay bound,
// lest a retry create a second job.
func ambiguous(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &te) && te.Timeout())
}

// forgetKey unbinds an Idempotency-Key whose job was never written, so
// that the client's retry creates it.
func (f *Factory) forgetKey(ctx context.Context, name string) {
	if name == "" {
		return
	}
	ctx, cancel := tuplebroker.FinishContext(ctx, 5*time.Second)
	defer cancel()
	if err := f.names.Withdraw(ctx, name); err != nil {
		f.cfg.Logger.Warn("factory: unbind idempotency key", "err", err)
	}
}

// answer waits up to wait for the job guid to be hosted and answers for it.
func (f *Factory) answer(w http.ResponseWriter, r *http.Request, uid, guid string, wait time.Duration, replay bool) error {
	wctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var published <-chan tuplebroker.Tuple
	if wait > 0 {
		var err error
		published, err = f.sp.Notify(wctx, tuplebroker.ResponseTemplate{GUID: guid, Published: tuplebroker.Bool(true)})
		if err != nil {
			return unavailable("cannot watch the tuplespace", err)
		}
	}
	return f.answerWith(w, r, uid, guid, wait, published, replay)
}

// answerWith answers 201 once the job is hosted (published arrives, or it
// was already), or 202 with its state when the wait is over.
func (f *Factory) answerWith(w http.ResponseWriter, r *http.Request, uid, guid string, wait time.Duration, published <-chan tuplebroker.Tuple, replay bool) error {
	ctx := r.Context()
	var hosted *tuplebroker.Response
	if wait > 0 {
		t, err := f.sp.TryRead(ctx, tuplebroker.ResponseTemplate{GUID: guid, Published: tuplebroker.Bool(true)})
		if err == nil {
			hosted, _ = t.(*tuplebroker.Response)
		} else {
			timer := time.NewTimer(wait)
			defer timer.Stop()
			select {
			case t, ok := <-published:
				if ok {
					hosted, _ = t.(*tuplebroker.Response)
				}
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	h := w.Header()
	h.Set("Location", "/v1/jobs/"+guid)
	if replay {
		h.Set("Idempotent-Replayed", "true")
	}
	if hosted != nil && hosted.UID == uid {
		j, err := f.managerJob(ctx, hosted, uid)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, j)
		return nil
	}
	v, err := f.current(ctx, uid, guid)
	for deadline := time.Now().Add(replayGrace); replay && errors.Is(err, tuplebroker.ErrNotFound) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		v, err = f.current(ctx, uid, guid)
	}
	if err != nil {
		h.Del("Location")
		h.Del("Idempotent-Replayed")
		if replay && errors.Is(err, tuplebroker.ErrNotFound) {
			return &problem{kind: kindUnavailable, retryAfter: time.Second,
				detail: "the job this Idempotency-Key names is not visible yet; retry"}
		}
		return err
	}
	// 201 once hosted; but a new job posted with wait=0 is 202 whatever
	// happened in the meantime: the client asked not to wait for hosting.
	status := http.StatusAccepted
	if v.hosted != nil && (wait > 0 || replay) {
		status = http.StatusCreated
	}
	writeJSON(w, status, v.job)
	return nil
}

func unavailable(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, tuplebroker.ErrUnavailable, err)
}

// readBody reads at most the body limit.
func (f *Factory) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := f.cfg.maxBytes()
	if r.ContentLength > limit {
		return nil, newProblem(kindTooLarge, "the document is larger than %d bytes", limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newProblem(kindTooLarge, "the document is larger than %d bytes", limit)
		}
		if r.Context().Err() != nil {
			return nil, r.Context().Err()
		}
		return nil, newProblem(kindInvalidJSDL, "could not read the request body")
	}
	return body, nil
}

// checkContentType accepts the XML media types, with any parameters.
func checkContentType(vals []string) error {
	if len(vals) != 1 {
		return newProblem(kindMediaType, "send the JSDL document as application/xml, text/xml or application/jsdl+xml")
	}
	mt, _, err := mime.ParseMediaType(vals[0])
	if err == nil {
		switch mt {
		case "application/xml", "text/xml", "application/jsdl+xml":
			return nil
		}
	}
	return newProblem(kindMediaType, "send the JSDL document as application/xml, text/xml or application/jsdl+xml")
}

// jsdlProblem names the element and the reason of a rejected document.
func jsdlProblem(err error) error {
	var je *jsdl.Error
	if !errors.As(err, &je) {
		return newProblem(kindInvalidJSDL, "the document is not valid JSDL")
	}
	what := "invalid JSDL"
	switch {
	case errors.Is(err, jsdl.ErrMalformed):
		what = "malformed XML"
	case errors.Is(err, jsdl.ErrTooLarge):
		what = "document exceeds a limit"
	}
	p := newProblem(kindInvalidJSDL, "%s at %s: %s", what, je.Path, je.Reason)
	p.errs = []fieldError{{Path: je.Path, Reason: je.Reason}}
	return p
}

// parsePriority reads the Priority header: an integer in
// [MinPriority, MaxPriority], 0 if absent.
func parsePriority(vals []string) (int, error) {
	if len(vals) == 0 {
		return 0, nil
	}
	bad := newProblem(kindBadPriority, "Priority must be one integer from %d to %d", MinPriority, MaxPriority)
	if len(vals) > 1 {
		return 0, bad
	}
	s := vals[0]
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" || len(digits) > 4 || strings.Trim(digits, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < MinPriority || n > MaxPriority {
		return 0, bad
	}
	return n, nil
}

// parseIdempotencyKey reads the Idempotency-Key header: 1 to 255
// printable ASCII characters, "" if absent.
func parseIdempotencyKey(vals []string) (string, error) {
	if len(vals) == 0 {
		return "", nil
	}
	bad := newProblem(kindBadIdempotencyKey, "Idempotency-Key must be one value of 1 to %d printable ASCII characters", MaxIdempotencyKey)
	if len(vals) > 1 {
		return "", bad
	}
	k := vals[0]
	if k == "" || len(k) > MaxIdempotencyKey {
		return "", bad
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", bad
		}
	}
	return k, nil
}

// parseWait reads the wait parameter: a Go duration or whole seconds,
// DefaultWait if absent, at most MaxWait.
func (f *Factory) parseWait(q url.Values) (time.Duration, error) {
	vals, ok := q["wait"]
	if !ok {
		return f.cfg.DefaultWait, nil
	}
	bad := newProblem(kindBadWait, "wait must be one non-negative duration such as 10s or 250ms, or whole seconds")
	if len(vals) != 1 || vals[0] == "" {
		return 0, bad
	}
	s := vals[0]
	if strings.Trim(s, "0123456789") == "" {
		if len(s) > 9 {
			return f.cfg.MaxWait, nil // more seconds than anyone may wait
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, bad
		}
		return min(time.Duration(n)*time.Second, f.cfg.MaxWait), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return min(d, f.cfg.MaxWait), nil
}
