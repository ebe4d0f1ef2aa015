package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestInterspersedFlags(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	cases := []struct{ in, want []string }{
		{[]string{"tb", "submit", "f.jsdl", "--wait"}, []string{"tb", "submit", "--wait", "f.jsdl"}},
		{[]string{"tb", "--log-level", "debug", "submit", "f.jsdl", "--priority", "5", "--wait"},
			[]string{"tb", "--log-level", "debug", "submit", "--priority", "5", "--wait", "f.jsdl"}},
		{[]string{"tb", "submit", "--url=http://x", "f.jsdl", "--", "--odd"}, []string{"tb", "submit", "--url=http://x", "f.jsdl", "--", "--odd"}},
		{[]string{"tb", "space", "list", "req", "--nats", "u"}, []string{"tb", "space", "list", "req", "--nats", "u"}},
		{[]string{"tb", "status", "abc", "--json"}, []string{"tb", "status", "--json", "abc"}},
	}
	for _, c := range cases {
		if got := interspersed(app, c.in); !slices.Equal(got, c.want) {
			t.Errorf("interspersed(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestExampleConfigs: every pool configuration in examples/ loads, and so
// does the README's "fronting real clusters" example.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configurations: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "Engine cell:\n\n```json\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README: no pool configuration example after \"Engine cell:\"")
	}
	fromReadme := filepath.Join(t.TempDir(), "readme.json")
	if err := os.WriteFile(fromReadme, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, fromReadme) {
		cfg, err := loadPoolConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(cfg.Agents) == 0 {
			t.Errorf("%s: no agents", f)
		}
	}
	if _, err := loadPoolConfig("../../examples/hello.jsdl"); err == nil {
		t.Error("a JSDL document loaded as a pool configuration")
	}
}
