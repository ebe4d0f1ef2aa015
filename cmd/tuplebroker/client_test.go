package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"tuplebroker"
)

func TestParseURLs(t *testing.T) {
	good := []struct {
		in   []string
		want []string
	}{
		{[]string{"http://127.0.0.1:8080"}, []string{"http://127.0.0.1:8080"}},
		{[]string{"http://a:1,https://b:2", "http://c"}, []string{"http://a:1", "https://b:2", "http://c"}},
		{[]string{" http://a:1 , ,http://b:2,", ""}, []string{"http://a:1", "http://b:2"}},
		{[]string{"HTTP://a/prefix/"}, []string{"http://a/prefix/"}},
		{[]string{"http://[::1]:8080"}, []string{"http://[::1]:8080"}},
		// The same factory twice weighs it double.
		{[]string{"http://a", "http://a"}, []string{"http://a", "http://a"}},
	}
	for _, tt := range good {
		got, err := parseURLs(tt.in)
		if err != nil {
			t.Errorf("parseURLs(%q): %v", tt.in, err)
			continue
		}
		var s []string
		for _, u := range got {
			s = append(s, u.String())
		}
		if !reflect.DeepEqual(s, tt.want) {
			t.Errorf("parseURLs(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
	bad := []struct {
		in   []string
		want string
	}{
		{nil, "no URL"},
		{[]string{" , "}, "no URL"},
		{[]string{"127.0.0.1:8080"}, "http"},
		{[]string{"ftp://a"}, "http"},
		{[]string{"http://"}, "no host"},
		{[]string{"http://:8080"}, "no host"},
		{[]string{"http://a/?x=1"}, "query"},
		{[]string{"http://a/#f"}, "fragment"},
		{[]string{"http://a:99999"}, "port"},
		{[]string{"http://ok", "http://bad host"}, "bad host"},
	}
	for _, tt := range bad {
		_, err := parseURLs(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseURLs(%q) error %v, want one mentioning %q", tt.in, err, tt.want)
		}
	}
}

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
		urls, err := parseURLs([]string{tt.base})
		if err != nil {
			t.Fatal(err)
		}
		a := &apiClient{base: urls[0]}
		if got := a.endpoint(nil, tt.segs...); got != tt.want {
			t.Errorf("endpoint(%s, %q) = %s, want %s", tt.base, tt.segs, got, tt.want)
		}
	}
	urls, _ := parseURLs([]string{"http://a"})
	a := &apiClient{base: urls[0]}
	if got, want := a.endpoint(map[string][]string{"wait": {"10s"}}, "v1", "jobs"), "http://a/v1/jobs?wait=10s"; got != want {
		t.Errorf("endpoint with query = %s, want %s", got, want)
	}
}

// TestURLFlags runs the flag parsing of bench and of a single-URL command:
// --url repeated and comma-separated, the environment variable, the
// default.
func TestURLFlags(t *testing.T) {
	parse := func(t *testing.T, multi bool, args ...string) []string {
		t.Helper()
		var got []string
		app := &cli.App{
			Name:           "t",
			Writer:         &bytes.Buffer{},
			ErrWriter:      &bytes.Buffer{},
			ExitErrHandler: func(*cli.Context, error) {},
			Commands: []*cli.Command{{
				Name:  "cmd",
				Flags: clientFlags(multi),
				Action: func(c *cli.Context) error {
					urls, err := urlsFromFlag(c, multi)
					if err != nil {
						return err
					}
					for _, u := range urls {
						got = append(got, u.String())
					}
					return nil
				},
			}},
		}
		if err := app.Run(append([]string{"t", "cmd"}, args...)); err != nil {
			t.Fatal(err)
		}
		return got
	}
	t.Setenv(envURL, "")
	if got := parse(t, true); !reflect.DeepEqual(got, []string{defaultURL}) {
		t.Errorf("bench default (empty $%s): %q", envURL, got)
	}
	if got := parse(t, false); !reflect.DeepEqual(got, []string{defaultURL}) {
		t.Errorf("single default (empty $%s): %q", envURL, got)
	}
	os.Unsetenv(envURL)
	if got := parse(t, true); !reflect.DeepEqual(got, []string{defaultURL}) {
		t.Errorf("bench default: %q", got)
	}
	if got := parse(t, true, "--url", "http://a:1,http://b:2", "--url", "http://c:3"); !reflect.DeepEqual(got, []string{"http://a:1", "http://b:2", "http://c:3"}) {
		t.Errorf("bench --url: %q", got)
	}
	if got := parse(t, false); !reflect.DeepEqual(got, []string{defaultURL}) {
		t.Errorf("single default: %q", got)
	}
	t.Setenv(envURL, "http://e1:1,http://e2:2")
	if got := parse(t, true); !reflect.DeepEqual(got, []string{"http://e1:1", "http://e2:2"}) {
		t.Errorf("bench from $%s: %q", envURL, got)
	}
	if got := parse(t, true, "--url", "http://f:1"); !reflect.DeepEqual(got, []string{"http://f:1"}) {
		t.Errorf("bench --url over $%s: %q", envURL, got)
	}
	// A single-URL command takes the first of a list (a shared
	// $TUPLEBROKER_URL set for bench).
	if got := parse(t, false); !reflect.DeepEqual(got[:1], []string{"http://e1:1"}) {
		t.Errorf("single from $%s: %q", envURL, got)
	}
}

// env is a fake environment for resolveToken.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func writeToken(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestResolveToken(t *testing.T) {
	home := t.TempDir()
	xdg := t.TempDir()
	homeFile := filepath.Join(home, ".config", "tuplebroker", "token")
	xdgFile := filepath.Join(xdg, "tuplebroker", "token")
	writeToken(t, homeFile, "  home-token\n")
	writeToken(t, xdgFile, "xdg-token\r\n")

	check := func(name, flag string, e env, wantTok, wantSrc string) {
		t.Helper()
		tok, src, err := resolveToken(flag, e.get)
		if err != nil || tok != wantTok || src != wantSrc {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q)", name, tok, src, err, wantTok, wantSrc)
		}
	}
	all := env{envToken: "env-token", "HOME": home, "XDG_CONFIG_HOME": xdg}
	check("flag first", "flag-token", all, "flag-token", "--token")
	check("then env", "", all, "env-token", "$"+envToken)
	check("then $XDG_CONFIG_HOME file, trimmed", "", env{"HOME": home, "XDG_CONFIG_HOME": xdg}, "xdg-token", xdgFile)
	check("then ~/.config file, trimmed", "", env{"HOME": home}, "home-token", homeFile)
	check("relative $XDG_CONFIG_HOME is ignored", "", env{"HOME": home, "XDG_CONFIG_HOME": "rel"}, "home-token", homeFile)
	check("empty env var falls through", "", env{envToken: "", "HOME": home}, "home-token", homeFile)

	// A missing file: the error names the path and the other sources.
	empty := t.TempDir()
	missing := filepath.Join(empty, ".config", "tuplebroker", "token")
	_, _, err := resolveToken("", env{"HOME": empty}.get)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "--token") ||
		!strings.Contains(err.Error(), envToken) {
		t.Errorf("missing file: %v; want an error naming %s, --token and $%s", err, missing, envToken)
	}
	// The $XDG_CONFIG_HOME file is used even if ~/.config has one: a
	// missing one is reported under its own path.
	_, _, err = resolveToken("", env{"HOME": home, "XDG_CONFIG_HOME": empty}.get)
	if want := filepath.Join(empty, "tuplebroker", "token"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("missing XDG file: %v; want an error naming %s", err, want)
	}
	// An empty (blank) file.
	blank := t.TempDir()
	blankFile := filepath.Join(blank, ".config", "tuplebroker", "token")
	writeToken(t, blankFile, " \n\n")
	_, _, err = resolveToken("", env{"HOME": blank}.get)
	if err == nil || !strings.Contains(err.Error(), blankFile) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("blank file: %v", err)
	}
	// A file holding two words (a pasted header, say) is refused rather
	// than sent.
	two := t.TempDir()
	writeToken(t, filepath.Join(two, ".config", "tuplebroker", "token"), "Bearer abc\n")
	if _, _, err = resolveToken("", env{"HOME": two}.get); err == nil || !strings.Contains(err.Error(), "blanks") {
		t.Errorf("token with a blank: %v", err)
	}
	if _, _, err = resolveToken("a\x1bb", env{}.get); err == nil {
		t.Error("token with a control character accepted")
	}
	// No home at all.
	if _, _, err = resolveToken("", env{}.get); err == nil || !strings.Contains(err.Error(), "HOME") {
		t.Errorf("no HOME: %v", err)
	}
	// A directory where the file should be: an error, naming it.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tuplebroker", "token"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err = resolveToken("", env{"XDG_CONFIG_HOME": dir}.get); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "tuplebroker", "token")) {
		t.Errorf("token path is a directory: %v", err)
	}
}

func TestRenderProblem(t *testing.T) {
	p := problem{
		Type:   "https://tuplebroker.dev/problems/invalid-jsdl",
		Title:  "Invalid JSDL document",
		Status: 400,
		Detail: "the document is not valid JSDL 1.0",
		Errors: []problemError{
			{Path: "JobDefinition/JobDescription/Application", Reason: "no executable"},
			{Path: "", Reason: "too deep"},
		},
		Unmet: []string{"os=WINNT", "arch=sparc"},
	}
	got := renderProblem(400, p, "")
	want := "error: 400 Invalid JSDL document: the document is not valid JSDL 1.0\n" +
		"  JobDefinition/JobDescription/Application: no executable\n" +
		"  (document): too deep\n" +
		"  unmet: os=WINNT, arch=sparc"
	if got != want {
		t.Errorf("renderProblem:\n got %q\nwant %q", got, want)
	}
	if got, want := renderProblem(404, problem{}, ""), "error: 404 Not Found"; got != want {
		t.Errorf("no title: %q, want %q", got, want)
	}
	if got, want := renderProblem(599, problem{}, ""), "error: 599"; got != want {
		t.Errorf("unknown status: %q, want %q", got, want)
	}
	// Escape sequences from the server do not reach the terminal.
	got = renderProblem(400, problem{Title: "Bad\x1b[31m", Detail: "x\ny", Errors: []problemError{{Path: "p\x07", Reason: "r"}}}, "")
	if strings.ContainsAny(got, "\x1b\x07") || strings.Count(got, "\n") != 1 {
		t.Errorf("control characters not cleaned: %q", got)
	}
}

func TestErrorFrom(t *testing.T) {
	urls, _ := parseURLs([]string{"http://a"})
	a := &apiClient{base: urls[0], tokenSource: "/home/u/.config/tuplebroker/token"}
	hdr := func(ct string) http.Header { return http.Header{"Content-Type": {ct}} }

	e := a.errorFrom(response{Status: 422, Header: hdr("application/problem+json; charset=utf-8"),
		Body: []byte(`{"type":"https://tuplebroker.dev/problems/unservable","title":"Unservable requirements","status":422,"detail":"no agent can run it","unmet":["os=WINNT"]}`)})
	if got, want := e.Error(), "error: 422 Unservable requirements: no agent can run it\n  unmet: os=WINNT"; got != want {
		t.Errorf("422: %q, want %q", got, want)
	}
	// 401 names where the token came from.
	e = a.errorFrom(response{Status: 401, Header: hdr("application/problem+json"), Body: []byte(`{"title":"Unauthorized","status":401}`)})
	if got := e.Error(); !strings.HasPrefix(got, "error: 401 Unauthorized\n") || !strings.Contains(got, a.tokenSource) {
		t.Errorf("401: %q", got)
	}
	// A body that is no problem document (a proxy's page).
	e = a.errorFrom(response{Status: 502, Header: hdr("text/html"), Body: []byte("<html>Bad gateway</html>\n<body>...")})
	if got, want := e.Error(), "error: 502 Bad Gateway: <html>Bad gateway</html>"; got != want {
		t.Errorf("502: %q, want %q", got, want)
	}
	e = a.errorFrom(response{Status: 500, Header: hdr("application/problem+json"), Body: []byte("{not json")})
	if got, want := e.Error(), "error: 500 Internal Server Error: {not json"; got != want {
		t.Errorf("bad problem JSON: %q, want %q", got, want)
	}
	e = a.errorFrom(response{Status: 503, Header: hdr("text/plain"), Body: []byte(strings.Repeat("z", 1000))})
	if got := e.Error(); len(got) > 300 {
		t.Errorf("long body not cut: %d bytes", len(got))
	}
}

func TestExitError(t *testing.T) {
	c := cli.NewContext(&cli.App{}, nil, nil)
	c.Command = &cli.Command{Name: "submit"}
	c.Context = context.Background()
	ae := &apiError{Status: 409, Problem: problem{Title: "Conflict", Detail: "same key, different document"}}
	err := exitError(c, ae)
	var ec cli.ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != 1 {
		t.Fatalf("exitError(apiError) = %#v, want a cli.ExitCoder with code 1", err)
	}
	if got, want := err.Error(), "error: 409 Conflict: same key, different document"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	var back *apiError
	if !errors.As(err, &back) || back != ae {
		t.Error("the apiError is not reachable with errors.As")
	}
	if got := exitError(c, errors.New("dial tcp: refused")).Error(); got != "submit: dial tcp: refused" {
		t.Errorf("plain error: %q", got)
	}
	if exitError(c, nil) != nil {
		t.Error("exitError(nil) != nil")
	}
}

func TestJobLine(t *testing.T) {
	zero, three := 0, 3
	for _, tt := range []struct {
		job  tuplebroker.Job
		want string
	}{
		{tuplebroker.Job{ID: "g1", State: tuplebroker.Pending}, "g1 Pending"},
		{tuplebroker.Job{ID: "g1", State: tuplebroker.Pending, SubState: "queued-in-space"}, "g1 Pending/queued-in-space"},
		{tuplebroker.Job{ID: "g1", State: tuplebroker.Running, SubState: "executing", Backend: "local", BackendJobID: "4242"},
			"g1 Running/executing backend local:4242"},
		{tuplebroker.Job{ID: "g1", State: tuplebroker.Pending, Backend: "sim"}, "g1 Pending backend sim"},
		{tuplebroker.Job{ID: "g1", State: tuplebroker.Finished, Backend: "local", BackendJobID: "7", ExitCode: &zero},
			"g1 Finished backend local:7 exit=0"},
		{tuplebroker.Job{ID: "g1", State: tuplebroker.Failed, SubState: "exited-nonzero", ExitCode: &three, Reason: "exit status 3"},
			`g1 Failed/exited-nonzero exit=3 reason="exit status 3"`},
		{tuplebroker.Job{ID: "g\x1b1", State: "Pending"}, "g\uFFFD1 Pending"},
	} {
		if got := jobLine(tt.job); got != tt.want {
			t.Errorf("jobLine = %q, want %q", got, tt.want)
		}
	}
}

func TestJobOutcome(t *testing.T) {
	zero, one := 0, 1
	if err := jobOutcome(tuplebroker.Job{ID: "g", State: tuplebroker.Finished, ExitCode: &zero}); err != nil {
		t.Errorf("Finished, exit 0: %v", err)
	}
	for _, tt := range []struct {
		job  tuplebroker.Job
		want string
	}{
		{tuplebroker.Job{ID: "g", State: tuplebroker.Finished, ExitCode: &one}, "job g Finished, exit code 1"},
		{tuplebroker.Job{ID: "g", State: tuplebroker.Finished}, "job g Finished, no exit code reported"},
		{tuplebroker.Job{ID: "g", State: tuplebroker.Failed, SubState: "max-attempts", Reason: "refused 5 times"},
			"job g Failed/max-attempts: refused 5 times"},
		{tuplebroker.Job{ID: "g", State: tuplebroker.Cancelled, SubState: "user-cancelled"}, "job g Cancelled/user-cancelled"},
	} {
		err := jobOutcome(tt.job)
		var ec cli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 1 || err.Error() != tt.want {
			t.Errorf("jobOutcome(%+v) = %v, want exit 1 with %q", tt.job, err, tt.want)
		}
	}
}

func TestWriteJobTable(t *testing.T) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))
	var b bytes.Buffer
	err := writeJobTable(&b, []tuplebroker.Job{
		{ID: "g2", State: tuplebroker.Running, SubState: "executing", Backend: "local", BackendJobID: "99", Created: created},
		{ID: "g1", State: tuplebroker.Pending},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "ID  STATE    SUB-STATE  BACKEND   CREATED\n" +
		"g2  Running  executing  local:99  2025-03-01T11:00:00Z\n" +
		"g1  Pending  -          -         -\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestDecodeJob(t *testing.T) {
	j, raw, err := decodeJob([]byte("{\n  \"id\": \"g\",\n  \"state\": \"Running\",\n  \"future_field\": 1\n}"))
	if err != nil || j.ID != "g" || j.State != tuplebroker.Running {
		t.Fatalf("decodeJob: %+v %v", j, err)
	}
	// --json prints the server's JSON as is, on one line.
	if got, want := string(raw), `{"id":"g","state":"Running","future_field":1}`; got != want {
		t.Errorf("raw %s, want %s", got, want)
	}
	if _, _, err := decodeJob([]byte("<html>")); err == nil {
		t.Error("decodeJob accepted HTML")
	}
}

func TestReadJSDL(t *testing.T) {
	b, err := readJSDL(strings.NewReader("<jsdl/>"), "-")
	if err != nil || string(b) != "<jsdl/>" {
		t.Errorf("stdin: %q %v", b, err)
	}
	if _, err := readJSDL(strings.NewReader(" \n"), "-"); err == nil || !strings.Contains(err.Error(), "stdin is empty") {
		t.Errorf("empty stdin: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope.jsdl")
	if _, err := readJSDL(nil, missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := readJSDL(bytes.NewReader(make([]byte, maxJSDL+1)), "-"); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("huge stdin: %v", err)
	}
}
