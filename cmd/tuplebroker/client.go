package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"tuplebroker"
)

const (
	defaultURL = "http://127.0.0.1:8080"
	envURL     = "TUPLEBROKER_URL"
	envToken   = "TUPLEBROKER_TOKEN"
	userAgent  = "tuplebroker-cli"

	// submitWait is the wait= of `submit`: how long the factory may hold
	// the POST for the job to be published (the factory's default).
	submitWait = 10 * time.Second
	// maxJSDL bounds a document read from a file or stdin; factories
	// refuse far smaller ones (413), this only avoids reading without end.
	maxJSDL = 16 << 20
	// maxResponse bounds a response body read into memory (1000 jobs of a
	// list are well under 1 MiB).
	maxResponse = 16 << 20
	// maxTokenFile bounds the token file read.
	maxTokenFile = 64 << 10
	// sseMinIdle is the least time an event stream may stay silent before
	// it is dropped and reopened: factories send a keepalive every 15 s.
	sseMinIdle = 20 * time.Second
	// followRetries is how many times in a row an event stream may fail
	// (without delivering a state) before following gives up.
	followRetries = 5
)

// clientCommands are the commands that speak the factory's HTTP API:
// submit, status, cancel, watch, jobs and bench.
func clientCommands() []*cli.Command {
	return hideHelp([]*cli.Command{
		{
			Name:      "submit",
			Usage:     "submit a JSDL job document to a factory",
			ArgsUsage: "FILE (- for stdin)",
			Description: `submit POSTs FILE to /v1/jobs and prints the job's id and state:
  ID STATE[/SUB-STATE] [backend BACKEND:BACKEND-JOB-ID]
(or, with --json, the job as JSON). The factory holds the request up to 10s
for the job to be hosted by a manager node (201), else answers 202.

With --wait, submit then follows the job's events, printing each state
change, until the job ends; it exits with status 0 only if the job Finished
with exit code 0.`,
			Flags: append(clientFlags(false),
				&cli.BoolFlag{Name: "wait", Usage: "follow the job until it ends; exit status 0 only if it Finished with exit code 0"},
				&cli.IntFlag{Name: "priority", Usage: "job priority, -1000..1000 (higher first)"},
				&cli.StringFlag{Name: "idempotency-key", Usage: "submitting again with the same key returns the same job instead of a new one"},
			),
			Action: runSubmit,
		},
		{
			Name:      "status",
			Usage:     "print a job's state",
			ArgsUsage: "ID",
			Flags:     clientFlags(false),
			Action:    runStatus,
		},
		{
			Name:      "cancel",
			Usage:     "cancel a job",
			ArgsUsage: "ID",
			Description: `cancel prints the job as the factory answers: Cancelled, or still
Pending or Running with sub-state cancel-requested until the backend
confirms. Cancelling a job that has ended fails (409).`,
			Flags:  clientFlags(false),
			Action: runCancel,
		},
		{
			Name:      "watch",
			Usage:     "print a job's state changes until it ends",
			ArgsUsage: "ID",
			Description: `watch follows /v1/jobs/ID/events and prints the current state, then
each change, until the job reaches a terminal state (Finished, Failed or
Cancelled). A dropped stream is reopened.`,
			Flags:  clientFlags(false),
			Action: runWatchJob,
		},
		{
			Name:  "jobs",
			Usage: "list your jobs, newest first",
			Flags: append(clientFlags(false),
				&cli.StringFlag{Name: "state", Usage: "only jobs in this state (Pending, Running, Finished, Failed, Cancelled)"},
				&cli.IntFlag{Name: "limit", Usage: "at most this many jobs (the factory's default: 100, max 1000)"},
			),
			Action: runJobs,
		},
		benchCommand(),
	})
}

// clientFlags are the flags every client command has. multiURL: --url
// may be repeated or list several comma-separated URLs (bench).
func clientFlags(multiURL bool) []cli.Flag {
	var urlFlag cli.Flag = &cli.StringFlag{
		Name:    "url",
		Usage:   "base URL of a factory (of a comma-separated list, the first)",
		Value:   defaultURL,
		EnvVars: []string{envURL},
	}
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print the job(s) as JSON, one object per line, instead of the human line"}
	if multiURL {
		jsonFlag.Usage = "print the report as one JSON object instead of a table"
		urlFlag = &cli.StringSliceFlag{
			Name:    "url",
			Usage:   "base URL of a factory; repeat it or separate URLs by commas to spread the requests round-robin",
			Value:   cli.NewStringSlice(defaultURL),
			EnvVars: []string{envURL},
		}
	}
	return []cli.Flag{
		urlFlag,
		&cli.StringFlag{
			Name:        "token",
			Usage:       "bearer token (visible to other local users in the process list: prefer $" + envToken + " or the token file)",
			DefaultText: "$" + envToken + ", else the contents of $XDG_CONFIG_HOME/tuplebroker/token or ~/.config/tuplebroker/token",
		},
		jsonFlag,
		&cli.DurationFlag{
			Name:  "timeout",
			Usage: "time limit of each request (a POST's may run wait= longer; an event stream is reopened after this long without data, at least 20s)",
			Value: 30 * time.Second,
		},
	}
}

// ---- configuration: URLs and token ----

// parseURLs parses --url values: each may hold several comma-separated
// URLs; blanks around them and empty items are ignored. Each must be an
// absolute http or https URL without query or fragment; a path is kept as
// the prefix of the API's routes.
func parseURLs(vals []string) ([]*url.URL, error) {
	var out []*url.URL
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !strings.Contains(s, "://") {
				return nil, fmt.Errorf("--url %q: want an http:// or https:// URL (http://%s?)", s, s)
			}
			u, err := url.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("--url %q: %w", s, err)
			}
			u.Scheme = strings.ToLower(u.Scheme)
			switch {
			case u.Scheme != "http" && u.Scheme != "https":
				return nil, fmt.Errorf("--url %q: want an http:// or https:// URL", s)
			case u.Host == "" || u.Hostname() == "":
				return nil, fmt.Errorf("--url %q: no host", s)
			case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
				return nil, fmt.Errorf("--url %q: a base URL has no query or fragment", s)
			}
			if p := u.Port(); p != "" {
				if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					return nil, fmt.Errorf("--url %q: bad port %q", s, p)
				}
			}
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--url: no URL given")
	}
	return out, nil
}

// urlsFromFlag parses the --url flag of c (a list if multi). An empty
// value (TUPLEBROKER_URL set but empty) stands for the default URL.
func urlsFromFlag(c *cli.Context, multi bool) ([]*url.URL, error) {
	vals := []string{c.String("url")}
	if multi {
		vals = c.StringSlice("url")
	}
	if strings.Trim(strings.Join(vals, ""), ", \t") == "" {
		vals = []string{defaultURL}
	}
	return parseURLs(vals)
}

// tokenPath is the token file: $XDG_CONFIG_HOME/tuplebroker/token, or
// ~/.config/tuplebroker/token when XDG_CONFIG_HOME is unset or relative
// (the XDG spec ignores a relative one).
func tokenPath(getenv func(string) string) (string, error) {
	if x := getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "tuplebroker", "token"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("cannot find the token file: $HOME and $XDG_CONFIG_HOME are not set")
	}
	return filepath.Join(home, ".config", "tuplebroker", "token"), nil
}

// resolveToken finds the bearer token: the --token value if given, else
// $TUPLEBROKER_TOKEN if set and not empty, else the token file's contents
// with surrounding blanks trimmed. It also returns where the token came
// from (for error hints). A missing or empty file is an error naming it.
func resolveToken(flagValue string, getenv func(string) string) (token, source string, err error) {
	switch {
	case flagValue != "":
		token, source = strings.TrimSpace(flagValue), "--token"
	case getenv(envToken) != "":
		token, source = strings.TrimSpace(getenv(envToken)), "$"+envToken
	default:
		path, err := tokenPath(getenv)
		if err != nil {
			return "", "", err
		}
		b, err := readFileLimited(path, maxTokenFile)
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("no token: --token is not given, $%s is not set, and the token file %s does not exist", envToken, path)
		}
		if err != nil {
			return "", "", fmt.Errorf("reading the token file: %w", err)
		}
		token, source = strings.TrimSpace(string(b)), path
	}
	if token == "" {
		return "", "", fmt.Errorf("no token: %s is empty", source)
	}
	if strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		return "", "", fmt.Errorf("the token in %s contains blanks, control or non-ASCII characters", source)
	}
	return token, source, nil
}

// readFileLimited reads path, failing if it holds more than limit bytes.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, limit, path)
}

// readLimited reads r to its end, failing if it holds more than limit
// bytes; what names r in the error.
func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, limit)
	}
	return b, nil
}

// ---- the API client ----

// apiClient talks to one factory.
type apiClient struct {
	base        *url.URL
	token       string
	tokenSource string
	hc          *http.Client
	timeout     time.Duration
	// notes gets remarks that are not results (reconnections); may be nil.
	notes io.Writer
}

// newHTTPClient returns a client whose transport keeps up to conns idle
// connections per host, so that conns concurrent requests reuse their
// connections. It does not follow redirects: the API has none, and a POST
// must not turn into a GET.
func newHTTPClient(conns int) *http.Client {
	conns = max(conns, 2)
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(conns, 100),
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// clientFromFlags builds the client of a single-factory command from its
// flags.
func clientFromFlags(c *cli.Context) (*apiClient, error) {
	urls, err := urlsFromFlag(c, false)
	if err != nil {
		return nil, err
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: want a positive duration", timeout)
	}
	token, source, err := resolveToken(c.String("token"), os.Getenv)
	if err != nil {
		return nil, err
	}
	return &apiClient{
		base: urls[0], token: token, tokenSource: source, hc: newHTTPClient(2),
		timeout: timeout, notes: c.App.ErrWriter,
	}, nil
}

// endpoint is the URL of the route segs (each path-escaped) under the
// base URL, with query q.
func (a *apiClient) endpoint(q url.Values, segs ...string) string {
	u := *a.base
	p := strings.TrimSuffix(u.Path, "/")
	rp := strings.TrimSuffix(u.EscapedPath(), "/")
	for _, s := range segs {
		p += "/" + s
		rp += "/" + url.PathEscape(s)
	}
	u.Path, u.RawPath, u.RawQuery = p, rp, q.Encode()
	return u.String()
}

// newRequest makes an authenticated request; hdr is copied.
func (a *apiClient) newRequest(ctx context.Context, method, target string, hdr http.Header, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	for k, vs := range hdr {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// response is a complete answer of the API.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends one request and reads its answer, within --timeout plus extra
// (the time the factory may legitimately hold it, wait=). Any status is
// returned as a response; an error is a transport error.
func (a *apiClient) do(ctx context.Context, method string, q url.Values, hdr http.Header, body []byte, extra time.Duration, segs ...string) (response, error) {
	limit := a.timeout + extra
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	target := a.endpoint(q, segs...)
	req, err := a.newRequest(rctx, method, target, hdr, body)
	if err != nil {
		return response{}, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return response{}, a.transportError(ctx, rctx, method, target, limit, err)
	}
	defer resp.Body.Close()
	b, err := readLimited(resp.Body, maxResponse, "the response to "+method+" "+target)
	if err != nil {
		return response{}, a.transportError(ctx, rctx, method, target, limit, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// transportError describes a failed exchange: a deadline of ours says so
// by name instead of as "context deadline exceeded".
func (a *apiClient) transportError(parent, rctx context.Context, method, target string, limit time.Duration, err error) error {
	if parent.Err() == nil && rctx.Err() != nil {
		return fmt.Errorf("%s %s: no answer within %s (--timeout)", method, target, limit)
	}
	if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
		err = uerr.Err // the URL is already in our message
	}
	return fmt.Errorf("%s %s: %w", method, target, err)
}

// ---- errors ----

// problem is an RFC 9457 problem document as the factory sends it.
type problem struct {
	Type     string         `json:"type,omitempty"`
	Title    string         `json:"title,omitempty"`
	Status   int            `json:"status,omitempty"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Errors   []problemError `json:"errors,omitempty"`
	Unmet    []string       `json:"unmet,omitempty"`
}

// problemError is one item of a problem's errors[]: a JSDL element path
// and what is wrong there.
type problemError struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// apiError is an answer with an unexpected status.
type apiError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Problem is the problem document, or, if the body was none, a
	// problem with the body's first line as detail.
	Problem problem
	// Hint is an extra line of advice; may be empty.
	Hint string
}

func (e *apiError) Error() string { return renderProblem(e.Status, e.Problem, e.Hint) }

// renderProblem formats an error answer for a terminal:
//
//	error: <status> <title>: <detail>
//	  <path>: <reason>        (each errors[] item)
//	  unmet: <req>, <req>     (if any)
//	  <hint>                  (if any)
//
// Text from the server is stripped of control characters.
func renderProblem(status int, p problem, hint string) string {
	var b strings.Builder
	title := p.Title
	if title == "" {
		title = http.StatusText(status)
	}
	fmt.Fprintf(&b, "error: %d", status)
	if title != "" {
		b.WriteString(" " + clean(title))
	}
	if p.Detail != "" {
		b.WriteString(": " + clean(p.Detail))
	}
	for _, e := range p.Errors {
		path := e.Path
		if path == "" {
			path = "(document)"
		}
		fmt.Fprintf(&b, "\n  %s: %s", clean(path), clean(e.Reason))
	}
	if len(p.Unmet) > 0 {
		unmet := make([]string, len(p.Unmet))
		for i, u := range p.Unmet {
			unmet[i] = clean(u)
		}
		b.WriteString("\n  unmet: " + strings.Join(unmet, ", "))
	}
	if hint != "" {
		b.WriteString("\n  " + hint)
	}
	return b.String()
}

// errorFrom makes the apiError of an answer with an unexpected status.
func (a *apiClient) errorFrom(r response) *apiError {
	e := &apiError{Status: r.Status}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	parsed := false
	if mt == "application/problem+json" || mt == "application/json" {
		parsed = json.Unmarshal(r.Body, &e.Problem) == nil
	}
	if !parsed {
		e.Problem = problem{}
		line, _, _ := strings.Cut(strings.TrimSpace(string(r.Body)), "\n")
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		e.Problem.Detail = line
	}
	if r.Status == http.StatusUnauthorized {
		e.Hint = "hint: the token came from " + a.tokenSource + " (see --token)"
	}
	return e
}

// exitError turns an error into the command's result: an API error exits
// with status 1 and the rendered problem as message; others are wrapped
// with the command's name.
func exitError(c *cli.Context, err error) error {
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return cli.Exit(ae, 1)
	}
	if errors.Is(err, context.Canceled) && c.Context.Err() != nil {
		return fmt.Errorf("%s: interrupted", c.Command.Name)
	}
	return fmt.Errorf("%s: %w", c.Command.Name, err)
}

// clean makes server-provided text safe to print on a terminal: invalid
// UTF-8 and control characters (escape sequences included) become U+FFFD.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, s)
}

// ---- jobs ----

// decodeJob decodes a Job answer, keeping the raw JSON (for --json).
func decodeJob(b []byte) (tuplebroker.Job, []byte, error) {
	var j tuplebroker.Job
	if err := json.Unmarshal(b, &j); err != nil {
		return j, nil, fmt.Errorf("decoding the job: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return j, nil, fmt.Errorf("decoding the job: %w", err)
	}
	return j, buf.Bytes(), nil
}

// jobLine is the human form of a job:
//
//	<id> <state>[/<sub_state>] [backend <backend>:<backend_job_id>]
//
// followed, when known, by exit=<code> and reason=<quoted reason>.
func jobLine(j tuplebroker.Job) string {
	var b strings.Builder
	b.WriteString(clean(j.ID) + " " + clean(string(j.State)))
	if j.SubState != "" {
		b.WriteString("/" + clean(j.SubState))
	}
	if j.Backend != "" || j.BackendJobID != "" {
		b.WriteString(" backend " + clean(j.Backend))
		if j.BackendJobID != "" {
			b.WriteString(":" + clean(j.BackendJobID))
		}
	}
	if j.ExitCode != nil {
		fmt.Fprintf(&b, " exit=%d", *j.ExitCode)
	}
	if j.Reason != "" {
		b.WriteString(" reason=" + strconv.Quote(j.Reason))
	}
	return b.String()
}

// printJob prints a job as a human line or, asJSON, as its raw JSON.
func printJob(w io.Writer, asJSON bool, j tuplebroker.Job, raw []byte) error {
	var err error
	if asJSON {
		_, err = fmt.Fprintf(w, "%s\n", raw)
	} else {
		_, err = fmt.Fprintln(w, jobLine(j))
	}
	return err
}

// jobOutcome is nil for a job that Finished with exit code 0, else the
// exit-status-1 error explaining how it ended.
func jobOutcome(j tuplebroker.Job) error {
	if j.State == tuplebroker.Finished && j.ExitCode != nil && *j.ExitCode == 0 {
		return nil
	}
	msg := "job " + clean(j.ID) + " " + clean(string(j.State))
	if j.SubState != "" {
		msg += "/" + clean(j.SubState)
	}
	if j.ExitCode != nil {
		msg += fmt.Sprintf(", exit code %d", *j.ExitCode)
	} else if j.State == tuplebroker.Finished {
		msg += ", no exit code reported"
	}
	if j.Reason != "" {
		msg += ": " + clean(j.Reason)
	}
	return cli.Exit(msg, 1)
}

// oneArg returns the command's single argument, described by what;
// flags after it are a common mistake worth naming.
func oneArg(c *cli.Context, what string) (string, error) {
	args := c.Args().Slice()
	if len(args) > 1 {
		for _, a := range args[1:] {
			if len(a) > 1 && strings.HasPrefix(a, "-") {
				return "", fmt.Errorf("%s: flags go before %s", c.Command.Name, what)
			}
		}
	}
	if len(args) != 1 || args[0] == "" {
		return "", fmt.Errorf("%s: want exactly one argument, %s", c.Command.Name, what)
	}
	return args[0], nil
}

// jobArg is the command's job ID argument.
func jobArg(c *cli.Context) (string, error) {
	id, err := oneArg(c, "the job ID")
	if err != nil {
		return "", err
	}
	if id == "." || id == ".." {
		return "", fmt.Errorf("%s: %q is not a job ID", c.Command.Name, id)
	}
	return id, nil
}

// readJSDL reads the document to submit: the file name, or stdin for "-".
func readJSDL(stdin io.Reader, name string) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if name == "-" {
		b, err = readLimited(stdin, maxJSDL, "stdin")
	} else {
		b, err = readFileLimited(name, maxJSDL)
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if name == "-" {
			name = "stdin"
		}
		return nil, fmt.Errorf("%s is empty", name)
	}
	return b, nil
}

// ---- commands ----

func runSubmit(c *cli.Context) error {
	name, err := oneArg(c, "the JSDL FILE (- for stdin)")
	if err != nil {
		return err
	}
	a, err := clientFromFlags(c)
	if err != nil {
		return exitError(c, err)
	}
	body, err := readJSDL(c.App.Reader, name)
	if err != nil {
		return exitError(c, err)
	}
	hdr := http.Header{"Content-Type": {"application/xml"}}
	if c.IsSet("priority") {
		hdr.Set("Priority", strconv.Itoa(c.Int("priority")))
	}
	if c.IsSet("idempotency-key") {
		hdr.Set("Idempotency-Key", c.String("idempotency-key"))
	}
	q := url.Values{"wait": {submitWait.String()}}
	r, err := a.do(c.Context, http.MethodPost, q, hdr, body, submitWait, "v1", "jobs")
	if err != nil {
		return exitError(c, err)
	}
	if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
		return exitError(c, a.errorFrom(r))
	}
	job, raw, err := decodeJob(r.Body)
	if err != nil {
		return exitError(c, err)
	}
	asJSON := c.Bool("json")
	if err := printJob(c.App.Writer, asJSON, job, raw); err != nil {
		return err
	}
	if !c.Bool("wait") {
		return nil
	}
	if !job.State.Terminal() {
		last := job
		job, err = a.follow(c.Context, job.ID, func(j tuplebroker.Job, raw []byte) error {
			if !j.Changed(last) {
				return nil
			}
			last = j
			return printJob(c.App.Writer, asJSON, j, raw)
		})
		if err != nil {
			return exitError(c, err)
		}
	}
	return jobOutcome(job)
}

func runStatus(c *cli.Context) error { return jobRequest(c, http.MethodGet) }

func runCancel(c *cli.Context) error { return jobRequest(c, http.MethodDelete) }

// jobRequest sends method to /v1/jobs/ID and prints the job it answers.
func jobRequest(c *cli.Context, method string) error {
	id, err := jobArg(c)
	if err != nil {
		return err
	}
	a, err := clientFromFlags(c)
	if err != nil {
		return exitError(c, err)
	}
	r, err := a.do(c.Context, method, nil, nil, nil, 0, "v1", "jobs", id)
	if err != nil {
		return exitError(c, err)
	}
	if r.Status != http.StatusOK {
		return exitError(c, a.errorFrom(r))
	}
	job, raw, err := decodeJob(r.Body)
	if err != nil {
		return exitError(c, err)
	}
	return printJob(c.App.Writer, c.Bool("json"), job, raw)
}

func runWatchJob(c *cli.Context) error {
	id, err := jobArg(c)
	if err != nil {
		return err
	}
	a, err := clientFromFlags(c)
	if err != nil {
		return exitError(c, err)
	}
	var (
		last    tuplebroker.Job
		printed bool
	)
	_, err = a.follow(c.Context, id, func(j tuplebroker.Job, raw []byte) error {
		if printed && !j.Changed(last) {
			return nil
		}
		last, printed = j, true
		return printJob(c.App.Writer, c.Bool("json"), j, raw)
	})
	return exitError(c, err)
}

func runJobs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("jobs: unexpected arguments %q", c.Args().Slice())
	}
	a, err := clientFromFlags(c)
	if err != nil {
		return exitError(c, err)
	}
	q := url.Values{}
	if c.IsSet("state") {
		q.Set("state", c.String("state"))
	}
	if c.IsSet("limit") {
		if c.Int("limit") < 1 {
			return fmt.Errorf("jobs: --limit %d: want at least 1", c.Int("limit"))
		}
		q.Set("limit", strconv.Itoa(c.Int("limit")))
	}
	r, err := a.do(c.Context, http.MethodGet, q, nil, nil, 0, "v1", "jobs")
	if err != nil {
		return exitError(c, err)
	}
	if r.Status != http.StatusOK {
		return exitError(c, a.errorFrom(r))
	}
	var list struct {
		Jobs []json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(r.Body, &list); err != nil {
		return exitError(c, fmt.Errorf("decoding the job list: %w", err))
	}
	jobs := make([]tuplebroker.Job, len(list.Jobs))
	raws := make([][]byte, len(list.Jobs))
	for i, m := range list.Jobs {
		if jobs[i], raws[i], err = decodeJob(m); err != nil {
			return exitError(c, err)
		}
	}
	if c.Bool("json") {
		for i := range jobs {
			if err := printJob(c.App.Writer, true, jobs[i], raws[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return writeJobTable(c.App.Writer, jobs)
}

// writeJobTable prints jobs as a table: id, state, sub-state, backend
// (backend:backend-job-id) and creation time (UTC); "-" for unknowns.
func writeJobTable(w io.Writer, jobs []tuplebroker.Job) error {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return clean(s)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSUB-STATE\tBACKEND\tCREATED")
	for _, j := range jobs {
		backend := j.Backend
		if j.BackendJobID != "" {
			backend += ":" + j.BackendJobID
		}
		created := "-"
		if !j.Created.IsZero() {
			created = j.Created.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(j.ID), dash(string(j.State)), dash(j.SubState), dash(backend), created)
	}
	return tw.Flush()
}

// ---- following a job's events ----

// errFollowDone ends the reading of an event stream at a terminal state.
var errFollowDone = errors.New("terminal state reached")

// follow reads the job's event stream (GET /v1/jobs/{id}/events) and calls
// fn with each state event's job and raw JSON until a terminal state,
// which it returns. The first event is the current state; a stream that
// ends or fails before the terminal state is reopened (after a growing
// pause; the factory then sends the current state again, so fn may see a
// state twice) until followRetries attempts in a row failed. 4xx answers
// (404: no such job) are not retried and come back as *apiError.
func (a *apiClient) follow(ctx context.Context, id string, fn func(tuplebroker.Job, []byte) error) (tuplebroker.Job, error) {
	var (
		final       tuplebroker.Job
		done        bool
		fnErr       error
		lastEventID string
		fails       int
	)
	onEvent := func(ev sseEvent) error {
		lastEventID = ev.ID
		if ev.Type != "state" {
			return nil
		}
		j, raw, err := decodeJob([]byte(ev.Data))
		if err != nil {
			return fmt.Errorf("event %q: %w", ev.ID, err)
		}
		fails = 0
		if err := fn(j, raw); err != nil {
			fnErr = err
			return err
		}
		if j.State.Terminal() {
			final, done = j, true
			return errFollowDone
		}
		return nil
	}
	for {
		err := a.stream(ctx, id, lastEventID, onEvent)
		switch {
		case done:
			return final, nil
		case fnErr != nil:
			return tuplebroker.Job{}, fnErr
		case ctx.Err() != nil:
			return tuplebroker.Job{}, ctx.Err()
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests &&
			ae.Status != http.StatusRequestTimeout {
			return tuplebroker.Job{}, err
		}
		if err == nil {
			err = errors.New("the event stream ended before the job did")
		}
		fails++
		if fails >= followRetries {
			return tuplebroker.Job{}, fmt.Errorf("following job %s: %w (gave up after %d attempts)", id, err, fails)
		}
		pause := min(250*time.Millisecond<<fails, 5*time.Second)
		if a.notes != nil {
			fmt.Fprintf(a.notes, "tuplebroker: following job %s: %s; reopening in %s\n", clean(id), clean(err.Error()), pause)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return tuplebroker.Job{}, ctx.Err()
		case <-t.C:
		}
	}
}

// stream opens the event stream of job id once and hands its events to
// onEvent until it ends. The answer must come within --timeout; the stream
// is dropped when silent for max(--timeout, sseMinIdle).
func (a *apiClient) stream(ctx context.Context, id, lastEventID string, onEvent func(sseEvent) error) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(a.timeout, cancel)
	defer watchdog.Stop()

	target := a.endpoint(nil, "v1", "jobs", id, "events")
	hdr := http.Header{"Accept": {"text/event-stream"}, "Cache-Control": {"no-cache"}}
	if lastEventID != "" {
		hdr.Set("Last-Event-ID", lastEventID)
	}
	req, err := a.newRequest(sctx, http.MethodGet, target, hdr, nil)
	if err != nil {
		return err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return a.transportError(ctx, sctx, http.MethodGet, target, a.timeout, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, err := readLimited(resp.Body, maxResponse, "the response to GET "+target)
		if err != nil {
			return a.transportError(ctx, sctx, http.MethodGet, target, a.timeout, err)
		}
		return a.errorFrom(response{Status: resp.StatusCode, Header: resp.Header, Body: b})
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("GET %s: answered %q, not an event stream", target, clean(resp.Header.Get("Content-Type")))
	}
	idle := max(a.timeout, sseMinIdle)
	watchdog.Reset(idle)
	body := &idleReader{ReadCloser: resp.Body, t: watchdog, d: idle}
	err = readSSE(sctx, body, sseDefaultLimit, onEvent)
	if errors.Is(err, errFollowDone) {
		return nil
	}
	if ctx.Err() == nil && sctx.Err() != nil {
		return fmt.Errorf("GET %s: no data for %s", target, idle)
	}
	return err
}

// idleReader pushes its timer back by d on every read that returns data.
type idleReader struct {
	io.ReadCloser
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}
