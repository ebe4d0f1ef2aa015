package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"tuplebroker"
	"tuplebroker/client"
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
	p := client.Problem{
		Type:   "https://tuplebroker.dev/problems/invalid-jsdl",
		Title:  "Invalid JSDL document",
		Status: 400,
		Detail: "the document is not valid JSDL 1.0",
		Errors: []client.FieldError{
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
	if got, want := renderProblem(404, client.Problem{}, ""), "error: 404 Not Found"; got != want {
		t.Errorf("no title: %q, want %q", got, want)
	}
	if got, want := renderProblem(599, client.Problem{}, ""), "error: 599"; got != want {
		t.Errorf("unknown status: %q, want %q", got, want)
	}
	// Escape sequences from the server do not reach the terminal.
	got = renderProblem(400, client.Problem{Title: "Bad\x1b[31m", Detail: "x\ny", Errors: []client.FieldError{{Path: "p\x07", Reason: "r"}}}, "")
	if strings.ContainsAny(got, "\x1b\x07") || strings.Count(got, "\n") != 1 {
		t.Errorf("control characters not cleaned: %q", got)
	}
}

// TestErrorAnswers: how error answers are shown, from what the client
// makes of a factory's (or a proxy's) body. The bodies that are no problem
// document cannot come from a real factory: a stand-in server sends them.
func TestErrorAnswers(t *testing.T) {
	answers := map[string]struct {
		status int
		ct     string
		body   string
	}{
		"unmet":    {422, "application/problem+json; charset=utf-8", `{"type":"https://tuplebroker.dev/problems/unservable","title":"Unservable requirements","status":422,"detail":"no agent can run it","unmet":["os=WINNT"]}`},
		"token":    {401, "application/problem+json", `{"title":"Unauthorized","status":401}`},
		"proxy":    {502, "text/html", "<html>Bad gateway</html>\n<body>..."},
		"badjson":  {500, "application/problem+json", "{not json"},
		"longtext": {503, "text/plain", strings.Repeat("z", 1000)},
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[path.Base(r.URL.Path)]
		w.Header().Set("Content-Type", a.ct)
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	defer ts.Close()
	urls, _ := parseURLs([]string{ts.URL})
	a, err := newAPIClient(urls[0], "tok", "/home/u/.config/tuplebroker/token", client.NewHTTPClient(2), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cli.NewContext(&cli.App{}, nil, nil)
	c.Command = &cli.Command{Name: "status"}
	c.Context = context.Background()
	shown := func(id string) string {
		t.Helper()
		_, err := a.Job(c.Context, id)
		err = a.fail(c, err)
		var ec cli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 1 {
			t.Fatalf("%s: %#v, want a cli.ExitCoder with code 1", id, err)
		}
		return err.Error()
	}
	if got, want := shown("unmet"), "error: 422 Unservable requirements: no agent can run it\n  unmet: os=WINNT"; got != want {
		t.Errorf("422: %q, want %q", got, want)
	}
	// 401 names where the token came from.
	if got := shown("token"); !strings.HasPrefix(got, "error: 401 Unauthorized\n") || !strings.Contains(got, a.tokenSource) {
		t.Errorf("401: %q", got)
	}
	// A body that is no problem document (a proxy's page).
	if got, want := shown("proxy"), "error: 502 Bad Gateway: <html>Bad gateway</html>"; got != want {
		t.Errorf("502: %q, want %q", got, want)
	}
	if got, want := shown("badjson"), "error: 500 Internal Server Error: {not json"; got != want {
		t.Errorf("bad problem JSON: %q, want %q", got, want)
	}
	if got := shown("longtext"); len(got) > 300 {
		t.Errorf("long body not cut: %d bytes", len(got))
	}
}

func TestExitError(t *testing.T) {
	c := cli.NewContext(&cli.App{}, nil, nil)
	c.Command = &cli.Command{Name: "submit"}
	c.Context = context.Background()
	ce := &client.Error{StatusCode: 409, Problem: client.Problem{Title: "Conflict", Detail: "same key, different document"}}
	err := exitError(c, fmt.Errorf("wrapped: %w", ce), "")
	var ec cli.ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != 1 {
		t.Fatalf("exitError(client.Error) = %#v, want a cli.ExitCoder with code 1", err)
	}
	if got, want := err.Error(), "error: 409 Conflict: same key, different document"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	var back *client.Error
	if !errors.As(err, &back) || back != ce {
		t.Error("the client.Error is not reachable with errors.As")
	}
	if !errors.Is(err, tuplebroker.ErrConflict) {
		t.Error("a 409 does not match tuplebroker.ErrConflict")
	}
	if got := exitError(c, errors.New("dial tcp: refused"), "").Error(); got != "submit: dial tcp: refused" {
		t.Errorf("plain error: %q", got)
	}
	// A request without an answer in time names the flag.
	te := &client.TimeoutError{Method: "POST", URL: "http://a/v1/jobs", Limit: 40 * time.Second}
	if got, want := exitError(c, fmt.Errorf("following job g: %w (gave up after 5 attempts)", te), "").Error(),
		"submit: following job g: POST http://a/v1/jobs: no answer within 40s (--timeout) (gave up after 5 attempts)"; got != want {
		t.Errorf("timeout: %q, want %q", got, want)
	}
	if exitError(c, nil, "") != nil {
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
