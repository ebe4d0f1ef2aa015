package factory

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// MinTokenLength is the shortest token a tokens file may hold.
const MinTokenLength = 16

// ErrBadTokens wraps every error about a tokens file's content.
var ErrBadTokens = errors.New("bad tokens file")

// Tokens maps bearer tokens to user names, read from a file of "TOKEN USER"
// lines (blank lines and lines starting with '#' are ignored). The file is
// read again when its modification time or size changes, checked at most
// once a second; a file that has become unreadable or malformed leaves the
// previous tokens in force (see Err). Safe for concurrent use.
type Tokens struct {
	path       string
	checkEvery time.Duration

	mu        sync.Mutex
	entries   []tokenEntry
	mod       time.Time
	size      int64
	checked   time.Time
	reloadErr error
}

type tokenEntry struct {
	sum  [sha256.Size]byte
	user string
}

// LoadTokens reads a tokens file. It returns an error naming the first
// malformed line (wrapping ErrBadTokens), or the file's read error (which
// wraps fs.ErrNotExist for a missing file).
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path, checkEvery: time.Second}
	entries, mod, size, err := readTokens(path)
	if err != nil {
		return nil, err
	}
	t.entries, t.mod, t.size, t.checked = entries, mod, size, time.Now()
	return t, nil
}

func readTokens(path string) ([]tokenEntry, time.Time, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("tokens: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("tokens: %w", err)
	}
	entries, err := parseTokens(path, data)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	return entries, st.ModTime(), st.Size(), nil
}

func parseTokens(path string, data []byte) ([]tokenEntry, error) {
	var out []tokenEntry
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%w: %s line %d: want \"TOKEN USER\", got %d fields", ErrBadTokens, path, n, len(fields))
		}
		tok, user := fields[0], fields[1]
		if err := checkToken(tok); err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrBadTokens, path, n, err)
		}
		if err := checkUser(user); err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrBadTokens, path, n, err)
		}
		sum := sha256.Sum256([]byte(tok))
		if prev, dup := seen[sum]; dup {
			return nil, fmt.Errorf("%w: %s line %d: token already given on line %d", ErrBadTokens, path, n, prev)
		}
		seen[sum] = n
		out = append(out, tokenEntry{sum: sum, user: user})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadTokens, path, err)
	}
	return out, nil
}

func checkToken(tok string) error {
	if len(tok) < MinTokenLength {
		return fmt.Errorf("token shorter than %d characters", MinTokenLength)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x21 || tok[i] > 0x7e {
			return errors.New("token has a character that is not printable ASCII")
		}
	}
	return nil
}

// checkUser accepts 1-64 letters, digits, '.', '_', '-' and '@'.
func checkUser(u string) error {
	if u == "" || len(u) > 64 {
		return errors.New("user name must be 1-64 characters")
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '@') {
			return errors.New("user name may hold only letters, digits, '.', '_', '-' and '@'")
		}
	}
	return nil
}

// User returns the user a token belongs to. Every known token is compared,
// in constant time, whatever the outcome.
func (t *Tokens) User(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	t.mu.Lock()
	t.maybeReload(time.Now())
	entries := t.entries
	t.mu.Unlock()
	user, found := "", 0
	for _, e := range entries {
		eq := subtle.ConstantTimeCompare(sum[:], e.sum[:])
		if eq == 1 {
			user = e.user
		}
		found |= eq
	}
	return user, found == 1 && token != ""
}

// Err returns the error of the last failed reload, nil once a reload
// succeeds.
func (t *Tokens) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reloadErr
}

// maybeReload rereads the file if it changed; t.mu is held.
func (t *Tokens) maybeReload(now time.Time) {
	if now.Sub(t.checked) < t.checkEvery {
		return
	}
	t.checked = now
	st, err := os.Stat(t.path)
	if err != nil {
		t.reloadErr = fmt.Errorf("tokens: %w", err)
		return
	}
	if st.ModTime().Equal(t.mod) && st.Size() == t.size {
		return
	}
	entries, mod, size, err := readTokens(t.path)
	if err != nil {
		t.reloadErr = err
		return
	}
	t.entries, t.mod, t.size, t.reloadErr = entries, mod, size, nil
}

// EnsureLocalToken gives user a token for the local broker: the token in
// tokenFile if tokensFile maps it to user, else a new random token (32
// bytes, hex) appended as "TOKEN USER" to tokensFile and written to
// tokenFile. Files are created 0600, missing parent directories 0700.
func EnsureLocalToken(tokensFile, tokenFile, user string) (string, error) {
	if err := checkUser(user); err != nil {
		return "", fmt.Errorf("local token for %q: %w", user, err)
	}
	existing, err := LoadTokens(tokensFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if data, err := os.ReadFile(tokenFile); err == nil {
		tok := strings.TrimSpace(string(data))
		if existing != nil {
			if u, ok := existing.User(tok); ok && u == user {
				return tok, nil
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("local token: %w", err)
	}

	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("local token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])
	if err := appendToken(tokensFile, tok, user); err != nil {
		return "", err
	}
	if err := writeFileAtomic(tokenFile, []byte(tok+"\n")); err != nil {
		return "", err
	}
	return tok, nil
}

func appendToken(path, tok, user string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	line := tok + " " + user + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		// Start on a line of our own if the file does not end with one.
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("tokens: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path (0600) through a temporary file and a
// rename, creating missing parent directories 0700.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	return nil
}

// DefaultTokenFile is where the CLI keeps the local user's token:
// $XDG_CONFIG_HOME/tuplebroker/token, else ~/.config/tuplebroker/token.
func DefaultTokenFile() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "tuplebroker", "token"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	return filepath.Join(home, ".config", "tuplebroker", "token"), nil
}
