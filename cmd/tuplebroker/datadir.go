package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files that `serve` keeps in its data dir besides the space's store
// (space.HasStore). nats.url and http.addr exist while the broker runs; lock
// is held (flock) by the process that owns the store.
const (
	natsURLFile  = "nats.url"
	httpAddrFile = "http.addr"
	lockFile     = "lock"
)

var (
	// errDataDirBusy: another process holds the data dir's lock.
	errDataDirBusy = errors.New("data dir in use by another process")
	// errLockUnsupported: this platform has no advisory file locks.
	errLockUnsupported = errors.New("data dir locking not supported on this platform")
)

// defaultDataDir is $XDG_DATA_HOME/tuplebroker, else
// ~/.local/share/tuplebroker.
func defaultDataDir() (string, error) {
	if x := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "tuplebroker"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("default data dir: %w (pass --data-dir)", err)
	}
	return filepath.Join(home, ".local", "share", "tuplebroker"), nil
}

// dataDirFlag resolves a --data-dir value, "" meaning the default.
func dataDirFlag(v string) (string, error) {
	if v == "" {
		return defaultDataDir()
	}
	return v, nil
}

// writeFileAtomic replaces path with data (mode 0600) so that readers see the
// old content or the new, never a partial file.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readDataDirFile returns the trimmed content of one of the data dir's
// files.
func readDataDirFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", filepath.Join(dir, name))
	}
	return s, nil
}
