package client

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestEndpoint(t *testing.T) {
	for _, tt := range []struct {
		base string
		segs []string
		want string
	}{
		{"http://a:8080", []string{"v1", "jobs"}, "http://a:8080/v1/jobs"},
		{"http://a:8080/", []string{"v1", "jobs"}, "http://a:8080/v1/jobs"},
		{"https://a/tb/", []string{"v1", "jobs", "x"}, "https://a/tb/v1/jobs/x"},
		// An ID cannot step out of /v1/jobs/ or inject a query.
		{"http://a", []string{"v1", "jobs", "../../healthz?x", "events"}, "http://a/v1/jobs/..%2F..%2Fhealthz%3Fx/events"},
		{"http://a/p%20q", []string{"v1", "jobs", "a b"}, "http://a/p%20q/v1/jobs/a%20b"},
	} {
		c, err := New(tt.base, "t")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.endpoint(nil, tt.segs...); got != tt.want {
			t.Errorf("endpoint(%s, %q) = %s, want %s", tt.base, tt.segs, got, tt.want)
		}
	}
	c, _ := New("http://a", "t")
	if got, want := c.endpoint(map[string][]string{"wait": {"10s"}}, "v1", "jobs"), "http://a/v1/jobs?wait=10s"; got != want {
		t.Errorf("endpoint with query = %s, want %s", got, want)
	}
}

func TestNew(t *testing.T) {
	for _, bad := range []string{"127.0.0.1:8080", "ftp://a", "http://", "http://a/?x=1", "http://a/#f"} {
		if _, err := New(bad, "t"); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	for _, tok := range []string{"a b", "a\x1bb", "é"} {
		if _, err := New("http://a", tok); err == nil {
			t.Errorf("New with token %q succeeded", tok)
		}
	}
	if _, err := New("http://a", "t", WithTimeout(0)); err == nil {
		t.Error("New with a zero timeout succeeded")
	}
	c, err := New("HTTP://user:secret@a/p", "t")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.URL().Redacted(); got != "http://user:xxxxx@a/p" {
		t.Errorf("URL().Redacted() = %s", got)
	}
}

// TestErrorFrom: answers that are no problem document (a proxy's page,
// broken JSON) still make an *Error with the body's first line as detail.
func TestErrorFrom(t *testing.T) {
	hdr := func(ct string) http.Header { return http.Header{"Content-Type": {ct}} }
	e := errorFrom(response{method: "POST", url: "http://a/v1/jobs", status: 422, header: hdr("application/problem+json; charset=utf-8"),
		body: []byte(`{"type":"https://tuplebroker.dev/problems/unservable","title":"Unservable requirements","status":422,"detail":"no agent can run it","unmet":["os=WINNT"],"hint":{"x":1}}`)})
	if e.StatusCode != 422 || e.Problem.Title != "Unservable requirements" || e.Problem.Detail != "no agent can run it" ||
		len(e.Problem.Unmet) != 1 || e.Problem.Unmet[0] != "os=WINNT" {
		t.Errorf("422: %+v", e)
	}
	if len(e.Problem.Extensions) != 1 || string(e.Problem.Extensions["hint"]) != `{"x":1}` {
		t.Errorf("extensions %q, want the hint member alone", e.Problem.Extensions)
	}
	if got, want := e.Error(), "POST http://a/v1/jobs: 422 Unservable requirements: no agent can run it"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = errorFrom(response{status: 502, header: hdr("text/html"), body: []byte("<html>Bad gateway</html>\n<body>...")})
	if e.Problem.Detail != "<html>Bad gateway</html>" || e.Problem.Title != "" || e.StatusCode != 502 {
		t.Errorf("502: %+v", e.Problem)
	}
	e = errorFrom(response{status: 500, header: hdr("application/problem+json"), body: []byte("{not json")})
	if e.Problem.Detail != "{not json" || e.Problem.Title != "" {
		t.Errorf("bad problem JSON: %+v", e.Problem)
	}
	e = errorFrom(response{status: 503, header: http.Header{"Content-Type": {"text/plain"}, "Retry-After": {"2"}}, body: []byte(strings.Repeat("z", 1000))})
	if len(e.Problem.Detail) > 210 || e.RetryAfter != 2*time.Second {
		t.Errorf("503: detail of %d bytes, Retry-After %s", len(e.Problem.Detail), e.RetryAfter)
	}
}

func TestDecodeJob(t *testing.T) {
	j, raw, err := decodeJob([]byte("{\n  \"id\": \"g\",\n  \"state\": \"Running\",\n  \"future_field\": 1\n}"))
	if err != nil || j.ID != "g" || j.State != "Running" {
		t.Fatalf("decodeJob: %+v %v", j, err)
	}
	// The raw JSON is the server's, fields unknown here included, on one line.
	if got, want := string(raw), `{"id":"g","state":"Running","future_field":1}`; got != want {
		t.Errorf("raw %s, want %s", got, want)
	}
	if _, _, err := decodeJob([]byte("<html>")); err == nil {
		t.Error("decodeJob accepted HTML")
	}
}
