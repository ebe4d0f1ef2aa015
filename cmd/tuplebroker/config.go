package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"tuplebroker/agents/sim"
	"tuplebroker/bus"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// poolConfig is the configuration file of serve and of the role commands
// (JSON; see examples/). Every field is optional: a missing one takes the
// default of defaultPoolConfig.
type poolConfig struct {
	Bucket   string        `json:"bucket,omitempty"`
	Replicas int           `json:"replicas,omitempty"`
	Queue    queueConfig   `json:"queue"`
	Factory  factoryConfig `json:"factory"`
	Manager  managerConfig `json:"manager"`
	Agents   []agentConfig `json:"agents"`
}

// queueConfig is the take order of Requests (space.Order): per-user
// fair-share weights (default 1) and the age after which a request goes
// before every younger one whatever its priority.
type queueConfig struct {
	Weights  map[string]float64 `json:"weights,omitempty"`
	AgeBound *duration          `json:"age_bound,omitempty"`
}

// order is the space's take order this configuration asks for.
func (q queueConfig) order() space.Order {
	o := space.DefaultConfig().Order
	if q.Weights != nil {
		o.Weights = q.Weights
	}
	if q.AgeBound != nil {
		o.AgeBound = time.Duration(*q.AgeBound)
	}
	return o
}

type factoryConfig struct {
	Handle       string   `json:"handle,omitempty"`
	Strategy     string   `json:"strategy,omitempty"` // pull | push | hybrid
	PushPriority int      `json:"push_priority,omitempty"`
	KeepCouriers int      `json:"keep_couriers,omitempty"`
	Wait         duration `json:"wait,omitempty"`
	MaxWait      duration `json:"max_wait,omitempty"`
	// TokensFile maps bearer tokens to users ("TOKEN USER" lines). serve
	// defaults it to DATA_DIR/tokens.
	TokensFile   string `json:"tokens_file,omitempty"`
	MaxBodyBytes int64  `json:"max_body_bytes,omitempty"`
}

type managerConfig struct {
	Handle       string   `json:"handle,omitempty"`
	Admission    string   `json:"admission,omitempty"` // maxjobs | activity
	MaxJobs      int      `json:"max_jobs,omitempty"`
	PollInterval duration `json:"poll_interval,omitempty"`
	Lifetime     duration `json:"lifetime,omitempty"`
	HostLease    duration `json:"host_lease,omitempty"`
}

type agentConfig struct {
	Name        string         `json:"name"`
	Backend     string         `json:"backend"` // local | sim | slurm | gridengine
	Workers     int            `json:"workers,omitempty"`
	Couriers    *int           `json:"couriers,omitempty"`
	MaxAttempts int            `json:"max_attempts,omitempty"`
	Throttle    throttleConfig `json:"throttle"`
	Local       *localConfig   `json:"local,omitempty"`
	Sim         *simConfig     `json:"sim,omitempty"`
	Slurm       *slurmConfig   `json:"slurm,omitempty"`
	GridEngine  *geConfig      `json:"gridengine,omitempty"`
}

type throttleConfig struct {
	Strategy string  `json:"strategy,omitempty"` // fixed | adaptive
	Rate     float64 `json:"rate,omitempty"`     // fixed: takes/s; adaptive: initial
	MinRate  float64 `json:"min_rate,omitempty"`
	MaxRate  float64 `json:"max_rate,omitempty"`
	Burst    int     `json:"burst,omitempty"`
	// DecreaseFactor (adaptive) multiplies the rate on a refusal, in (0, 1);
	// IncreaseStep is added per second of clean successes.
	DecreaseFactor float64 `json:"decrease_factor,omitempty"`
	IncreaseStep   float64 `json:"increase_step,omitempty"`
}

type localConfig struct {
	Slots        int      `json:"slots,omitempty"`
	Root         string   `json:"root,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
}

type simConfig struct {
	Capabilities  []string `json:"capabilities,omitempty"`
	SubmitLatency duration `json:"submit_latency,omitempty"`
	SubmitJitter  duration `json:"submit_jitter,omitempty"`
	Concurrency   int      `json:"concurrency,omitempty"`
	QueueSlots    int      `json:"queue_slots,omitempty"`
	RunSlots      int      `json:"run_slots,omitempty"`
	RefuseAbove   float64  `json:"refuse_above,omitempty"`
	RefuseBase    float64  `json:"refuse_base,omitempty"`
	RefuseLoad    float64  `json:"refuse_load,omitempty"`
	RunTime       duration `json:"run_time,omitempty"`
	FailFraction  float64  `json:"fail_fraction,omitempty"`
	Seed          int64    `json:"seed,omitempty"`
	// RecordFile, if set, receives the simulated broker's record of every
	// accepted submission (JSON lines) and its stats when the agent stops:
	// the audit trail of exactly-once tests.
	RecordFile string `json:"record_file,omitempty"`
}

// duration is a time.Duration written as "1.5s" in JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d duration) or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// maxConfigBytes bounds a configuration file.
const maxConfigBytes = 1 << 20

// loadPoolConfig reads a configuration file; unknown fields are errors, so
// a misspelt option is not silently ignored.
func loadPoolConfig(path string) (poolConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return poolConfig{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return poolConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return poolConfig{}, fmt.Errorf("config %s: larger than %d bytes", path, maxConfigBytes)
	}
	var cfg poolConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return poolConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.validate(); err != nil {
		return poolConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func (c poolConfig) validate() error {
	for u, w := range c.Queue.Weights {
		if !(w > 0) || w > 1e6 {
			return fmt.Errorf("queue.weights[%q]: %v is not a weight in (0, 1e6]", u, w)
		}
	}
	if c.Queue.AgeBound != nil && *c.Queue.AgeBound < 0 {
		return fmt.Errorf("queue.age_bound: negative")
	}
	seen := map[string]bool{}
	for i, a := range c.Agents {
		if err := bus.CheckName(a.Name); err != nil {
			return fmt.Errorf("agents[%d].name: %w", i, err)
		}
		if seen[a.Name] {
			return fmt.Errorf("agents[%d]: agent %q listed twice", i, a.Name)
		}
		seen[a.Name] = true
		kind, err := lookupBackend(a.Backend)
		if err != nil {
			return fmt.Errorf("agents[%d] (%s): %w", i, a.Name, err)
		}
		if err := kind.check(a); err != nil {
			return fmt.Errorf("agents[%d] (%s): %w", i, a.Name, err)
		}
		if _, err := a.Throttle.build(); err != nil {
			return fmt.Errorf("agents[%d] (%s): %w", i, a.Name, err)
		}
	}
	if h := c.Manager.Handle; h != "" {
		if err := bus.CheckName(h); err != nil {
			return fmt.Errorf("manager.handle: %w", err)
		}
	}
	if h := c.Factory.Handle; h != "" {
		if err := bus.CheckName(h); err != nil {
			return fmt.Errorf("factory.handle: %w", err)
		}
	}
	return nil
}

// build returns the agent's throttle. The default is adaptive, starting at
// 20 takes/s within [1, 5000] and bursts of 16: a pool's agents start brisk
// and slow down on refusals.
func (t throttleConfig) build() (strategies.Throttle, error) {
	cfg := strategies.DefaultThrottleConfig()
	name := t.Strategy
	if name == "" {
		name = "adaptive"
	}
	burst := t.Burst
	if burst == 0 {
		burst = 16
	}
	if name == "fixed" {
		cfg.Fixed = strategies.FixedConfig{Rate: orF(t.Rate, 100), Burst: burst}
	} else {
		cfg.Adaptive.InitialRate = orF(t.Rate, 20)
		cfg.Adaptive.MinRate = orF(t.MinRate, 1)
		cfg.Adaptive.MaxRate = orF(t.MaxRate, 5000)
		cfg.Adaptive.Burst = burst
		cfg.Adaptive.IncreaseStep = orF(t.IncreaseStep, max(cfg.Adaptive.InitialRate/4, 1))
		cfg.Adaptive.DecreaseFactor = orF(t.DecreaseFactor, cfg.Adaptive.DecreaseFactor)
	}
	th, err := strategies.NewThrottle(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("throttle: %w", err)
	}
	return th, nil
}

func orF(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// simBackendConfig maps a sim section onto sim.Config, from a fast
// zero-latency default (the benchmark setting) rather than sim's modest
// scheduler.
func (s *simConfig) build(name string) (sim.Config, error) {
	cfg := sim.Config{Name: name, Capabilities: []string{"arch=x86_64", "os=LINUX"}, Seed: 1, Retention: time.Hour}
	if s != nil {
		if len(s.Capabilities) > 0 {
			cfg.Capabilities = s.Capabilities
		}
		cfg.SubmitLatency, cfg.SubmitJitter = time.Duration(s.SubmitLatency), time.Duration(s.SubmitJitter)
		cfg.Concurrency, cfg.QueueSlots, cfg.RunSlots = s.Concurrency, s.QueueSlots, s.RunSlots
		cfg.RefuseAbove, cfg.RefuseBase, cfg.RefuseLoad = s.RefuseAbove, s.RefuseBase, s.RefuseLoad
		cfg.RunTime = sim.Fixed(time.Duration(s.RunTime))
		cfg.FailFraction = s.FailFraction
		if s.Seed != 0 {
			cfg.Seed = s.Seed
		}
	}
	if err := cfg.Validate(); err != nil {
		return sim.Config{}, err
	}
	return cfg, nil
}

var errNoAgents = errors.New("no agents configured")

// geConfig is a gridengine agent's section: how to reach one Grid Engine
// cell.
type geConfig struct {
	Root              string   `json:"root"`           // SGE_ROOT
	Cell              string   `json:"cell,omitempty"` // SGE_CELL, default "default"
	QmasterPort       int      `json:"qmaster_port,omitempty"`
	ExecdPort         int      `json:"execd_port,omitempty"`
	Queue             string   `json:"queue,omitempty"`
	ParallelEnv       string   `json:"parallel_env,omitempty"`
	ExclusiveResource string   `json:"exclusive_resource,omitempty"`
	MaxSlots          int      `json:"max_slots,omitempty"`
	WorkDir           string   `json:"work_dir,omitempty"`
	Spool             string   `json:"spool,omitempty"`
	Capabilities      []string `json:"capabilities,omitempty"`
	CallTimeout       duration `json:"call_timeout,omitempty"`
}

// slurmConfig is a slurm agent's section: how to reach one Slurm cluster.
type slurmConfig struct {
	Conf         string   `json:"conf"` // slurm.conf (SLURM_CONF)
	Partition    string   `json:"partition,omitempty"`
	Bin          string   `json:"bin,omitempty"`
	Root         string   `json:"root,omitempty"`
	Spool        string   `json:"spool,omitempty"`
	ExtraArgs    []string `json:"extra_args,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	CallTimeout  duration `json:"call_timeout,omitempty"`
}
