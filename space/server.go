package space

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerConfig configures an embedded nats-server with JetStream.
type ServerConfig struct {
	// Name is the server's name (must differ between cluster nodes).
	Name string
	// DataDir holds JetStream's file store. Empty: memory only.
	DataDir string
	// Host and Port for client connections. Port 0 picks a free port; -1
	// disables the listener (in-process connections only).
	Host string
	Port int
	// SyncAlways fsyncs every write before acknowledging it. Off (the
	// default), the store fsyncs every 2 minutes: a killed process loses
	// nothing acknowledged, a power loss can lose recent writes.
	SyncAlways bool
	// Cluster, if set, makes this server one node of a JetStream cluster.
	Cluster *ClusterConfig
}

// ClusterConfig joins an embedded server to a cluster.
type ClusterConfig struct {
	Name   string
	Host   string
	Port   int
	Routes []string // nats-route://host:port of the other nodes
}

// Server is an embedded nats-server.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded nats-server with JetStream and waits until
// it accepts connections. It listens on loopback only unless Host says
// otherwise.
func StartServer(cfg ServerConfig) (*Server, error) {
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       host,
		Port:       port,
		DontListen: cfg.Port < 0,
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		SyncAlways: cfg.SyncAlways,
		NoLog:      true,
		NoSigs:     true,
	}
	if cfg.DataDir == "" {
		opts.JetStreamMaxStore = 1 << 30
		opts.JetStreamMaxMemory = 1 << 30
	}
	if c := cfg.Cluster; c != nil {
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: c.Host, Port: c.Port}
		opts.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	go ns.Start()
	// Generous: a loaded 2-core machine starting a cluster node can take
	// tens of seconds.
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats-server: not ready after %v", readyTimeout)
	}
	return &Server{ns: ns}, nil
}

// readyTimeout bounds an embedded server's start.
const readyTimeout = 90 * time.Second

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Connect opens an in-process connection (no TCP) to the server.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.ns)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect in-process: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// Connect dials NATS URLs (comma-separated for a cluster) with reconnection
// that never gives up, so a restarted or failed-over server is picked up.
func Connect(urls string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.Name("tuplebroker"),
	}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", urls, err)
	}
	return nc, nil
}

// FreePort returns a free TCP port on 127.0.0.1 (for cluster routes in tests).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RouteURL formats a cluster route URL.
func RouteURL(host string, port int) string {
	return "nats-route://" + net.JoinHostPort(host, strconv.Itoa(port))
}
