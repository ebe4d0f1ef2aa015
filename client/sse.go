package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// sseEvent is one event of a text/event-stream.
type sseEvent struct {
	// Type is the event's "event" field, "message" when it had none.
	Type string
	// ID is the last event ID seen in the stream so far (it carries over
	// to later events that set none, as the spec says).
	ID string
	// Data is the event's data lines joined by "\n".
	Data string
	// Retry is the reconnection time in milliseconds the event (or an
	// earlier one) set; 0 if none.
	Retry int
}

// errSSETooLong: a line or an event's data exceeds the reader's limit.
var errSSETooLong = errors.New("event stream: line or event too long")

// sseDefaultLimit bounds one line and one event's data: a Job is a few
// hundred bytes, so 1 MiB is far beyond anything a factory sends.
const sseDefaultLimit = 1 << 20

// readSSE parses the text/event-stream r (the WHATWG HTML "server-sent
// events" format: fields event, data, id and retry; lines starting with ':'
// are comments; lines end with LF, CRLF or a lone CR; a leading UTF-8 BOM is
// skipped) and calls fn with each complete event, in order. An event is
// complete at the blank line that follows it: an event cut off by the end
// of the stream is dropped, and so is an event without data. A line longer
// than limit bytes, or an event whose data grows beyond limit bytes, ends
// the reading with an error wrapping errSSETooLong (limit <= 0:
// sseDefaultLimit).
//
// readSSE returns nil at the end of r, fn's error if fn returns one (it
// stops at once), or ctx.Err() once ctx ends; if r is an io.Closer it is
// closed when ctx ends, to unblock a pending read. Other read errors are
// returned wrapped.
func readSSE(ctx context.Context, r io.Reader, limit int, fn func(sseEvent) error) error {
	if limit <= 0 {
		limit = sseDefaultLimit
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c, ok := r.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	lr := &lineReader{r: bufio.NewReader(r), limit: limit}
	var (
		typ, lastID string
		retry       int
		data        strings.Builder
		hasData     bool
	)
	for first := true; ; first = false {
		line, err := lr.next()
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if first {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) == 0 { // dispatch
			if hasData {
				ev := sseEvent{Type: typ, ID: lastID, Data: data.String(), Retry: retry}
				if ev.Type == "" {
					ev.Type = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			typ, hasData = "", false
			data.Reset()
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		if line[0] == ':' { // comment (keepalive)
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
			if data.Len() > limit {
				return fmt.Errorf("event data over %d bytes: %w", limit, errSSETooLong)
			}
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				lastID = string(value)
			}
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && isDigits(value) {
				retry = n
			}
		}
		// Unknown fields are ignored.
	}
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// lineReader splits a stream into lines ended by LF, CRLF or a lone CR,
// none longer than limit bytes.
type lineReader struct {
	r     *bufio.Reader
	limit int
	buf   []byte
	// skipLF: the last line ended with CR, so an LF right after it
	// belongs to that line end.
	skipLF bool
}

// next returns the next line without its terminator; the slice is valid
// until the following call. A last line without terminator is not a line:
// next returns io.EOF instead.
func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		b, err := l.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("reading event stream: %w", err)
		}
		if l.skipLF {
			l.skipLF = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return l.buf, nil
		case '\r':
			l.skipLF = true
			return l.buf, nil
		}
		if len(l.buf) >= l.limit {
			return nil, fmt.Errorf("line over %d bytes: %w", l.limit, errSSETooLong)
		}
		l.buf = append(l.buf, b)
	}
}
