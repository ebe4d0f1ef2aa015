package space

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"tuplebroker"
)

// startServer starts an embedded server; dir "" means memory-only JetStream.
func startServer(t testing.TB, dir string) *Server {
	t.Helper()
	srv, err := StartServer(ServerConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// openSpace opens a Space on its own TCP connection to srv.
func openSpace(t testing.TB, url string, opts ...Option) *Space {
	t.Helper()
	nc, err := Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sp, err := Open(ctx, nc, opts...)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(); nc.Close() })
	return sp
}

func rawConn(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newRequest(class string) *tuplebroker.Request {
	r := &tuplebroker.Request{GUID: uuid.NewString(), Factory: "f1", UID: "alice", JSDL: []byte("<jsdl/>"), Created: time.Now().UTC()}
	if class != "" {
		r.Requirements = tuplebroker.Requirements{class}
	}
	return r
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer is a slog handler target safe for concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func bufferLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, nil)), lb
}

func guidOf(t tuplebroker.Tuple) string {
	switch v := t.(type) {
	case *tuplebroker.Request:
		return v.GUID
	case *tuplebroker.Response:
		return v.GUID
	}
	panic(fmt.Sprintf("no guid in %T", t))
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t testing.TB, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatal("condition never held")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
