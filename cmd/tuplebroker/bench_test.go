package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"tuplebroker/jsdl"
)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestPercentile(t *testing.T) {
	// The nearest-rank example: 15 20 35 40 50.
	five := []time.Duration{15, 20, 35, 40, 50}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{
		{0, 15}, {5, 15}, {20, 15}, {30, 20}, {40, 20}, {50, 35}, {90, 50}, {99, 50}, {100, 50}, {150, 50},
		{math.NaN(), 15}, {-1, 15},
	} {
		if got := percentile(five, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", five, tt.p, got, tt.want)
		}
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	for p, want := range map[float64]time.Duration{50: 50, 90: 90, 99: 99, 99.5: 100, 100: 100, 1: 1, 0.5: 1} {
		if got := percentile(hundred, p); got != want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(empty) = %v", got)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile(one) = %v", got)
	}
}

func TestSummarize(t *testing.T) {
	results := []benchResult{
		{Done: true, Status: 201, Latency: ms(10), ID: "a", Backend: "local"},
		{Done: true, Status: 201, Latency: ms(30), ID: "b", Backend: "sim"},
		{Done: true, Status: 202, Latency: ms(20), ID: "c"},
		{Done: true, Status: 201, Latency: ms(40), ID: "d", Backend: "sim"},
		{Done: true, Status: 503, Latency: ms(1), Err: "http://a: error: 503 Service Unavailable"},
		{Done: true, Status: 503, Latency: ms(1), Err: "http://a: error: 503 Service Unavailable"},
		{Done: true, Latency: ms(1000), Err: "POST http://b/v1/jobs: connection refused"},
		{}, // never sent (interrupted)
	}
	rep := summarize(results, 2*time.Second)
	if rep.Sent != 7 || rep.Accepted != 4 || rep.Errors != 3 {
		t.Errorf("sent/accepted/errors = %d/%d/%d, want 7/4/3", rep.Sent, rep.Accepted, rep.Errors)
	}
	wantStatus := map[string]int{"201": 3, "202": 1, "503": 2, "error": 1}
	if !mapsEqual(rep.Status, wantStatus) {
		t.Errorf("status %v, want %v", rep.Status, wantStatus)
	}
	wantBackends := map[string]int{"local": 1, "sim": 2, noBackend: 1}
	if !mapsEqual(rep.Backends, wantBackends) {
		t.Errorf("backends %v, want %v", rep.Backends, wantBackends)
	}
	if rep.JobsPerSecond != 2 {
		t.Errorf("jobs/s %v, want 2 (4 accepted in 2s)", rep.JobsPerSecond)
	}
	// Latencies of accepted POSTs only: 10 20 30 40.
	want := latencyReport{P50: 20, P90: 40, P99: 40, Max: 40, Mean: 25}
	if rep.LatencyMS != want {
		t.Errorf("latency %+v, want %+v", rep.LatencyMS, want)
	}
	// Error samples, each distinct message once.
	if len(rep.ErrorSamples) != 2 {
		t.Errorf("error samples %q", rep.ErrorSamples)
	}

	empty := summarize(nil, 0)
	if empty.Sent != 0 || empty.JobsPerSecond != 0 || empty.LatencyMS != (latencyReport{}) {
		t.Errorf("empty run: %+v", empty)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestWriteBenchReport(t *testing.T) {
	rep := summarize([]benchResult{
		{Done: true, Status: 202, Latency: ms(12.345), ID: "a"},
		{Done: true, Status: 201, Latency: ms(8), ID: "b", Backend: "sim"},
		{Done: true, Status: 201, Latency: ms(9), ID: "c", Backend: "sim"},
		{Done: true, Status: 429, Err: "http://a: error: 429 Too Many Requests"},
		{Done: true, Err: "POST http://a/v1/jobs: connection refused"},
	}, 1500*time.Millisecond)
	rep.Jobs, rep.Concurrency, rep.URLs = 5, 2, []string{"http://a", "http://b"}
	var b bytes.Buffer
	if err := writeBenchReport(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// Compare with the columns' blanks squeezed.
	squeezed := strings.Join(strings.FieldsFunc(out, func(r rune) bool { return r == ' ' }), " ")
	for _, want := range []string{
		"urls http://a http://b\n",
		"concurrency 2\n",
		"sent 5 of 5\n",
		"accepted 3\n",
		"errors 2\n",
		"elapsed 1.5s\n",
		"jobs/s 2.0\n",
		"latency p50 9ms\n",
		"latency max 12.3ms\n",
		"status 201 2\n",
		"status error 1\n",
		"backend sim 2 66.7%\n",
		"backend (none) 1 33.3%\n",
		"error POST http://a/v1/jobs: connection refused\n",
	} {
		if !strings.Contains(squeezed, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Statuses in numeric order, "error" last; backends by count.
	order := []string{"status 201", "status 202", "status 429", "status error", "backend sim ", "backend (none)"}
	last := -1
	for _, s := range order {
		i := strings.Index(out, s)
		if i < last {
			t.Errorf("%q out of order:\n%s", s, out)
		}
		last = i
	}

	// --json: one object with the same numbers.
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"jobs", "sent", "accepted", "errors", "jobs_per_second", "latency_ms", "status", "backends", "urls"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, js)
		}
	}
}

func TestRoundDuration(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		1234567 * time.Nanosecond: 1230 * time.Microsecond,
		12345678:                  12300 * time.Microsecond,
		123456789:                 123 * time.Millisecond,
		1234567890:                1230 * time.Millisecond,
		1500 * time.Nanosecond:    2 * time.Microsecond,
		150 * time.Second:         150 * time.Second,
	} {
		if got := roundDuration(in); got != want {
			t.Errorf("roundDuration(%v) = %v, want %v", in, got, want)
		}
	}
}

// TestHelloJSDL: the built-in document is valid JSDL that runs /bin/true.
func TestHelloJSDL(t *testing.T) {
	def, err := jsdl.ParseBytes([]byte(helloJSDL), jsdl.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if exe, _ := def.Executable(); exe != "/bin/true" {
		t.Errorf("executable %q, want /bin/true", exe)
	}
}

func TestProgressNil(t *testing.T) {
	// No writer, no goroutine, no output: stop is a no-op.
	startProgress(nil, 1, time.Now(), nil, nil, nil)()
}
