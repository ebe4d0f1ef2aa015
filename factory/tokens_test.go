package factory

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// EnsureLocalToken creates a token once (files 0600, directories 0700) and
// reuses it after.
func TestEnsureLocalTokenCreatesThenReuses(t *testing.T) {
	dir := t.TempDir()
	tokensFile := filepath.Join(dir, "data", "tokens")
	tokenFile := filepath.Join(dir, "config", "tuplebroker", "token")

	tok, err := EnsureLocalToken(tokensFile, tokenFile, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 64 || strings.Trim(tok, "0123456789abcdef") != "" {
		t.Fatalf("token %q: want 32 bytes in hex", tok)
	}
	for _, f := range []string{tokensFile, tokenFile} {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, m)
		}
		if m := mode(t, filepath.Dir(f)); m != 0o700 {
			t.Errorf("%s mode %v, want 0700", filepath.Dir(f), m)
		}
	}
	tks, err := LoadTokens(tokensFile)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := tks.User(tok); !ok || u != "alice" {
		t.Fatalf("tokens file maps the token to %q %v", u, ok)
	}

	again, err := EnsureLocalToken(tokensFile, tokenFile, "alice")
	if err != nil || again != tok {
		t.Fatalf("second call: %q %v, want the same token", again, err)
	}
	data, _ := os.ReadFile(tokensFile)
	if n := strings.Count(string(data), "\n"); n != 1 {
		t.Fatalf("tokens file has %d lines after reuse, want 1:\n%s", n, data)
	}

	// Another user: a new token, appended.
	bob, err := EnsureLocalToken(tokensFile, tokenFile, "bob")
	if err != nil || bob == tok {
		t.Fatalf("bob: %q %v", bob, err)
	}
	tks, _ = LoadTokens(tokensFile)
	if u, _ := tks.User(tok); u != "alice" {
		t.Errorf("alice's token now maps to %q", u)
	}
	if u, _ := tks.User(bob); u != "bob" {
		t.Errorf("bob's token maps to %q", u)
	}
	// A token file whose token the tokens file does not know is replaced.
	if err := os.WriteFile(tokenFile, []byte("unknown-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok3, err := EnsureLocalToken(tokensFile, tokenFile, "bob"); err != nil || tok3 == "unknown-token-0123456789" {
		t.Fatalf("unknown token reused: %q %v", tok3, err)
	}
}

func TestLoadTokensRejectsMalformedLines(t *testing.T) {
	for _, tc := range []struct{ name, content, line string }{
		{"one field", "# c\n0123456789abcdef0123 alice\nlonely-token-0123456789\n", "line 3"},
		{"three fields", "0123456789abcdef0123 alice extra\n", "line 1"},
		{"short token", "\nshort alice\n", "line 2"},
		{"bad user", "0123456789abcdef0123 al/ice\n", "line 1"},
		{"duplicate token", "0123456789abcdef0123 alice\n0123456789abcdef0123 bob\n", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadTokens(path)
			if !errors.Is(err, ErrBadTokens) || !strings.Contains(err.Error(), tc.line) {
				t.Fatalf("error %v, want ErrBadTokens naming %s", err, tc.line)
			}
		})
	}
	if _, err := LoadTokens(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// A changed tokens file is read again; a broken one leaves the last good
// tokens in force.
func TestTokensReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(content string, at time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write("token-one-0123456789 alice\n", t0)
	tks, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	tks.checkEvery = 0 // look at the file on every call

	write("token-two-0123456789 bob\n", t0.Add(time.Second))
	if _, ok := tks.User("token-one-0123456789"); ok {
		t.Error("a removed token still works")
	}
	if u, ok := tks.User("token-two-0123456789"); !ok || u != "bob" {
		t.Errorf("new token: %q %v", u, ok)
	}
	write("garbage\n", t0.Add(2*time.Second))
	if u, ok := tks.User("token-two-0123456789"); !ok || u != "bob" || tks.Err() == nil {
		t.Errorf("after a broken file: %q %v (err %v), want bob's token kept and the error reported", u, ok, tks.Err())
	}
	if _, ok := tks.User(""); ok {
		t.Error("the empty token is accepted")
	}
}

func TestDefaultTokenFile(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/cfg")
	if p, err := DefaultTokenFile(); err != nil || p != "/cfg/tuplebroker/token" {
		t.Errorf("with XDG_CONFIG_HOME: %q %v", p, err)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/u")
	if p, err := DefaultTokenFile(); err != nil || p != "/home/u/.config/tuplebroker/token" {
		t.Errorf("without: %q %v", p, err)
	}
}
