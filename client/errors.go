package client

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tuplebroker"
)

// Problem is an RFC 9457 problem document as a factory sends it.
type Problem struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title,omitempty"`
	Status   int    `json:"status,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Errors (extension member "errors") lists what is wrong where in a
	// JSDL document (400 invalid-jsdl).
	Errors []FieldError `json:"errors,omitempty"`
	// Unmet (extension member "unmet") lists the requirements no agent
	// can serve (422 unmet-requirements).
	Unmet []string `json:"unmet,omitempty"`
	// Extensions holds the members not decoded into the fields above, as
	// sent.
	Extensions map[string]json.RawMessage `json:"-"`
}

// FieldError is one item of a problem's errors[]: a JSDL element path
// ("" for the document as a whole) and what is wrong there.
type FieldError struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Error is an answer of the API with an unexpected status.
//
// errors.Is(err, tuplebroker.ErrNotFound) holds for a 404,
// tuplebroker.ErrConflict for a 409 and tuplebroker.ErrUnavailable for a
// 503; errors.As(err, &e) with e a *Error gives the details.
type Error struct {
	// Method and URL are the request's.
	Method, URL string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Problem is the problem document, or, if the body was none, a
	// problem with the body's first line (at most 200 bytes) as Detail.
	Problem Problem
	// RetryAfter is the answer's Retry-After in seconds, 0 if none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.URL, e.StatusCode)
	title := e.Problem.Title
	if title == "" {
		title = http.StatusText(e.StatusCode)
	}
	if title != "" {
		b.WriteString(" " + title)
	}
	if e.Problem.Detail != "" {
		b.WriteString(": " + e.Problem.Detail)
	}
	return b.String()
}

// Unwrap returns the domain error the status stands for:
// tuplebroker.ErrNotFound (404), tuplebroker.ErrConflict (409),
// tuplebroker.ErrUnavailable (503), else nil.
func (e *Error) Unwrap() error {
	switch e.StatusCode {
	case http.StatusNotFound:
		return tuplebroker.ErrNotFound
	case http.StatusConflict:
		return tuplebroker.ErrConflict
	case http.StatusServiceUnavailable:
		return tuplebroker.ErrUnavailable
	}
	return nil
}

// UnmarshalJSON decodes the known members and keeps the others in
// Extensions.
func (p *Problem) UnmarshalJSON(b []byte) error {
	type known Problem
	var k known
	if err := json.Unmarshal(b, &k); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for _, m := range []string{"type", "title", "status", "detail", "instance", "errors", "unmet"} {
		delete(all, m)
	}
	k.Extensions = nil
	if len(all) > 0 {
		k.Extensions = all
	}
	*p = Problem(k)
	return nil
}

// errorFrom makes the *Error of an answer with an unexpected status.
func errorFrom(r response) *Error {
	e := &Error{Method: r.method, URL: r.url, StatusCode: r.status}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	parsed := false
	if mt == "application/problem+json" || mt == "application/json" {
		parsed = json.Unmarshal(r.body, &e.Problem) == nil
	}
	if !parsed {
		e.Problem = Problem{}
		line, _, _ := strings.Cut(strings.TrimSpace(string(r.body)), "\n")
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		e.Problem.Detail = line
	}
	return e
}
