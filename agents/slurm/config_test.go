package slurm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"tuplebroker"

	"tuplebroker/agents"
)

func TestConfigValidate(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "slurm.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := DefaultConfig()
	good.Conf = conf
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"empty name":       func(c *Config) { c.Name = "" },
		"name with space":  func(c *Config) { c.Name = "a b" },
		"relative conf":    func(c *Config) { c.Conf = "slurm.conf" },
		"missing conf":     func(c *Config) { c.Conf = "/nonexistent/slurm.conf" },
		"conf directory":   func(c *Config) { c.Conf = "/" },
		"bad partition":    func(c *Config) { c.Partition = "a,b" },
		"bad capability":   func(c *Config) { c.Capabilities = []string{"linux"} },
		"relative bin":     func(c *Config) { c.Bin = "bin" },
		"relative spool":   func(c *Config) { c.Spool = "spool" },
		"relative root":    func(c *Config) { c.Root = "tmp" },
		"relative jobcomp": func(c *Config) { c.JobComp = "jobcomp.txt" },
		"zero timeout":     func(c *Config) { c.CallTimeout = 0 },
		"NUL in extra":     func(c *Config) { c.ExtraArgs = []string{"--qos=a\x00"} },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

// fakeBin writes stand-ins for the Slurm commands (New only needs them to
// exist) and returns their directory.
func fakeBin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range commands {
		if err := os.WriteFile(filepath.Join(dir, c), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewDefaultsAndJobCompDetection(t *testing.T) {
	dir := t.TempDir()
	comp := filepath.Join(dir, "jobcomp.txt")
	if err := os.WriteFile(comp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slurm.conf")
	if err := os.WriteFile(conf, []byte("ClusterName=x # comment\njobcomptype = jobcomp/filetxt\nJobCompLoc="+comp+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := New(context.Background(), Config{Conf: conf, Bin: fakeBin(t), Spool: filepath.Join(dir, "spool", "s")})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "slurm" || !slices.Equal(b.Capabilities(), DefaultCapabilities()) {
		t.Errorf("defaults: name %q caps %q", b.Name(), b.Capabilities())
	}
	if b.comp == nil || b.comp.path != comp {
		t.Errorf("jobcomp file not detected from %s", conf)
	}
	fi, err := os.Stat(filepath.Join(dir, "spool", "s"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool: %v %v", fi, err)
	}
	caps := b.Capabilities()
	if !slices.Contains(caps, "exclusive=true") || !slices.ContainsFunc(caps, func(c string) bool { return strings.HasPrefix(c, "arch=") }) {
		t.Errorf("capabilities %q", caps)
	}

	if b, err := New(context.Background(), Config{Conf: conf, Bin: fakeBin(t), JobComp: "none"}); err != nil || b.comp != nil {
		t.Errorf("JobComp none: %v %v", b.comp, err)
	}
	other := filepath.Join(dir, "slurm2.conf")
	os.WriteFile(other, []byte("JobCompType=jobcomp/none\nJobCompLoc="+comp+"\n"), 0o644)
	if b, err := New(context.Background(), Config{Conf: other, Bin: fakeBin(t)}); err != nil || b.comp != nil {
		t.Errorf("jobcomp/none: %v %v", b.comp, err)
	}
	if _, err := New(context.Background(), Config{Bin: t.TempDir()}); err == nil {
		t.Errorf("New without the Slurm commands succeeded")
	}
}

// TestSpoolScriptIsPassedAsFile: with Spool, sbatch gets a script file
// (mode 0600, removed afterwards) and nothing on stdin.
func TestSpoolScriptIsPassedAsFile(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "spool")
	b, err := New(context.Background(), Config{Bin: fakeBin(t), Spool: spool})
	if err != nil {
		t.Fatal(err)
	}
	var script []byte
	b.run = func(ctx context.Context, cmd string, args []string, stdin []byte) ([]byte, []byte, error) {
		if stdin != nil {
			t.Errorf("stdin given with a spool")
		}
		p := args[len(args)-1]
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(p) != spool {
			t.Errorf("script file %s: %v %v", p, fi, err)
		}
		script, _ = os.ReadFile(p)
		return []byte("42\n"), nil, nil
	}
	id, err := b.Submit(context.Background(), agents.Job{GUID: "g1", Definition: parse(t, posixDoc(cmdline("/bin/true")))})
	if err != nil || id != "42" {
		t.Fatalf("Submit = %q, %v", id, err)
	}
	if !strings.Contains(string(script), "exec -- '/bin/true'") {
		t.Errorf("script:\n%s", script)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("spool not cleaned: %v", ents)
	}
}

func TestSubmitParsesAnswer(t *testing.T) {
	b, err := New(context.Background(), Config{Bin: fakeBin(t)})
	if err != nil {
		t.Fatal(err)
	}
	doc := posixDoc(cmdline("/bin/true"))
	for answer, want := range map[string]string{"17\n": "17", "18;slurm-a\n": "18", "sbatch: warning: x\n19\n": "19"} {
		b.run = func(context.Context, string, []string, []byte) ([]byte, []byte, error) {
			return []byte(answer), nil, nil
		}
		if id, err := b.Submit(context.Background(), agents.Job{GUID: "g", Definition: parse(t, doc)}); err != nil || id != want {
			t.Errorf("answer %q: %q, %v; want %q", answer, id, err, want)
		}
	}
	b.run = func(context.Context, string, []string, []byte) ([]byte, []byte, error) {
		return []byte("Submitted\n"), nil, nil
	}
	if _, err := b.Submit(context.Background(), agents.Job{GUID: "g", Definition: parse(t, doc)}); err == nil ||
		errors.Is(err, tuplebroker.ErrRefused) || errors.Is(err, tuplebroker.ErrRejected) {
		t.Errorf("garbage answer: %v", err)
	}
}

// TestRunnerTimeout: a command that outlives CallTimeout is killed and the
// call is refused, quickly.
func TestRunnerTimeout(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sbatch")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := execRunner(map[string]string{"sbatch": p}, nil, 200*time.Millisecond)
	start := time.Now()
	_, _, err := run(context.Background(), "sbatch", nil, nil)
	if !errors.Is(err, errTimeout) || !errors.Is(wrapCmd("sbatch", err), tuplebroker.ErrRefused) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	// The caller's own cancellation is not a refusal.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := run(ctx, "sbatch", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestRunnerEnvAndOutput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "squeue")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nenv | sort\necho oops >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := execRunner(map[string]string{"squeue": p}, map[string][]string{"squeue": {"SLURM_CONF=/x", "TZ=UTC"}}, 5*time.Second)
	_, _, err := run(context.Background(), "squeue", nil, nil)
	var ce *cmdError
	if !errors.As(err, &ce) || ce.stderr != "oops" {
		t.Fatalf("err = %v", err)
	}
	os.WriteFile(p, []byte("#!/bin/sh\nenv | grep -v '^PWD=' | sort\n"), 0o755)
	out, _, err := run(context.Background(), "squeue", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "SLURM_CONF=/x\nTZ=UTC" {
		t.Fatalf("command environment:\n%s", got)
	}
}
