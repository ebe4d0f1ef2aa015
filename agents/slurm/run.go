package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// runner runs one Slurm command (a name such as "sbatch", looked up by the
// backend) with stdin, and returns its standard output and error. A
// failure is a *cmdError carrying the command's stderr. Tests wrap it to
// count calls.
type runner func(ctx context.Context, cmd string, args []string, stdin []byte) (stdout, stderr []byte, err error)

// Output bounds: squeue for tens of thousands of jobs stays well below.
const (
	maxStdout = 32 << 20
	maxStderr = 64 << 10
)

// execRunner runs the commands found in paths, each with exactly its
// environment in envs (none if absent), each bounded by timeout.
func execRunner(paths map[string]string, envs map[string][]string, timeout time.Duration) runner {
	return func(ctx context.Context, name string, args []string, stdin []byte) ([]byte, []byte, error) {
		path, ok := paths[name]
		if !ok {
			return nil, nil, &cmdError{cmd: name, err: errors.New("unknown command")}
		}
		cctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
		defer cancel()
		c := exec.CommandContext(cctx, path, args...)
		c.Env = envs[name]
		if c.Env == nil {
			c.Env = []string{}
		}
		c.Dir = "/"
		if stdin != nil {
			c.Stdin = bytes.NewReader(stdin)
		}
		var stdout, stderr capped
		stdout.max, stderr.max = maxStdout, maxStderr
		c.Stdout, c.Stderr = &stdout, &stderr
		c.WaitDelay = time.Second
		err := c.Run()
		if err != nil {
			if cctx.Err() != nil {
				if ctx.Err() != nil {
					return nil, nil, fmt.Errorf("%s: %w", name, ctx.Err())
				}
				err = fmt.Errorf("%w after %v", errTimeout, timeout)
			}
			return nil, nil, &cmdError{cmd: name, stderr: string(bytes.TrimSpace(stderr.buf.Bytes())), err: err}
		}
		if stdout.over {
			return nil, nil, &cmdError{cmd: name, err: fmt.Errorf("output larger than %d bytes", maxStdout)}
		}
		return stdout.buf.Bytes(), stderr.buf.Bytes(), nil
	}
}

// capped is a buffer that keeps the first max bytes written and notes the
// rest; the command never blocks on it.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

var _ io.Writer = (*capped)(nil)

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room < len(p) {
		c.over = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return c.buf.Write(p)
}
