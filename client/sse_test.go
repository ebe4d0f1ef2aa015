package client

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// collect parses stream with limit and returns the events and the error.
func collect(t *testing.T, r io.Reader, limit int) ([]sseEvent, error) {
	t.Helper()
	var got []sseEvent
	err := readSSE(context.Background(), r, limit, func(ev sseEvent) error {
		got = append(got, ev)
		return nil
	})
	return got, err
}

func TestReadSSE(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []sseEvent
	}{
		{
			name:   "state events",
			stream: "event: state\nid: 1\ndata: {\"id\":\"a\"}\n\nevent: state\nid: 2\ndata: {\"id\":\"b\"}\n\n",
			want: []sseEvent{
				{Type: "state", ID: "1", Data: `{"id":"a"}`},
				{Type: "state", ID: "2", Data: `{"id":"b"}`},
			},
		},
		{
			name:   "multi-line data is joined with LF",
			stream: "data: one\ndata: two\ndata:\ndata: four\n\n",
			want:   []sseEvent{{Type: "message", Data: "one\ntwo\n\nfour"}},
		},
		{
			name:   "comments and keepalives are skipped",
			stream: ": keepalive\n\n:\nevent: state\n: inside an event\ndata: x\n\n: keepalive\n\n",
			want:   []sseEvent{{Type: "state", Data: "x"}},
		},
		{
			name:   "CRLF line ends",
			stream: "event: state\r\nid: 7\r\ndata: a\r\ndata: b\r\n\r\n",
			want:   []sseEvent{{Type: "state", ID: "7", Data: "a\nb"}},
		},
		{
			name:   "lone CR line ends",
			stream: "event: state\rdata: a\r\rdata: b\r\r",
			want:   []sseEvent{{Type: "state", Data: "a"}, {Type: "message", Data: "b"}},
		},
		{
			name:   "mixed line ends",
			stream: "data: a\r\ndata: b\rdata: c\n\r\n",
			want:   []sseEvent{{Type: "message", Data: "a\nb\nc"}},
		},
		{
			name:   "one leading space of a value is dropped, no more",
			stream: "data:nospace\ndata:  two spaces\ndata: a: b\n\n",
			want:   []sseEvent{{Type: "message", Data: "nospace\n two spaces\na: b"}},
		},
		{
			name:   "a field without colon has an empty value",
			stream: "data\ndata\n\n",
			want:   []sseEvent{{Type: "message", Data: "\n"}},
		},
		{
			name:   "the id carries over; an id with NUL is ignored",
			stream: "id: 5\ndata: a\n\ndata: b\n\nid: 6\x00\ndata: c\n\nid\ndata: d\n\n",
			want: []sseEvent{
				{Type: "message", ID: "5", Data: "a"},
				{Type: "message", ID: "5", Data: "b"},
				{Type: "message", ID: "5", Data: "c"},
				{Type: "message", ID: "", Data: "d"},
			},
		},
		{
			name:   "an event without data is not dispatched and resets the type",
			stream: "event: state\nid: 1\n\ndata: x\n\n",
			want:   []sseEvent{{Type: "message", ID: "1", Data: "x"}},
		},
		{
			name:   "an event cut off by the end of the stream is dropped",
			stream: "data: a\n\ndata: b\n",
			want:   []sseEvent{{Type: "message", Data: "a"}},
		},
		{
			name:   "a last line without end is dropped",
			stream: "data: a\n\ndata: b",
			want:   []sseEvent{{Type: "message", Data: "a"}},
		},
		{
			name:   "retry and unknown fields",
			stream: "retry: 1500\nfoo: bar\ndata: a\n\nretry: soon\ndata: b\n\n",
			want:   []sseEvent{{Type: "message", Data: "a", Retry: 1500}, {Type: "message", Data: "b", Retry: 1500}},
		},
		{
			name:   "a leading BOM is skipped",
			stream: "\uFEFFdata: a\n\n",
			want:   []sseEvent{{Type: "message", Data: "a"}},
		},
		{
			name:   "empty stream",
			stream: "",
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte per read (a CRLF split across reads).
			for _, r := range []io.Reader{strings.NewReader(tt.stream), iotest.OneByteReader(strings.NewReader(tt.stream))} {
				got, err := collect(t, r, 0)
				if err != nil {
					t.Fatalf("readSSE: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("events\n got %#v\nwant %#v", got, tt.want)
				}
			}
		})
	}
}

func TestReadSSELimits(t *testing.T) {
	// A line of exactly limit bytes passes.
	line := "data: " + strings.Repeat("x", 10)
	got, err := collect(t, strings.NewReader(line+"\n\n"), len(line))
	if err != nil || len(got) != 1 || got[0].Data != strings.Repeat("x", 10) {
		t.Fatalf("line at the limit: %v %#v", err, got)
	}
	// One byte more does not, and nothing of it is delivered.
	got, err = collect(t, strings.NewReader("data: a\n\n"+line+"y\n\n"), len(line))
	if !errors.Is(err, errSSETooLong) {
		t.Fatalf("line over the limit: err %v, want errSSETooLong", err)
	}
	if len(got) != 1 || got[0].Data != "a" {
		t.Fatalf("events before the long line: %#v", got)
	}
	// An over-long line without any line end at all (a misbehaving peer
	// streaming garbage) is stopped at the limit, not buffered without end.
	_, err = collect(t, io.LimitReader(infiniteX{}, 1<<30), 1024)
	if !errors.Is(err, errSSETooLong) {
		t.Fatalf("endless line: err %v, want errSSETooLong", err)
	}
	// Many short data lines cannot grow an event beyond the limit.
	many := strings.Repeat("data: 0123456789\n", 200) + "\n"
	_, err = collect(t, strings.NewReader(many), 1000)
	if !errors.Is(err, errSSETooLong) {
		t.Fatalf("event over the limit: err %v, want errSSETooLong", err)
	}
	// Comments count against the line limit too.
	_, err = collect(t, strings.NewReader(":"+strings.Repeat("k", 100)+"\n"), 50)
	if !errors.Is(err, errSSETooLong) {
		t.Fatalf("long comment: err %v, want errSSETooLong", err)
	}
}

type infiniteX struct{}

func (infiniteX) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestReadSSECallbackStops(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := readSSE(context.Background(), strings.NewReader("data: 1\n\ndata: 2\n\ndata: 3\n\n"), 0, func(ev sseEvent) error {
		n++
		if ev.Data == "2" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("err %v after %d events, want stop after 2", err, n)
	}
}

func TestReadSSEContext(t *testing.T) {
	// A read blocked on a silent stream ends when ctx ends: the reader
	// (an io.Closer, like an HTTP body) is closed.
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan sseEvent, 10)
	done := make(chan error, 1)
	go func() {
		done <- readSSE(ctx, pr, 0, func(ev sseEvent) error { got <- ev; return nil })
	}()
	if _, err := io.WriteString(pw, "data: a\n\n: keepalive\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Data != "a" {
			t.Fatalf("event %#v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("readSSE after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("readSSE did not return after ctx ended")
	}

	// An ended ctx stops it before reading anything.
	if err := readSSE(ctx, strings.NewReader("data: a\n\n"), 0, func(sseEvent) error {
		t.Error("event delivered after ctx ended")
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("readSSE with an ended ctx: %v", err)
	}
}

func TestReadSSEReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	got, err := collect(t, r, 0)
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the read error", err)
	}
	if len(got) != 1 {
		t.Fatalf("events %#v", got)
	}
}
