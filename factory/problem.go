package factory

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"tuplebroker"
)

// kind is a class of error answer: one HTTP status, one problem type.
type kind int

const (
	kindInternal kind = iota
	kindUnauthorized
	kindNotFound
	kindMethod
	kindMediaType
	kindTooLarge
	kindInvalidJSDL
	kindBadPriority
	kindBadIdempotencyKey
	kindBadWait
	kindBadQuery
	kindUnmet
	kindIdempotencyConflict
	kindConflict
	kindUnavailable
)

// info is the one table from error kind to HTTP status, problem type slug
// and title.
func (k kind) info() (status int, slug, title string) {
	switch k {
	case kindUnauthorized:
		return http.StatusUnauthorized, "unauthorized", "Missing or unknown bearer token"
	case kindNotFound:
		return http.StatusNotFound, "not-found", "No such job"
	case kindMethod:
		return http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"
	case kindMediaType:
		return http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported content type"
	case kindTooLarge:
		return http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large"
	case kindInvalidJSDL:
		return http.StatusBadRequest, "invalid-jsdl", "Invalid JSDL document"
	case kindBadPriority:
		return http.StatusBadRequest, "bad-priority", "Bad Priority header"
	case kindBadIdempotencyKey:
		return http.StatusBadRequest, "bad-idempotency-key", "Bad Idempotency-Key header"
	case kindBadWait:
		return http.StatusBadRequest, "bad-wait", "Bad wait parameter"
	case kindBadQuery:
		return http.StatusBadRequest, "bad-query", "Bad query parameter"
	case kindUnmet:
		return http.StatusUnprocessableEntity, "unmet-requirements", "No agent in the pool can serve this job"
	case kindIdempotencyConflict:
		return http.StatusConflict, "idempotency-conflict", "Idempotency-Key reused with a different body"
	case kindConflict:
		return http.StatusConflict, "conflict", "Operation conflicts with the job's state"
	case kindUnavailable:
		return http.StatusServiceUnavailable, "unavailable", "Temporarily unavailable"
	}
	return http.StatusInternalServerError, "internal", "Internal error"
}

// problemBase prefixes every problem type slug.
const problemBase = "https://tuplebroker.dev/problems/"

// fieldError is one JSDL problem: the element's path and why.
type fieldError struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// problem is an error answered as an RFC 9457 problem. Detail never holds
// raw user input other than what jsdl has already escaped and bounded.
type problem struct {
	kind   kind
	detail string
	errs   []fieldError
	unmet  []string
	// retryAfter, for kindUnavailable, is sent as Retry-After.
	retryAfter time.Duration
}

func (p *problem) Error() string {
	_, slug, _ := p.kind.info()
	return slug + ": " + p.detail
}

func newProblem(k kind, format string, args ...any) *problem {
	return &problem{kind: k, detail: fmt.Sprintf(format, args...)}
}

// problemBody is the JSON body of a problem answer.
type problemBody struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []fieldError `json:"errors,omitempty"`
	Unmet    []string     `json:"unmet,omitempty"`
}

// asProblem maps an error to its problem: a *problem as is, the domain
// sentinels to their kinds, anything else to an internal error whose
// message is logged, never sent.
func (f *Factory) asProblem(r *http.Request, err error) *problem {
	var p *problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, tuplebroker.ErrNotFound):
		return newProblem(kindNotFound, "no job with this id")
	case errors.Is(err, tuplebroker.ErrConflict):
		return newProblem(kindConflict, "the job's state does not allow this")
	case errors.Is(err, tuplebroker.ErrUnavailable):
		return &problem{kind: kindUnavailable, detail: "the component that can answer is unreachable; retry later", retryAfter: 2 * time.Second}
	}
	f.cfg.Logger.Error("factory: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	return newProblem(kindInternal, "internal error")
}

// writeError answers err as a problem.
func (f *Factory) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := f.asProblem(r, err)
	status, slug, title := p.kind.info()
	if status >= 400 && status < 500 {
		f.stats.reject(slug)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if p.kind == kindUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="tuplebroker"`)
	}
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	body := problemBody{Type: problemBase + slug, Title: title, Status: status, Detail: p.detail,
		Instance: r.URL.EscapedPath(), Errors: p.errs, Unmet: p.unmet}
	data, _ := json.Marshal(body)
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
