package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	"tuplebroker/client"
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
	// maxTokenFile bounds the token file read.
	maxTokenFile = 64 << 10
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

// apiClient is a client command's view of one factory.
type apiClient struct {
	*client.Client
	// tokenSource says where the token came from (for error hints).
	tokenSource string
	// notes gets remarks that are not results (reconnections); may be nil.
	notes io.Writer
}

// newAPIClient makes the client of the factory at u.
func newAPIClient(u *url.URL, token, tokenSource string, hc *http.Client, timeout time.Duration, notes io.Writer) (*apiClient, error) {
	c, err := client.New(u.String(), token, client.WithHTTPClient(hc), client.WithTimeout(timeout), client.WithUserAgent(userAgent))
	if err != nil {
		return nil, err
	}
	return &apiClient{Client: c, tokenSource: tokenSource, notes: notes}, nil
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
	return newAPIClient(urls[0], token, source, client.NewHTTPClient(2), timeout, c.App.ErrWriter)
}

// ---- errors ----

// apiError is an error answer as the CLI shows it.
type apiError struct {
	err *client.Error
	// hint is an extra line of advice; may be empty.
	hint string
}

func (e *apiError) Error() string { return renderProblem(e.err.StatusCode, e.err.Problem, e.hint) }

func (e *apiError) Unwrap() error { return e.err }

// renderProblem formats an error answer for a terminal:
//
//	error: <status> <title>: <detail>
//	  <path>: <reason>        (each errors[] item)
//	  unmet: <req>, <req>     (if any)
//	  <hint>                  (if any)
//
// Text from the server is stripped of control characters.
func renderProblem(status int, p client.Problem, hint string) string {
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

// message is err's text for a terminal: a request that timed out says
// which flag set its limit, and control characters are cleaned.
func message(err error) string {
	msg := err.Error()
	if te := (*client.TimeoutError)(nil); errors.As(err, &te) {
		msg = strings.Replace(msg, te.Error(), te.Error()+" (--timeout)", 1)
	}
	return clean(msg)
}

// described is an error shown with another text.
type described struct {
	msg string
	err error
}

func (d *described) Error() string { return d.msg }

func (d *described) Unwrap() error { return d.err }

// exitError turns an error into the command's result: an error answer of
// the API exits with status 1 and the rendered problem as message (a 401
// hints at tokenSource, if known); others are prefixed with the command's
// name.
func exitError(c *cli.Context, err error, tokenSource string) error {
	if err == nil {
		return nil
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		ae := &apiError{err: ce}
		if ce.StatusCode == http.StatusUnauthorized && tokenSource != "" {
			ae.hint = "hint: the token came from " + tokenSource + " (see --token)"
		}
		return cli.Exit(ae, 1)
	}
	if errors.Is(err, context.Canceled) && c.Context.Err() != nil {
		return fmt.Errorf("%s: interrupted", c.Command.Name)
	}
	return &described{msg: c.Command.Name + ": " + message(err), err: err}
}

// fail is exitError for a command whose client is a.
func (a *apiClient) fail(c *cli.Context, err error) error { return exitError(c, err, a.tokenSource) }

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
		return exitError(c, err, "")
	}
	body, err := readJSDL(c.App.Reader, name)
	if err != nil {
		return a.fail(c, err)
	}
	opts := client.SubmitOptions{Wait: submitWait}
	if c.IsSet("priority") {
		opts.Priority = c.Int("priority")
	}
	if c.IsSet("idempotency-key") {
		opts.IdempotencyKey = c.String("idempotency-key")
	}
	var raw []json.RawMessage
	s, err := a.Submit(c.Context, body, opts, client.RawJSON(&raw))
	if err != nil {
		return a.fail(c, err)
	}
	job := s.Job
	asJSON := c.Bool("json")
	if err := printJob(c.App.Writer, asJSON, job, raw[0]); err != nil {
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
			return a.fail(c, err)
		}
	}
	return jobOutcome(job)
}

func runStatus(c *cli.Context) error { return jobRequest(c, (*apiClient).Job) }

func runCancel(c *cli.Context) error { return jobRequest(c, (*apiClient).Cancel) }

// jobCall is a call on one job: Job or Cancel.
type jobCall func(a *apiClient, ctx context.Context, id string, opts ...client.CallOption) (tuplebroker.Job, error)

// jobRequest makes call on the job ID argument and prints the job it
// answers.
func jobRequest(c *cli.Context, call jobCall) error {
	id, err := jobArg(c)
	if err != nil {
		return err
	}
	a, err := clientFromFlags(c)
	if err != nil {
		return exitError(c, err, "")
	}
	var raw []json.RawMessage
	job, err := call(a, c.Context, id, client.RawJSON(&raw))
	if err != nil {
		return a.fail(c, err)
	}
	return printJob(c.App.Writer, c.Bool("json"), job, raw[0])
}

func runWatchJob(c *cli.Context) error {
	id, err := jobArg(c)
	if err != nil {
		return err
	}
	a, err := clientFromFlags(c)
	if err != nil {
		return exitError(c, err, "")
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
	return a.fail(c, err)
}

func runJobs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("jobs: unexpected arguments %q", c.Args().Slice())
	}
	a, err := clientFromFlags(c)
	if err != nil {
		return exitError(c, err, "")
	}
	var f client.Filter
	if c.IsSet("state") {
		f.State = tuplebroker.JobState(c.String("state"))
	}
	if c.IsSet("limit") {
		if c.Int("limit") < 1 {
			return fmt.Errorf("jobs: --limit %d: want at least 1", c.Int("limit"))
		}
		f.Limit = c.Int("limit")
	}
	var raws []json.RawMessage
	jobs, err := a.Jobs(c.Context, f, client.RawJSON(&raws))
	if err != nil {
		return a.fail(c, err)
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

// follow reads the job's events and calls fn with each state's job and raw
// JSON until a terminal state, which it returns. The first event is the
// current state; a dropped stream is reopened (fn may then see a state
// twice), each reopening noted on a.notes. Error answers come back as
// *client.Error.
func (a *apiClient) follow(ctx context.Context, id string, fn func(tuplebroker.Job, []byte) error) (tuplebroker.Job, error) {
	note := client.OnReconnect(func(err error, pause time.Duration) {
		if a.notes != nil {
			fmt.Fprintf(a.notes, "tuplebroker: following job %s: %s; reopening in %s\n", clean(id), message(err), pause)
		}
	})
	for ev, err := range a.Events(ctx, id, note) {
		if err != nil {
			return tuplebroker.Job{}, err
		}
		if err := fn(ev.Job, ev.Raw); err != nil {
			return tuplebroker.Job{}, err
		}
		if ev.State.Terminal() {
			return ev.Job, nil
		}
	}
	return tuplebroker.Job{}, errors.New("the event stream ended before the job did")
}
