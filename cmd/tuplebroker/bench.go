package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"tuplebroker/client"
	"tuplebroker/space"

	"github.com/urfave/cli/v2"
)

// helloJSDL is bench's default document: run /bin/true.
const helloJSDL = `<?xml version="1.0" encoding="UTF-8"?>
<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"
                    xmlns:jsdl-posix="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix">
  <jsdl:JobDescription>
    <jsdl:JobIdentification>
      <jsdl:JobName>tuplebroker-bench</jsdl:JobName>
    </jsdl:JobIdentification>
    <jsdl:Application>
      <jsdl-posix:POSIXApplication>
        <jsdl-posix:Executable>/bin/true</jsdl-posix:Executable>
      </jsdl-posix:POSIXApplication>
    </jsdl:Application>
  </jsdl:JobDescription>
</jsdl:JobDefinition>
`

// progressEvery is the least time between two progress lines (4 per s).
const progressEvery = 250 * time.Millisecond

// noBackend names, in the backend distribution, the jobs no backend had
// taken when the factory answered.
const noBackend = "(none)"

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "submit many jobs and report the factories' throughput and latency",
		Description: `bench POSTs --jobs documents, --concurrency at a time, round-robin over
the --url factories, and measures each POST's latency until its 201 or 202.
It reports jobs/s (accepted jobs per second of the run), latency percentiles
of the accepted POSTs, the answers by status ("error": no answer) and the
jobs per backend (from the answers' backend field; a 202 often has none yet:
--resolve asks for those jobs again once all POSTs are done).
A progress line goes to stderr, the report to stdout (--json: one JSON
object). The exit status is 1 if any POST failed.`,
		Flags: append(clientFlags(true),
			&cli.IntFlag{Name: "jobs", Usage: "number of jobs to submit", Value: 100},
			&cli.IntFlag{Name: "concurrency", Usage: "POSTs in flight at once", Value: 8},
			&cli.StringFlag{Name: "jsdl", Usage: "submit this JSDL file (- for stdin)", DefaultText: "a built-in document running /bin/true"},
			&cli.IntFlag{Name: "priority", Usage: "priority of the jobs, -1000..1000"},
			&cli.DurationFlag{Name: "wait", Usage: "the wait= of each POST: how long a factory may hold it for a 201", Value: submitWait},
			&cli.Float64Flag{Name: "rate", Usage: "submit at this many jobs/s in all (open loop, paced); 0: as fast as the concurrency allows"},
			&cli.StringFlag{Name: "kv-baseline", Usage: "NATS URL of the pool: also measure raw JetStream KV puts there (file storage, same server) in the same run, as the baseline the jobs/s is compared with"},
			&cli.StringFlag{Name: "bucket", Usage: "the space's bucket, for counting the writes per job (with --kv-baseline)", Value: "tuples"},
			&cli.BoolFlag{Name: "resolve", Usage: "after the run, GET each job answered without a backend once, to count it under the backend it has by then"},
		),
		Action: runBench,
	}
}

// benchConfig is one benchmark run.
type benchConfig struct {
	// Targets are the factories, one client each (sharing one
	// http.Client); job i goes to Targets[i%len(Targets)].
	Targets     []*apiClient
	Jobs        int
	Concurrency int
	Body        []byte
	Priority    *int
	Wait        time.Duration
	Resolve     bool
	// Rate paces the submissions (jobs/s in all); 0: unpaced.
	Rate float64
	// Progress gets the progress line; nil: none.
	Progress io.Writer
}

// benchResult is the outcome of one POST.
type benchResult struct {
	Done    bool // false: never sent, or interrupted
	Status  int  // 0: no answer (Err says why)
	Latency time.Duration
	ID      string
	Backend string
	Err     string // why the POST failed, for the samples
}

func (r benchResult) accepted() bool {
	return r.Status == http.StatusCreated || r.Status == http.StatusAccepted
}

// benchReport is what bench prints (--json: as is).
type benchReport struct {
	Jobs           int            `json:"jobs"` // requested
	Sent           int            `json:"sent"` // POSTs answered or failed
	Accepted       int            `json:"accepted"`
	Errors         int            `json:"errors"`
	Interrupted    bool           `json:"interrupted,omitempty"`
	Concurrency    int            `json:"concurrency"`
	URLs           []string       `json:"urls"`
	ElapsedSeconds float64        `json:"elapsed_seconds"`
	JobsPerSecond  float64        `json:"jobs_per_second"`
	LatencyMS      latencyReport  `json:"latency_ms"`
	Status         map[string]int `json:"status"`   // "201", "202", "503"..., "error": no answer
	Backends       map[string]int `json:"backends"` // "(none)": not yet on a backend
	Resolved       int            `json:"resolved,omitempty"`
	Rate           float64        `json:"rate,omitempty"`
	KV             *kvBaseline    `json:"kv_baseline,omitempty"`
	WritesPerJob   float64        `json:"writes_per_job,omitempty"`
	ErrorSamples   []string       `json:"error_samples,omitempty"`
}

// latencyReport holds the latency percentiles of the accepted POSTs, in
// milliseconds.
type latencyReport struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func runBench(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", c.Args().Slice())
	}
	cfg, err := benchConfigFrom(c)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	cfg.Progress = c.App.ErrWriter
	var kv *kvBaseline
	if u := c.String("kv-baseline"); u != "" {
		if kv, err = measureKV(c.Context, u); err != nil {
			return fmt.Errorf("bench: --kv-baseline: %w", err)
		}
	}
	var seq0 uint64
	if u := c.String("kv-baseline"); u != "" {
		if seq0, err = space.LastSequence(c.Context, u, c.String("bucket")); err != nil {
			return fmt.Errorf("bench: count writes: %w", err)
		}
	}
	rep := runBenchmark(c.Context, cfg)
	rep.KV = kv
	if u := c.String("kv-baseline"); u != "" && rep.Accepted > 0 {
		if seq1, err := space.LastSequence(c.Context, u, c.String("bucket")); err == nil {
			rep.WritesPerJob = float64(seq1-seq0) / float64(rep.Accepted)
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := writeBenchReport(c.App.Writer, rep); err != nil {
		return err
	}
	switch {
	case rep.Interrupted:
		return fmt.Errorf("bench: interrupted after %d of %d POSTs", rep.Sent, rep.Jobs)
	case rep.Errors > 0:
		return cli.Exit(fmt.Sprintf("bench: %d of %d POSTs failed", rep.Errors, rep.Sent), 1)
	}
	return nil
}

func benchConfigFrom(c *cli.Context) (benchConfig, error) {
	cfg := benchConfig{Jobs: c.Int("jobs"), Concurrency: c.Int("concurrency"), Wait: c.Duration("wait"), Resolve: c.Bool("resolve"), Rate: c.Float64("rate")}
	switch {
	case cfg.Rate < 0:
		return cfg, fmt.Errorf("--rate %v: want 0 or more", cfg.Rate)
	case cfg.Jobs < 1:
		return cfg, fmt.Errorf("--jobs %d: want at least 1", cfg.Jobs)
	case cfg.Concurrency < 1:
		return cfg, fmt.Errorf("--concurrency %d: want at least 1", cfg.Concurrency)
	case cfg.Wait < 0:
		return cfg, fmt.Errorf("--wait %s: want 0 or more", cfg.Wait)
	case c.Duration("timeout") <= 0:
		return cfg, fmt.Errorf("--timeout %s: want a positive duration", c.Duration("timeout"))
	}
	cfg.Concurrency = min(cfg.Concurrency, cfg.Jobs)
	if c.IsSet("priority") {
		p := c.Int("priority")
		cfg.Priority = &p
	}
	cfg.Body = []byte(helloJSDL)
	if name := c.String("jsdl"); name != "" {
		b, err := readJSDL(c.App.Reader, name)
		if err != nil {
			return cfg, fmt.Errorf("--jsdl: %w", err)
		}
		cfg.Body = b
	}
	urls, err := urlsFromFlag(c, true)
	if err != nil {
		return cfg, err
	}
	token, source, err := resolveToken(c.String("token"), os.Getenv)
	if err != nil {
		return cfg, err
	}
	hc := client.NewHTTPClient(cfg.Concurrency)
	for _, u := range urls {
		a, err := newAPIClient(u, token, source, hc, c.Duration("timeout"), nil)
		if err != nil {
			return cfg, err
		}
		cfg.Targets = append(cfg.Targets, a)
	}
	return cfg, nil
}

// runBenchmark runs cfg and reports. When ctx ends it stops sending, and
// reports what was answered before (Interrupted).
func runBenchmark(ctx context.Context, cfg benchConfig) benchReport {
	results := make([]benchResult, cfg.Jobs)
	opts := client.SubmitOptions{Wait: cfg.Wait}
	if cfg.Wait == 0 {
		opts.Wait = client.NoWait
	}
	if cfg.Priority != nil {
		opts.Priority = *cfg.Priority
	}

	var (
		next, sent, accepted, failed atomic.Int64
		wg                           sync.WaitGroup
	)
	start := time.Now()
	stopProgress := startProgress(cfg.Progress, cfg.Jobs, start, &sent, &accepted, &failed)
	for range cfg.Concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Jobs || ctx.Err() != nil {
					return
				}
				if cfg.Rate > 0 { // job i is due at start + i/rate
					due := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
					select {
					case <-time.After(time.Until(due)):
					case <-ctx.Done():
						return
					}
				}
				r := postOnce(ctx, cfg.Targets[i%len(cfg.Targets)], cfg.Body, opts)
				if !r.Done {
					return // interrupted
				}
				results[i] = r
				sent.Add(1)
				if r.accepted() {
					accepted.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	rep := summarize(results, elapsed)
	rep.Jobs, rep.Concurrency, rep.Rate = cfg.Jobs, cfg.Concurrency, cfg.Rate
	rep.Interrupted = ctx.Err() != nil && rep.Sent < cfg.Jobs
	for _, t := range cfg.Targets {
		rep.URLs = append(rep.URLs, t.URL().Redacted())
	}
	if cfg.Resolve && !rep.Interrupted {
		rep.Resolved = resolveBackends(ctx, cfg, results)
		rep.Backends = backendCounts(results)
	}
	return rep
}

// postOnce sends one job; Done is false if ctx ended before an answer.
func postOnce(ctx context.Context, t *apiClient, body []byte, opts client.SubmitOptions) benchResult {
	begin := time.Now()
	s, err := t.Submit(ctx, body, opts)
	r := benchResult{Done: true, Latency: time.Since(begin)}
	var ce *client.Error
	switch {
	case ctx.Err() != nil:
		return benchResult{}
	case errors.As(err, &ce):
		r.Status = ce.StatusCode
		msg, _, _ := strings.Cut(renderProblem(ce.StatusCode, ce.Problem, ""), "\n")
		r.Err = t.URL().Redacted() + ": " + msg
		return r
	case err != nil:
		r.Err = message(err)
		return r
	}
	r.Status, r.ID, r.Backend = s.StatusCode, s.ID, s.Backend
	return r
}

// resolveBackends GETs, cfg.Concurrency at a time, each accepted job that
// had no backend, and records the backend it has now. It returns how many
// jobs it found on a backend.
func resolveBackends(ctx context.Context, cfg benchConfig, results []benchResult) int {
	var todo []int
	for i, r := range results {
		if r.accepted() && r.Backend == "" && r.ID != "" {
			todo = append(todo, i)
		}
	}
	var (
		next, found atomic.Int64
		wg          sync.WaitGroup
	)
	for range min(cfg.Concurrency, len(todo)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(todo) || ctx.Err() != nil {
					return
				}
				i := todo[k]
				t := cfg.Targets[i%len(cfg.Targets)]
				j, err := t.Job(ctx, results[i].ID)
				if err == nil && j.Backend != "" {
					results[i].Backend = j.Backend
					found.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(found.Load())
}

// startProgress prints "\r<progress>" on w at most every progressEvery
// until the returned function is called, which prints the last line and
// a newline. A nil w prints nothing.
func startProgress(w io.Writer, total int, start time.Time, sent, accepted, failed *atomic.Int64) (stop func()) {
	if w == nil {
		return func() {}
	}
	width := 0
	line := func() {
		el := time.Since(start)
		s := fmt.Sprintf("%d/%d sent, %d accepted, %d failed, %.1f jobs/s, %s",
			sent.Load(), total, accepted.Load(), failed.Load(), rate(int(accepted.Load()), el), el.Round(100*time.Millisecond))
		pad := max(width-len(s), 0)
		width = len(s)
		fmt.Fprintf(w, "\r%s%s", s, strings.Repeat(" ", pad))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				line()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		line()
		fmt.Fprintln(w)
	}
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// summarize computes the report of results (the run's own fields aside).
func summarize(results []benchResult, elapsed time.Duration) benchReport {
	rep := benchReport{Status: map[string]int{}, ElapsedSeconds: elapsed.Seconds()}
	var lat []time.Duration
	samples := map[string]bool{}
	for _, r := range results {
		if !r.Done {
			continue
		}
		rep.Sent++
		key := "error"
		if r.Status != 0 {
			key = strconv.Itoa(r.Status)
		}
		rep.Status[key]++
		if !r.accepted() {
			rep.Errors++
			if len(rep.ErrorSamples) < 5 && !samples[r.Err] {
				samples[r.Err] = true
				rep.ErrorSamples = append(rep.ErrorSamples, r.Err)
			}
			continue
		}
		rep.Accepted++
		lat = append(lat, r.Latency)
	}
	rep.Backends = backendCounts(results)
	rep.JobsPerSecond = rate(rep.Accepted, elapsed)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	if len(lat) > 0 {
		rep.LatencyMS = latencyReport{
			P50:  ms(percentile(lat, 50)),
			P90:  ms(percentile(lat, 90)),
			P99:  ms(percentile(lat, 99)),
			Max:  ms(lat[len(lat)-1]),
			Mean: ms(sum / time.Duration(len(lat))),
		}
	}
	return rep
}

// backendCounts counts the accepted jobs per backend.
func backendCounts(results []benchResult) map[string]int {
	out := map[string]int{}
	for _, r := range results {
		if r.Done && r.accepted() {
			b := r.Backend
			if b == "" {
				b = noBackend
			}
			out[b]++
		}
	}
	return out
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// (ascending): the least value such that at least p% of the values are at
// most it. p <= 0 gives the minimum; an empty slice gives 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 || math.IsNaN(p) {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// writeBenchReport prints rep as a table.
func writeBenchReport(w io.Writer, rep benchReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprint(v...))
	}
	dur := func(ms float64) string { return roundDuration(time.Duration(ms * 1e6)).String() }
	row("urls", strings.Join(rep.URLs, " "))
	row("concurrency", rep.Concurrency)
	sent := fmt.Sprintf("%d of %d", rep.Sent, rep.Jobs)
	if rep.Interrupted {
		sent += " (interrupted)"
	}
	row("sent", sent)
	row("accepted", rep.Accepted)
	row("errors", rep.Errors)
	row("elapsed", roundDuration(time.Duration(rep.ElapsedSeconds*1e9)))
	if rep.Rate > 0 {
		row("paced at", strconv.FormatFloat(rep.Rate, 'f', 1, 64), " jobs/s")
	}
	row("jobs/s", strconv.FormatFloat(rep.JobsPerSecond, 'f', 1, 64))
	if kv := rep.KV; kv != nil {
		row("raw KV put/s", fmt.Sprintf("%.0f (1 in flight), %.0f (8 in flight)", kv.Seq, kv.Par8))
		row("jobs/s ÷ KV put/s", fmt.Sprintf("%.3f (1 in flight), %.3f (8 in flight)", rep.JobsPerSecond/kv.Seq, rep.JobsPerSecond/kv.Par8))
	}
	if rep.WritesPerJob > 0 {
		row("KV writes per job", strconv.FormatFloat(rep.WritesPerJob, 'f', 2, 64), " (messages stored in the bucket during the run ÷ jobs accepted)")
	}
	if rep.Accepted > 0 {
		row("latency p50", dur(rep.LatencyMS.P50))
		row("latency p90", dur(rep.LatencyMS.P90))
		row("latency p99", dur(rep.LatencyMS.P99))
		row("latency max", dur(rep.LatencyMS.Max))
		row("latency mean", dur(rep.LatencyMS.Mean))
	}
	statuses := make([]string, 0, len(rep.Status))
	for s := range rep.Status {
		statuses = append(statuses, s)
	}
	slices.SortFunc(statuses, func(a, b string) int {
		an, aerr := strconv.Atoi(a)
		bn, berr := strconv.Atoi(b)
		switch {
		case aerr != nil || berr != nil: // "error" last
			return cmp.Compare(b2i(aerr != nil), b2i(berr != nil))
		default:
			return cmp.Compare(an, bn)
		}
	})
	for _, s := range statuses {
		row("status "+s, rep.Status[s])
	}
	backends := make([]string, 0, len(rep.Backends))
	for b := range rep.Backends {
		backends = append(backends, b)
	}
	slices.SortFunc(backends, func(a, b string) int {
		return cmp.Or(cmp.Compare(rep.Backends[b], rep.Backends[a]), strings.Compare(a, b))
	})
	for _, b := range backends {
		n := rep.Backends[b]
		row("backend "+clean(b), fmt.Sprintf("%d\t%.1f%%", n, 100*float64(n)/float64(max(rep.Accepted, 1))))
	}
	if rep.Resolved > 0 {
		row("resolved", rep.Resolved)
	}
	for _, e := range rep.ErrorSamples {
		row("error", clean(e))
	}
	return tw.Flush()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// roundDuration keeps about three significant digits.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Second:
		return d.Round(time.Second)
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
