package sim

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := baseConfig(nil).Validate(); err != nil {
		t.Fatal(err)
	}
	var zeroDist Dist
	if zeroDist != Fixed(0) {
		t.Fatal("the zero Dist is not Fixed(0)")
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Config)
		want string // part of the message
	}{
		{"empty name", func(c *Config) { c.Name = "" }, "name"},
		{"spaced name", func(c *Config) { c.Name = "a b" }, "name"},
		{"bad capability", func(c *Config) { c.Capabilities = []string{"linux"} }, "capabilities"},
		{"bad reject label", func(c *Config) { c.RejectRequirements = []string{"=x"} }, "reject_requirements"},
		{"negative latency", func(c *Config) { c.SubmitLatency = -1 }, "submit_latency"},
		{"negative jitter", func(c *Config) { c.SubmitJitter = -1 }, "submit_jitter"},
		{"latency overflow", func(c *Config) { c.SubmitLatency, c.SubmitJitter = math.MaxInt64, 1 }, "overflows"},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "concurrency"},
		{"negative queue", func(c *Config) { c.QueueSlots = -1 }, "queue_slots"},
		{"negative run slots", func(c *Config) { c.RunSlots = -1 }, "run_slots"},
		{"run slots above queue slots", func(c *Config) { c.QueueSlots, c.RunSlots = 5, 6 }, "exceeds queue_slots"},
		{"NaN rate", func(c *Config) { c.RefuseAbove = math.NaN() }, "refuse_above"},
		{"infinite rate", func(c *Config) { c.RefuseAbove = math.Inf(1) }, "refuse_above"},
		{"rate below 1", func(c *Config) { c.RefuseAbove = 0.5 }, "below 1"},
		{"base above 1", func(c *Config) { c.RefuseBase = 1.5 }, "refuse_base"},
		{"negative load", func(c *Config) { c.RefuseLoad = -0.1 }, "refuse_load"},
		{"NaN lost reply", func(c *Config) { c.LostReplyProbability = math.NaN() }, "lost_reply"},
		{"fail fraction", func(c *Config) { c.FailFraction = 2 }, "fail_fraction"},
		{"func and parameters", func(c *Config) {
			c.RefusalProbability = func(Load) float64 { return 0 }
			c.RefuseBase = 0.1
		}, "one or the other"},
		{"load without limits", func(c *Config) { c.RefuseLoad = 0.5 }, "needs concurrency or queue_slots"},
		{"exit code", func(c *Config) { c.ExitCode = 256 }, "exit_code"},
		{"retention", func(c *Config) { c.Retention = -time.Second }, "retention"},
		{"fixed with max", func(c *Config) { c.RunTime = Dist{Kind: KindFixed, Min: 1, Max: 2} }, "run_time"},
		{"negative fixed", func(c *Config) { c.RunTime = Fixed(-1) }, "run_time"},
		{"uniform reversed", func(c *Config) { c.RunTime = Uniform(2, 1) }, "run_time"},
		{"uniform with mean", func(c *Config) { c.RunTime = Dist{Kind: KindUniform, Max: 1, Mean: 1} }, "run_time"},
		{"exponential zero mean", func(c *Config) { c.RunTime = Exponential(0) }, "run_time"},
		{"exponential cap below mean", func(c *Config) { c.RunTime = Dist{Kind: KindExponential, Mean: 2, Max: 1} }, "run_time"},
		{"exponential with min", func(c *Config) { c.RunTime = Dist{Kind: KindExponential, Mean: 2, Min: 1} }, "run_time"},
		{"unknown kind", func(c *Config) { c.RunTime = Dist{Kind: 9} }, "DistKind(9)"},
		{"huge duration", func(c *Config) { c.RunTime = Fixed(math.MaxInt64) }, "not supported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mod(&cfg)
			if c.name == "load without limits" {
				cfg.Concurrency, cfg.QueueSlots, cfg.RunSlots = 0, 0, 0
			}
			err := cfg.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrInvalidConfig mentioning %q", err, c.want)
			}
			if _, err := New(context.Background(), cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.Concurrency, c.QueueSlots, c.RunSlots, c.RefuseAbove, c.RefuseLoad = 0, 0, 0, 0, 0 },
		func(c *Config) { c.QueueSlots, c.RunSlots = 0, 7 }, // unlimited queue, 7 run slots
		func(c *Config) { c.QueueSlots, c.RunSlots = 5, 0 }, // 5 slots, all running
		func(c *Config) { c.RefuseBase, c.RefuseLoad = 1, 1 },
		func(c *Config) {
			c.RefuseBase, c.RefuseLoad, c.RefusalProbability = 0, 0, func(Load) float64 { return 2 }
		},
		func(c *Config) { c.RejectRequirements = c.Capabilities }, // advertises what it rejects
		func(c *Config) { c.RunTime = Dist{Kind: KindExponential, Mean: time.Second, Max: time.Second} },
		func(c *Config) { c.Capabilities = []string{"application="} },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestNewCopiesSlices(t *testing.T) {
	cfg := baseConfig(NewFakeClock(t0))
	cfg.Capabilities = []string{"os=LINUX"}
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Capabilities[0] = "os=changed"
	if b.Capabilities()[0] != "os=LINUX" {
		t.Fatal("New kept the caller's slice")
	}
}
