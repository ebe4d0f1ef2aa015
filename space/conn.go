package space

import (
	"time"

	"github.com/nats-io/nats.go"
)

// Conn is a connection to the NATS servers that hold a space: what Open,
// and the roles' transports, take. Programs get one from Dial or
// Server.Dial and need not import nats.go themselves.
type Conn = nats.Conn

// Dial connects to the NATS URLs (comma-separated for a cluster) as Connect
// does, the client named name (as servers show it), each attempt to reach a
// server bounded by timeout (0: nats.go's default). Errors are Connect's.
func Dial(urls, name string, timeout time.Duration) (*Conn, error) {
	opts := []nats.Option{nats.Name(name)}
	if timeout > 0 {
		opts = append(opts, nats.Timeout(timeout))
	}
	return Connect(urls, opts...)
}

// Dial opens an in-process connection (no TCP) to the server, the client
// named name. Errors are Connect's.
func (s *Server) Dial(name string) (*Conn, error) { return s.Connect(nats.Name(name)) }
