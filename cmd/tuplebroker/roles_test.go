package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tuplebroker/agents"
)

func TestBackendKinds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		agent agentConfig
		err   []string // "" none: valid
	}{
		{name: "local", agent: agentConfig{Name: "a", Backend: "local"}},
		{name: "sim", agent: agentConfig{Name: "a", Backend: "sim"}},
		{name: "slurm", agent: agentConfig{Name: "a", Backend: "slurm", Slurm: &slurmConfig{}}},
		{name: "gridengine", agent: agentConfig{Name: "a", Backend: "gridengine", GridEngine: &geConfig{Root: "/x"}}},
		{name: "unknown", agent: agentConfig{Name: "a", Backend: "pbs"},
			err: []string{`unknown backend "pbs"`, "gridengine, local, sim, slurm"}},
		{name: "none", agent: agentConfig{Name: "a"}, err: []string{"no backend", "gridengine, local, sim, slurm"}},
		{name: "slurm without section", agent: agentConfig{Name: "a", Backend: "slurm"}, err: []string{`needs a "slurm" section`}},
		{name: "gridengine without section", agent: agentConfig{Name: "a", Backend: "gridengine"}, err: []string{`needs a "gridengine" section`}},
		{name: "bad sim section", agent: agentConfig{Name: "a", Backend: "sim", Sim: &simConfig{FailFraction: 2}}, err: []string{"agents[0] (a)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := poolConfig{Agents: []agentConfig{tc.agent}}.validate()
			if len(tc.err) == 0 {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("validate accepted it")
			}
			for _, w := range tc.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

func TestBackendBuildAndClose(t *testing.T) {
	p := &pool{log: slog.New(slog.DiscardHandler)}
	record := filepath.Join(t.TempDir(), "record")
	for _, ac := range []agentConfig{
		{Name: "l", Backend: "local", Local: &localConfig{Root: t.TempDir()}},
		{Name: "s", Backend: "sim", Sim: &simConfig{RecordFile: record}},
	} {
		k, err := lookupBackend(ac.Backend)
		if err != nil {
			t.Fatal(err)
		}
		be, err := k.build(context.Background(), p, ac)
		if err != nil {
			t.Fatalf("%s: %v", ac.Backend, err)
		}
		if be.Name() != ac.Name {
			t.Errorf("%s: name %q", ac.Backend, be.Name())
		}
		c, ok := be.(agents.Closer)
		if !ok {
			t.Fatalf("%s: not an agents.Closer", ac.Backend)
		}
		if _, ok := be.(agents.Finder); !ok {
			t.Errorf("%s: not an agents.Finder", ac.Backend)
		}
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("%s: Close: %v", ac.Backend, err)
		}
	}
	if _, err := os.Stat(record); err != nil {
		t.Errorf("closing the sim backend wrote no record: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k, _ := lookupBackend("local")
	if _, err := k.build(ctx, p, agentConfig{Name: "l", Backend: "local"}); !errors.Is(err, context.Canceled) {
		t.Errorf("build with an ended ctx: %v", err)
	}
}
