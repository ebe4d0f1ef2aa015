package factory

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// Every bad request gets its 4xx with a problem naming what is wrong, and
// the space holds no tuple afterwards.
func TestRejectsBadInput(t *testing.T) {
	p := newPool(t)
	p.startAgent(p.ctx, fastSim("simA", 0), agentOpts{}) // adverts os=LINUX, arch=x86_64
	f := p.newFactory("f1", nil)

	deep := strings.Repeat("<ext:x>", 40) + strings.Repeat("</ext:x>", 40)
	tests := []struct {
		name   string
		doc    string
		query  string
		header map[string]string
		status int
		slug   string
		path   string // JSDL path in errors[0], if any
		detail string // substring of detail
	}{
		{name: "malformed XML", doc: `<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"><jsdl:JobDescription>`,
			status: 400, slug: "invalid-jsdl", path: "/JobDefinition/JobDescription", detail: "malformed XML"},
		{name: "not XML", doc: "hello world", status: 400, slug: "invalid-jsdl", path: "/"},
		{name: "no executable", doc: strings.Replace(helloJSDL, "<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>", "", 1),
			status: 400, slug: "invalid-jsdl", path: "/JobDefinition/JobDescription/Application"},
		{name: "unknown JSDL element", doc: jsdlWith(`<jsdl:Resource/>`),
			status: 400, slug: "invalid-jsdl", path: "/JobDefinition/JobDescription/Resource"},
		{name: "bad range", doc: jsdlWith(`<jsdl:Resources><jsdl:TotalCPUCount><jsdl:Range><jsdl:LowerBound>8</jsdl:LowerBound><jsdl:UpperBound>4</jsdl:UpperBound></jsdl:Range></jsdl:TotalCPUCount></jsdl:Resources>`),
			status: 400, slug: "invalid-jsdl", path: "/JobDefinition/JobDescription/Resources/TotalCPUCount/Range[1]"},
		{name: "bad enumeration", doc: jsdlWith(`<jsdl:Resources><jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>TempleOS</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem></jsdl:Resources>`),
			status: 400, slug: "invalid-jsdl", path: "/JobDefinition/JobDescription/Resources/OperatingSystem/OperatingSystemType/OperatingSystemName"},
		{name: "deep nesting", doc: strings.Replace(jsdlWith(deep), `<jsdl:JobDefinition `, `<jsdl:JobDefinition xmlns:ext="urn:x" `, 1),
			status: 400, slug: "invalid-jsdl", detail: "exceeds a limit"},
		{name: "oversized body", doc: bigDoc(600 << 10), status: 413, slug: "body-too-large"},
		{name: "wrong content type", doc: helloJSDL, header: map[string]string{"Content-Type": "application/json"}, status: 415, slug: "unsupported-media-type"},
		{name: "no content type", doc: helloJSDL, header: map[string]string{"Content-Type": ""}, status: 415, slug: "unsupported-media-type"},
		{name: "priority not a number", doc: helloJSDL, header: map[string]string{"Priority": "high"}, status: 400, slug: "bad-priority"},
		{name: "priority out of range", doc: helloJSDL, header: map[string]string{"Priority": "1001"}, status: 400, slug: "bad-priority"},
		{name: "priority exponent", doc: helloJSDL, header: map[string]string{"Priority": "1e3"}, status: 400, slug: "bad-priority"},
		{name: "idempotency key too long", doc: helloJSDL, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, status: 400, slug: "bad-idempotency-key"},
		{name: "idempotency key not ASCII", doc: helloJSDL, header: map[string]string{"Idempotency-Key": "clé"}, status: 400, slug: "bad-idempotency-key"},
		{name: "wait not a duration", doc: helloJSDL, query: "?wait=soon", status: 400, slug: "bad-wait"},
		{name: "negative wait", doc: helloJSDL, query: "?wait=-1s", status: 400, slug: "bad-wait"},
		{name: "two waits", doc: helloJSDL, query: "?wait=1s&wait=2s", status: 400, slug: "bad-wait"},
		{name: "unmet requirement", doc: jsdlWith(`<jsdl:Resources><jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>WINNT</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem></jsdl:Resources>`),
			status: 422, slug: "unmet-requirements"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.submit(t, aliceToken, tc.doc, tc.query, tc.header)
			if r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
			}
			pb := r.problem(t)
			if pb.Type != problemBase+tc.slug || pb.Title == "" || pb.Detail == "" {
				t.Errorf("problem %+v, want type %s with title and detail", pb, tc.slug)
			}
			if tc.path != "" && (len(pb.Errors) != 1 || pb.Errors[0].Path != tc.path || pb.Errors[0].Reason == "") {
				t.Errorf("errors %+v, want one at %s with a reason", pb.Errors, tc.path)
			}
			if tc.detail != "" && !strings.Contains(pb.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", pb.Detail, tc.detail)
			}
			if tc.status == 422 && !slices.Equal(pb.Unmet, []string{"os=WINNT"}) {
				t.Errorf("unmet %v, want [os=WINNT]", pb.Unmet)
			}
			if r.header.Get("Location") != "" {
				t.Errorf("a rejection with Location %q", r.header.Get("Location"))
			}
			p.assertNoJobs(f, tc.name)
		})
	}

	// A body with no Content-Length is cut at the limit all the same.
	t.Run("oversized chunked body", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(bigDoc(600 << 10)))
			pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/jobs", pr)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("Content-Type", "application/xml")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength > 0 {
			t.Fatalf("status %d (content length %d), want 413 for a chunked body", resp.StatusCode, req.ContentLength)
		}
		p.assertNoJobs(f, "chunked")
	})

	// Control characters never reach the space (sent in-process: a real
	// client library would refuse to send them).
	for _, h := range []struct{ name, value, slug string }{
		{"Idempotency-Key", "key\x01", "bad-idempotency-key"},
		{"Idempotency-Key", "key\tx", "bad-idempotency-key"},
		{"Priority", "1\x7f", "bad-priority"},
	} {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/v1/jobs", strings.NewReader(helloJSDL))
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("Content-Type", "application/xml")
		req.Header.Set(h.name, h.value)
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, req)
		r := reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		if r.status != 400 || r.problem(t).Type != problemBase+h.slug {
			t.Errorf("%s %q: %d %s, want 400 %s", h.name, h.value, r.status, r.body, h.slug)
		}
		if strings.Contains(string(r.body), h.value) {
			t.Errorf("the problem echoes the raw header: %s", r.body)
		}
	}
	p.assertNoJobs(f, "control characters")

	// Bad job ids and queries.
	for _, c := range []struct{ url, slug string }{
		{"/v1/jobs/not-a-uuid", "not-found"},
		{"/v1/jobs/6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "not-found"},
		{"/v1/jobs?state=Sleeping", "bad-query"},
		{"/v1/jobs?limit=0", "bad-query"},
		{"/v1/nothing", "not-found"},
	} {
		r := call(t, http.MethodGet, f.url+c.url, aliceToken, "", nil)
		if pb := r.problem(t); pb.Type != problemBase+c.slug {
			t.Errorf("GET %s: %d %s, want %s", c.url, r.status, r.body, c.slug)
		}
	}
	if r := call(t, http.MethodPut, f.url+"/v1/jobs", aliceToken, "", nil); r.status != 405 || r.header.Get("Allow") == "" {
		t.Errorf("PUT /v1/jobs: %d %v, want 405 with Allow", r.status, r.header)
	}
	st := f.Stats()
	if st.Accepted != 0 || st.Rejected["invalid-jsdl"] != 7 || st.Rejected["unmet-requirements"] != 1 {
		t.Errorf("stats %+v", st)
	}
}
