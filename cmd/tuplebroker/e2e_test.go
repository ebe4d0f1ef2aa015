package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLI runs the app in-process with args as a user types them.
func runCLI(ctx context.Context, t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb syncBuffer
	app := newApp(&out, &errb)
	err = app.RunContext(ctx, interspersed(app, append([]string{"tuplebroker"}, args...)))
	return out.String(), errb.String(), err
}

// TestReadmeHello is the README's first run: `serve` with no configuration
// (one local agent), then `submit examples/hello.jsdl --wait`: the job ends
// Finished with exit code 0 and its output file holds "hello".
func TestReadmeHello(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tokenFile := filepath.Join(t.TempDir(), "config", "tuplebroker", "token")
	b := startServe(t, dir, "--roles", "factory,manager,agents", "--token-file", tokenFile)
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("serve did not write the local user's token: %v", err)
	}
	t.Setenv("TUPLEBROKER_TOKEN", "")
	t.Setenv("XDG_CONFIG_HOME", filepath.Dir(filepath.Dir(tokenFile)))
	t.Setenv("TUPLEBROKER_URL", "http://"+b.httpAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, err := runCLI(ctx, t, "submit", "../../examples/hello.jsdl", "--wait")
	if err != nil {
		t.Fatalf("submit --wait: %v\nstdout:\n%s\nstderr:\n%s\nserve:\n%s", err, stdout, stderr, b.stderr)
	}
	if !strings.Contains(stdout, "Finished") {
		t.Fatalf("submit --wait output lacks Finished:\n%s", stdout)
	}
	out, err := os.ReadFile(filepath.Join(dir, "work", "hello.out"))
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("hello.out = %q, %v; want \"hello\\n\"", out, err)
	}

	// The job is listed, and its status answers, with the token from the file.
	id := strings.Fields(stdout)[0]
	stdout, _, err = runCLI(ctx, t, "status", id)
	if err != nil || !strings.Contains(stdout, "Finished") {
		t.Fatalf("status %s: %v\n%s", id, err, stdout)
	}
	stdout, _, err = runCLI(ctx, t, "jobs")
	if err != nil || !strings.Contains(stdout, id) {
		t.Fatalf("jobs: %v\n%s", err, stdout)
	}
	// A second start reuses the token, and the job keeps its outcome though
	// the restarted local backend has forgotten it.
	b.stop(t)
	b = startServe(t, dir, "--roles", "factory,manager,agents", "--token-file", tokenFile)
	tok2, err := os.ReadFile(tokenFile)
	if err != nil || string(tok2) != string(tok) {
		t.Fatalf("token changed across restarts: %q → %q (%v)", tok, tok2, err)
	}
	t.Setenv("TUPLEBROKER_URL", "http://"+b.httpAddr)
	if stdout, _, err = runCLI(ctx, t, "status", id); err != nil || !strings.Contains(stdout, "Finished") {
		t.Fatalf("status after restart: %v\n%s", err, stdout)
	}
}
