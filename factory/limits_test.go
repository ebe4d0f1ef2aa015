package factory

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/agents/sim"
	"tuplebroker/jsdl"
	"tuplebroker/strategies"
)

// edgeDoc is a valid document at every size limit of lim at once: exactly
// MaxBytes long, with MaxElements elements, nested MaxDepth deep (in an
// extension element, which the parser skips but counts).
func edgeDoc(t *testing.T, lim jsdl.Limits) string {
	t.Helper()
	const hello = 6 // elements of helloJSDL; its JobDescription is at depth 2
	nest := lim.MaxDepth - 2
	var ext strings.Builder
	ext.WriteString(`<x:e xmlns:x="urn:example:ext">`)
	for range nest - 1 {
		ext.WriteString(`<x:e>`)
	}
	for range nest - 1 {
		ext.WriteString(`</x:e>`)
	}
	for range lim.MaxElements - hello - nest {
		ext.WriteString(`<x:f/>`)
	}
	ext.WriteString(`</x:e>`)
	doc := jsdlWith(ext.String())
	pad := int(lim.MaxBytes) - len(doc) - len("<!---->")
	if pad < 0 {
		t.Fatalf("document of %d bytes before padding, over %d", len(doc), lim.MaxBytes)
	}
	doc += "<!--" + strings.Repeat("p", pad) + "-->"
	if int64(len(doc)) != lim.MaxBytes {
		t.Fatalf("edge document is %d bytes, want %d", len(doc), lim.MaxBytes)
	}
	return doc
}

// A document at the limits a factory accepts runs: the agent, parsing with
// its own limits, never fails it "invalid JSDL" — also when it travels
// through a refused attempt and a requeue.
func TestAcceptedDocumentAtTheLimitsRuns(t *testing.T) {
	p := newPool(t)
	lim := jsdl.DefaultLimits() // the loosest limits Validate accepts
	doc := edgeDoc(t, lim)
	if _, err := jsdl.ParseBytes([]byte(doc), lim); err != nil {
		t.Fatalf("edge document invalid: %v", err)
	}
	over := jsdl.DefaultLimits()
	over.MaxElements--
	if _, err := jsdl.ParseBytes([]byte(doc), over); !errors.Is(err, jsdl.ErrTooLarge) {
		t.Fatalf("edge document is not at the element limit: %v", err)
	}

	cfg := fastSim("sim-edge", 50*time.Millisecond)
	var calls atomic.Int32
	cfg.RefusalProbability = func(sim.Load) float64 { // refuse the first submission, accept the rest
		if calls.Add(1) == 1 {
			return 1
		}
		return 0
	}
	be, _ := p.startAgent(p.ctx, cfg, agentOpts{})
	p.startManager("m-edge")
	f := p.newFactory("f-edge", func(c *Config) { c.Limits = lim })

	r := f.submit(t, aliceToken, doc, "?wait=0", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST at the limits: %d %s", r.status, r.body)
	}
	id := r.job(t).ID
	j := p.waitJob(f, aliceToken, id, "the job ended", func(j tuplebroker.Job) bool { return j.State.Terminal() })
	if j.State != tuplebroker.Finished || j.Attempts != 2 {
		t.Fatalf("job ended %s/%s %q after %d attempts, want Finished after 2 (one refused)", j.State, j.SubState, j.Reason, j.Attempts)
	}
	if st := be.Stats(); st.Refused != 1 || st.Accepted != 1 {
		t.Fatalf("backend stats %+v, want 1 refused and 1 accepted", st)
	}
}

// A factory may tighten the JSDL limits but never loosen them past the
// agents' (jsdl.DefaultLimits): it would accept documents the agents then
// fail as invalid, or that do not fit in a tuple.
func TestLimitsNoLooserThanTheAgents(t *testing.T) {
	tokens := &Tokens{}
	d := jsdl.DefaultLimits()
	for _, tt := range []struct {
		name string
		mod  func(*jsdl.Limits)
		ok   bool
	}{
		{"defaults", func(*jsdl.Limits) {}, true},
		{"zero: the defaults", func(l *jsdl.Limits) { *l = jsdl.Limits{} }, true},
		{"tighter", func(l *jsdl.Limits) { l.MaxBytes, l.MaxElements, l.MaxDepth = 4096, 100, 8 }, true},
		{"max bytes", func(l *jsdl.Limits) { l.MaxBytes = d.MaxBytes + 1 }, false},
		{"a body that cannot fit a tuple", func(l *jsdl.Limits) { l.MaxBytes = 1 << 20 }, false},
		{"max depth", func(l *jsdl.Limits) { l.MaxDepth = d.MaxDepth + 1 }, false},
		{"max elements", func(l *jsdl.Limits) { l.MaxElements = d.MaxElements + 1 }, false},
		{"max text bytes", func(l *jsdl.Limits) { l.MaxTextBytes = d.MaxTextBytes + 1 }, false},
		{"max arguments", func(l *jsdl.Limits) { l.MaxArguments = d.MaxArguments + 1 }, false},
		{"max environment", func(l *jsdl.Limits) { l.MaxEnvironment = d.MaxEnvironment + 1 }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Handle, c.Tokens = "f1", tokens
			tt.mod(&c.Limits)
			err := c.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// The factory's default strategy is hybrid: a job with a priority of 1 or
// more is pushed when a courier is free, the others pulled.
func TestDefaultStrategyIsHybrid(t *testing.T) {
	st := DefaultConfig().Strategy
	free := strategies.Supply{Free: 1}
	if st.Decide(0, free).Push || !st.Decide(1, free).Push {
		t.Fatalf("default strategy decides %+v for priority 0 and %+v for 1, want hybrid's pull and push",
			st.Decide(0, free), st.Decide(1, free))
	}
	if DefaultStrategy != "hybrid" {
		t.Fatalf("DefaultStrategy %q", DefaultStrategy)
	}
}
