// Package space is tuplebroker's Linda-style tuplespace on NATS JetStream KV.
//
// Operations: Write (with a lease), Read and Take by template (TryRead/TryTake
// return ErrNoMatch at once; Read/Take block until a match appears or ctx
// ends), Notify (a stream of matching writes), Renew and Cancel of leases, and
// transactions (Begin → Take/Write → Commit or Abort) with their own lease.
//
// How it maps to JetStream (codec.go has the key layout):
//
//   - Every tuple is one key of one KV bucket; a job's Request and, after
//     it, its Response share the key job.<guid>.
//   - Each Space keeps a mirror of the bucket (index.go) fed by one ordered
//     consumer (consumer.go). Reads, Notify and the choice of which tuple to
//     take come from the mirror, through indexes on the tuples' selecting
//     fields, and for Requests in take order (order.go: priority, fair share
//     between users, oldest first, an age bound); a take is then claimed on
//     the server with a compare-and-set on the key's last sequence, so
//     exactly one taker wins and a stale mirror costs only a retry.
//     Blocking calls wake on the mirror, not by polling.
//   - Leases are per-message TTLs enforced by the server (the bucket has
//     LimitMarkerTTL); the expiry is also in the value, so an expired tuple is
//     never returned even in the ≤ 250 ms before the server removes it.
//   - Transactions (txn.go): a take claims the tuple by CAS, with the
//     transaction's lease in the claim; the commit is one CAS message, or one
//     atomic batch of them; a claim whose lease ends is put back by any
//     Space (recovery.go).
package space

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker"
)

// Config configures a Space. Start from DefaultConfig.
type Config struct {
	// Bucket is the KV bucket that holds the space.
	Bucket string
	// Replicas is the bucket's replication factor (1, 3 or 5 on a cluster).
	Replicas int
	// Memory keeps the bucket in memory instead of on disk (tests, benchmarks).
	Memory bool
	// MarkerTTL is how long delete markers stay in the bucket so that slow
	// watchers still see removals. At least 1s.
	MarkerTTL time.Duration
	// SweepInterval is how often the space checks for claims whose lease
	// ended and for stale mirror entries.
	SweepInterval time.Duration
	// ClaimGrace is how long after a claim's lease ends another Space puts
	// the tuple back: a margin for the clocks of different machines.
	ClaimGrace time.Duration
	// Order is the take order of Requests (order.go).
	Order Order
	// OpTimeout bounds one server round trip when ctx has no deadline.
	OpTimeout time.Duration
	// Holder names this process in logs.
	Holder string
	// Logger receives decode errors and background failures.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration used when no option is given.
func DefaultConfig() Config {
	return Config{
		Bucket:        "tuples",
		Replicas:      1,
		MarkerTTL:     30 * time.Second,
		SweepInterval: time.Second,
		ClaimGrace:    500 * time.Millisecond,
		Order:         Order{AgeBound: 10 * time.Minute},
		OpTimeout:     2 * time.Second,
		Logger:        slog.Default(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case !validToken(c.Bucket):
		return fmt.Errorf("%w: bucket name %q", ErrInvalid, c.Bucket)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("%w: replicas %d not in 1..5", ErrInvalid, c.Replicas)
	case c.MarkerTTL < time.Second:
		return fmt.Errorf("%w: marker TTL %v below 1s (the server's minimum)", ErrInvalid, c.MarkerTTL)
	case c.SweepInterval <= 0 || c.OpTimeout <= 0 || c.ClaimGrace < 0:
		return fmt.Errorf("%w: sweep interval and op timeout must be positive, claim grace not negative", ErrInvalid)
	case c.Order.AgeBound < 0:
		return fmt.Errorf("%w: negative age bound", ErrInvalid)
	case c.Logger == nil:
		return fmt.Errorf("%w: nil logger", ErrInvalid)
	}
	return nil
}

// Option changes a Config.
type Option func(*Config)

// WithBucket sets the bucket name.
func WithBucket(b string) Option { return func(c *Config) { c.Bucket = b } }

// WithReplicas sets the bucket's replication factor.
func WithReplicas(n int) Option { return func(c *Config) { c.Replicas = n } }

// WithMemoryStorage keeps the bucket in memory.
func WithMemoryStorage() Option { return func(c *Config) { c.Memory = true } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// WithOrder sets the take order of Requests.
func WithOrder(o Order) Option { return func(c *Config) { c.Order = o } }

// WithHolder names this process in logs.
func WithHolder(h string) Option { return func(c *Config) { c.Holder = h } }

// WithConfig replaces the whole configuration.
func WithConfig(cfg Config) Option { return func(c *Config) { *c = cfg } }

// Space is a handle on a shared tuplespace. It is safe for concurrent use.
type Space struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	prefix  string // "$KV.<bucket>."
	id      string // unique per Space; prefixes message and transaction ids
	log     *slog.Logger
	mirror  *mirror
	seq     uint64 // message id counter (atomic via mu)
	mu      sync.Mutex
	writes  atomic.Uint64 // messages this Space published
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  chan struct{}
	closeMu sync.Once
}

// Open creates the bucket if needed, starts the mirror and waits until it has
// loaded the space's current contents.
func Open(ctx context.Context, nc *nats.Conn, opts ...Option) (*Space, error) {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open space: jetstream: %w", err)
	}
	stream, err := ensureBucket(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	id := uuid.NewString()
	if cfg.Holder == "" {
		cfg.Holder = id
	}
	s := &Space{
		cfg: cfg, nc: nc, js: js, stream: stream,
		prefix: "$KV." + cfg.Bucket + ".",
		id:     id,
		log:    cfg.Logger.With("component", "space", "bucket", cfg.Bucket),
		closed: make(chan struct{}),
	}
	s.mirror = newMirror(s)
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.mirror.start(bg); err != nil {
		cancel()
		return nil, err
	}
	select {
	case <-s.mirror.ready:
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("open space: loading mirror: %w", ctx.Err())
	}
	s.wg.Add(1)
	go s.sweepLoop(bg)
	return s, nil
}

// ensureBucket creates the bucket, or adopts an existing one as it is.
func ensureBucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	kvcfg := jetstream.KeyValueConfig{
		Bucket:         cfg.Bucket,
		History:        1,
		Storage:        storage,
		Replicas:       cfg.Replicas,
		LimitMarkerTTL: cfg.MarkerTTL,
		Description:    "tuplebroker tuplespace",
	}
	name := "KV_" + cfg.Bucket
	// Adopt an existing bucket as it is: other processes use it.
	stream, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateKeyValue(ctx, kvcfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return nil, fmt.Errorf("open space: create bucket %q: %w", cfg.Bucket, err)
		}
		stream, err = js.Stream(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("open space: stream %q: %w", name, err)
	}
	// Multi-key commits are atomic batches.
	if sc := stream.CachedInfo().Config; !sc.AllowAtomicPublish {
		sc.AllowAtomicPublish = true
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("open space: allow atomic publish on %q (needs nats-server 2.12 or later): %w", name, err)
		}
		if stream, err = js.Stream(ctx, name); err != nil {
			return nil, fmt.Errorf("open space: stream %q: %w", name, err)
		}
	}
	return stream, nil
}

// Close stops the mirror and background work. The connection stays open.
func (s *Space) Close() error {
	s.closeMu.Do(func() {
		close(s.closed)
		s.cancel()
		s.mirror.stop()
		s.wg.Wait()
	})
	return nil
}

// Lease is a tuple's lease as granted by Write or Renew.
type Lease struct {
	Key      string
	Revision uint64
	Expires  time.Time // zero: forever
	tuple    tuplebroker.Tuple
}

// Lease returns a handle on the entry's tuple at its revision, for Update,
// Renew or Cancel: each is a compare-and-set on that revision, so it fails
// with ErrChanged (or ErrLeaseExpired) if the tuple changed since, was
// taken, or is claimed by a transaction.
func (e Entry) Lease() Lease {
	return Lease{Key: e.Key, Revision: e.Revision, Expires: e.Expires, tuple: e.Tuple}
}

// Entry is a stored tuple as the mirror sees it, for inspection.
type Entry struct {
	Key      string
	Revision uint64
	Expires  time.Time
	// ClaimedBy is the transaction that has taken the tuple but not
	// committed, and ClaimedUntil the end of its lease.
	ClaimedBy    string
	ClaimedUntil time.Time
	// Returns counts the times the tuple was put back by a transaction that
	// took it and ended without committing.
	Returns int
	Tuple   tuplebroker.Tuple
}

// Forever is the lease of a tuple that lives until it is taken.
const Forever time.Duration = 0

// Write puts a tuple into the space for lease (Forever for no expiry).
// It returns ErrExists if a tuple with the same key is present, ErrInvalid
// for a tuple with an empty index field.
func (s *Space) Write(ctx context.Context, t tuplebroker.Tuple, lease time.Duration) (Lease, error) {
	if err := s.live(); err != nil {
		return Lease{}, err
	}
	key, err := tupleKey(t)
	if err != nil {
		return Lease{}, err
	}
	exp := expiry(lease)
	env, data, err := encodeTupleEnv(t, exp, "")
	if err != nil {
		return Lease{}, err
	}
	var expect uint64
	for attempt := 0; ; attempt++ {
		hdr := nats.Header{}
		hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
		setTTL(hdr, lease)
		rev, err := s.publish(ctx, key, data, hdr)
		if err == nil {
			s.mirror.applyLocal([]change{{key: key, rev: rev, env: env, tuple: cloneTuple(t)}})
			return Lease{Key: key, Revision: rev, Expires: exp, tuple: t}, nil
		}
		if !isWrongSeq(err) || attempt == 3 {
			return Lease{}, fmt.Errorf("write %s: %w", key, err)
		}
		// The key has history: a delete marker or an expired tuple may be
		// overwritten, a live tuple may not.
		last, gerr := s.stream.GetLastMsgForSubject(ctx, s.prefix+key)
		if gerr != nil {
			if errors.Is(gerr, jetstream.ErrMsgNotFound) {
				expect = 0
				continue
			}
			return Lease{}, fmt.Errorf("write %s: %w", key, gerr)
		}
		if !isRemoval(last.Header) {
			env, _, derr := decodeEnvelope(last.Data)
			if derr == nil && !env.expired(time.Now()) {
				return Lease{}, fmt.Errorf("write %s: %w", key, ErrExists)
			}
		}
		expect = last.Sequence
	}
}

// Renew extends a lease to d from now (Forever: no expiry). It returns
// ErrLeaseExpired if the tuple is gone (expired or taken) and ErrChanged if
// it was rewritten since the lease was granted.
func (s *Space) Renew(ctx context.Context, l Lease, d time.Duration) (Lease, error) {
	return s.Update(ctx, l, l.tuple, d)
}

// Update replaces a leased tuple with t (same key) and renews its lease to
// d from now, in one step. Errors as Renew.
func (s *Space) Update(ctx context.Context, l Lease, t tuplebroker.Tuple, d time.Duration) (Lease, error) {
	if err := s.live(); err != nil {
		return Lease{}, err
	}
	if l.tuple == nil || t == nil {
		return Lease{}, fmt.Errorf("%w: lease not granted by this space", ErrInvalid)
	}
	if key, err := tupleKey(t); err != nil || key != l.Key {
		return Lease{}, fmt.Errorf("%w: update of %s to a tuple with another key", ErrInvalid, l.Key)
	}
	if !l.Expires.IsZero() && !time.Now().Before(l.Expires) {
		return Lease{}, fmt.Errorf("renew %s: %w", l.Key, ErrLeaseExpired)
	}
	exp := expiry(d)
	env, data, err := encodeTupleEnv(t, exp, "")
	if err != nil {
		return Lease{}, err
	}
	hdr := nats.Header{}
	hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(l.Revision, 10))
	setTTL(hdr, d)
	rev, err := s.publish(ctx, l.Key, data, hdr)
	if err != nil {
		if isWrongSeq(err) {
			return Lease{}, fmt.Errorf("renew %s: %w", l.Key, s.goneOrChanged(l.Key))
		}
		return Lease{}, fmt.Errorf("renew %s: %w", l.Key, err)
	}
	s.mirror.applyLocal([]change{{key: l.Key, rev: rev, env: env, tuple: cloneTuple(t)}})
	return Lease{Key: l.Key, Revision: rev, Expires: exp, tuple: t}, nil
}

// Cancel ends a lease now, removing the tuple. Errors as Renew.
func (s *Space) Cancel(ctx context.Context, l Lease) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := s.remove(ctx, l.Key, l.Revision); err != nil {
		if isWrongSeq(err) {
			return fmt.Errorf("cancel %s: %w", l.Key, s.goneOrChanged(l.Key))
		}
		return fmt.Errorf("cancel %s: %w", l.Key, err)
	}
	return nil
}

func (s *Space) goneOrChanged(key string) error {
	if _, ok := s.mirror.get(key); ok {
		return ErrChanged
	}
	return ErrLeaseExpired
}

// TryRead returns a matching tuple without removing it, or ErrNoMatch.
func (s *Space) TryRead(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, error) {
	if err := s.check(tmpl); err != nil {
		return nil, err
	}
	if e := s.mirror.first(tmpl, time.Now()); e != nil {
		return cloneTuple(e.tuple), nil
	}
	return nil, ErrNoMatch
}

// Read blocks until a matching tuple exists and returns it, or ctx ends.
func (s *Space) Read(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, error) {
	return s.block(ctx, tmpl, func() (tuplebroker.Tuple, error) { return s.TryRead(ctx, tmpl) })
}

// TryTake removes and returns a matching tuple, or returns ErrNoMatch.
// Exactly one caller (in any process) gets each tuple.
func (s *Space) TryTake(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, error) {
	if err := s.check(tmpl); err != nil {
		return nil, err
	}
	return s.takeWith(ctx, tmpl, func(e *entry) error { return s.remove(ctx, e.key, e.rev) })
}

// Take blocks until it has removed a matching tuple, or ctx ends.
func (s *Space) Take(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, error) {
	return s.block(ctx, tmpl, func() (tuplebroker.Tuple, error) { return s.TryTake(ctx, tmpl) })
}

// Entries lists the stored tuples matching tmpl, including tuples claimed by
// open transactions, for inspection. It never blocks on the server.
func (s *Space) Entries(tmpl tuplebroker.Template) []Entry {
	return s.mirror.entriesFor(tmpl)
}

// Lookup returns the stored entry with exactly this key, claimed or not;
// like every read, never a tuple whose lease has ended.
func (s *Space) Lookup(key string) (Entry, bool) {
	e, ok := s.mirror.get(key)
	if !ok || e.env.expired(time.Now()) {
		return Entry{}, false
	}
	return e.public(), true
}

// Key returns the key under which t is stored.
func Key(t tuplebroker.Tuple) (string, error) { return tupleKey(t) }

// Transactions returns the ids of the transactions holding claims, as the
// mirror sees them.
func (s *Space) Transactions() []string {
	s.mirror.mu.RLock()
	defer s.mirror.mu.RUnlock()
	seen := map[string]bool{}
	out := []string{}
	for _, e := range s.mirror.claims {
		if !seen[e.env.C] {
			seen[e.env.C] = true
			out = append(out, e.env.C)
		}
	}
	return out
}

// QueueInfo is where a queued Request stands in the take order.
type QueueInfo struct {
	// Ahead estimates how many queued Requests of its requirements class go
	// before it (under fair share, other users' requests count up to its
	// own rank among its user's).
	Ahead int
	// ClassDepth is the number of Requests queued in its class; Queued in
	// all classes.
	ClassDepth, Queued int
}

// Queue reports where the Request with guid stands; false if it is not
// queued (claimed, taken, or unknown).
func (s *Space) Queue(guid string) (QueueInfo, bool) {
	return s.mirror.queueInfo(jobPrefix+"."+token(guid), time.Now())
}

// Stats are a Space's running counts.
type Stats struct {
	// Writes counts the messages this Space published to the bucket.
	Writes uint64
	// Tuples and Queued are what its mirror holds now.
	Tuples, Queued int
}

// Stats returns the Space's counts now.
func (s *Space) Stats() Stats {
	s.mirror.mu.RLock()
	defer s.mirror.mu.RUnlock()
	return Stats{Writes: s.writes.Load(), Tuples: len(s.mirror.entries), Queued: s.mirror.sched.Len()}
}

// takeWith tries the candidates for tmpl — Requests in take order, others in
// random order — claiming each with claim until one succeeds. A lost claim
// (the tuple changed) is normal. Candidates another taker of this process is
// claiming are skipped, so concurrent takers here spread over the head of
// the queue instead of racing for its first tuple.
func (s *Space) takeWith(ctx context.Context, tmpl tuplebroker.Template, claim func(*entry) error) (tuplebroker.Tuple, error) {
	const batch = 8
	// Each lost claim marks its entry stale, so this ends: with a tuple, or
	// when no candidate the mirror has not yet found stale remains.
	for {
		cands := s.mirror.candidates(tmpl, time.Now(), batch)
		if len(cands) == 0 {
			return nil, ErrNoMatch
		}
		for _, e := range cands {
			if !s.mirror.startClaim(e.key) {
				continue
			}
			err := claim(e)
			s.mirror.endClaim(e.key)
			if err == nil {
				return cloneTuple(e.tuple), nil
			}
			if !isWrongSeq(err) {
				return nil, fmt.Errorf("take %s: %w", e.key, err)
			}
			s.mirror.markLost(e)
		}
	}
}

// block runs try until it finds a match, waiting on the mirror in between.
func (s *Space) block(ctx context.Context, tmpl tuplebroker.Template, try func() (tuplebroker.Tuple, error)) (tuplebroker.Tuple, error) {
	if err := s.check(tmpl); err != nil {
		return nil, err
	}
	for {
		w := s.mirror.wait(tmpl)
		t, err := try()
		if !errors.Is(err, ErrNoMatch) {
			s.mirror.unwait(w)
			return t, err
		}
		select {
		case <-w.ch:
			s.mirror.unwait(w)
		case <-ctx.Done():
			s.mirror.unwait(w)
			return nil, ctx.Err()
		case <-s.closed:
			s.mirror.unwait(w)
			return nil, ErrClosed
		}
	}
}

func (s *Space) check(tmpl tuplebroker.Template) error {
	if err := s.live(); err != nil {
		return err
	}
	if tmpl == nil || !validKind(tmpl.Kind()) {
		return fmt.Errorf("%w: template", ErrInvalid)
	}
	return nil
}

func (s *Space) live() error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
		return nil
	}
}

// remove deletes key if its last revision is rev, leaving a purge marker
// that expires after MarkerTTL.
func (s *Space) remove(ctx context.Context, key string, rev uint64) error {
	hdr := removalHeader(s.cfg.MarkerTTL)
	hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	mrev, err := s.publish(ctx, key, nil, hdr)
	if err != nil {
		return err
	}
	s.mirror.applyLocal([]change{{key: key, rev: mrev, remove: true}})
	return nil
}

func removalHeader(markerTTL time.Duration) nats.Header {
	hdr := nats.Header{}
	hdr.Set(kvOpHeader, "PURGE")
	hdr.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	setTTL(hdr, markerTTL)
	return hdr
}

const (
	kvOpHeader   = "KV-Operation"
	markerHeader = "Nats-Marker-Reason"
)

// publish sends one message to key and returns its sequence. It carries a
// message id, so a publish whose acknowledgement was lost is retried safely:
// the server reports the retry as a duplicate of the write that won.
func (s *Space) publish(ctx context.Context, key string, data []byte, hdr nats.Header) (uint64, error) {
	m := nats.NewMsg(s.prefix + key)
	m.Data = data
	m.Header = hdr
	m.Header.Set(jetstream.MsgIDHeader, s.nextID())
	s.writes.Add(1)
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		actx, cancel := s.opContext(ctx)
		ack, err := s.js.PublishMsg(actx, m, jetstream.WithRetryAttempts(10), jetstream.WithRetryWait(100*time.Millisecond))
		cancel()
		if err == nil {
			return ack.Sequence, nil
		}
		lastErr = err
		if ctx.Err() != nil || !retryable(err) {
			return 0, err
		}
	}
	return 0, lastErr
}

// opContext bounds one round trip by OpTimeout (or ctx's earlier deadline):
// an acknowledgement lost in a failover is retried, not awaited forever.
func (s *Space) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.OpTimeout)
}

func (s *Space) nextID() string {
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	return s.id + "-" + strconv.FormatUint(n, 36)
}

func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionReconnecting)
}

// isWrongSeq reports a lost compare-and-set.
func isWrongSeq(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

func isRemoval(h nats.Header) bool {
	if h == nil {
		return false
	}
	if h.Get(markerHeader) != "" {
		return true
	}
	op := h.Get(kvOpHeader)
	return op == "DEL" || op == "PURGE"
}

func expiry(lease time.Duration) time.Time {
	if lease <= 0 {
		return time.Time{}
	}
	return time.Now().Add(lease)
}

// setTTL sets the server-side TTL for a lease: whole seconds, at least 1s
// (the server's minimum). The exact expiry is in the value.
func setTTL(h nats.Header, lease time.Duration) {
	if lease <= 0 {
		return
	}
	secs := (lease + time.Second - 1) / time.Second
	if secs < 1 {
		secs = 1
	}
	h.Set(jetstream.MsgTTLHeader, strconv.FormatInt(int64(secs), 10)+"s")
}

// Connected reports whether the Space's connection to its server is up.
func (s *Space) Connected() bool { return s.nc.IsConnected() }
