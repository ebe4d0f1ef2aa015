// Package bus carries the calls between tuplebroker's roles over NATS core
// request/reply, beside the tuplespace: a manager node asks an agent for its
// jobs' states and to cancel one; a factory asks the manager node hosting a
// job for it, pushes a job to an agent through a courier's address, and
// follows a job's events.
//
// Subjects ("tb" is the default prefix):
//
//	tb.agent.<name>.status|cancel|push   an agent's services
//	tb.mgr.<handle>.job|cancel|jobs      a manager node's services
//	tb.events.<guid>                     a job's state changes (published by its manager)
//
// Errors cross the wire as codes and come back as the same sentinels
// (tuplebroker.ErrNotFound, tuplebroker.ErrUnknownJob, ...); a service nobody
// answers for is tuplebroker.ErrUnavailable.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"tuplebroker"
)

// Bus is one process's end of the bus. It is safe for concurrent use.
type Bus struct {
	nc      *nats.Conn
	prefix  string
	timeout time.Duration
	log     *slog.Logger
}

// Option changes a Bus.
type Option func(*Bus)

// WithPrefix sets the subject prefix (default "tb"): pools sharing one NATS
// system stay apart by prefix.
func WithPrefix(p string) Option { return func(b *Bus) { b.prefix = p } }

// WithTimeout bounds each call that has no earlier deadline (default 5 s).
func WithTimeout(d time.Duration) Option { return func(b *Bus) { b.timeout = d } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(b *Bus) { b.log = l } }

// New returns a Bus on nc.
func New(nc *nats.Conn, opts ...Option) (*Bus, error) {
	b := &Bus{nc: nc, prefix: "tb", timeout: 5 * time.Second, log: slog.Default()}
	for _, o := range opts {
		o(b)
	}
	if err := CheckName(b.prefix); err != nil {
		return nil, fmt.Errorf("bus prefix: %w", err)
	}
	return b, nil
}

// ErrBadName: a name that cannot be a subject token.
var ErrBadName = errors.New("bus: name must be 1-64 letters, digits, '-' or '_'")

// CheckName reports whether s can name an agent or a manager node.
func CheckName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%w: %q", ErrBadName, s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%w: %q", ErrBadName, s)
		}
	}
	return nil
}

// AgentAddress is the address an agent puts in its couriers.
func (b *Bus) AgentAddress(agent string) string { return b.prefix + ".agent." + agent }

func (b *Bus) managerSubject(handle, op string) string { return b.prefix + ".mgr." + handle + "." + op }

func (b *Bus) eventSubject(guid string) string { return b.prefix + ".events." + guid }

// reply is every answer's envelope.
type reply struct {
	Code  string          `json:"code,omitempty"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

var codes = []struct {
	code string
	err  error
}{
	{"not_found", tuplebroker.ErrNotFound},
	{"conflict", tuplebroker.ErrConflict},
	{"unavailable", tuplebroker.ErrUnavailable},
	{"unknown_job", tuplebroker.ErrUnknownJob},
	{"refused", tuplebroker.ErrRefused},
	{"rejected", tuplebroker.ErrRejected},
}

func codeOf(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "error"
}

// remoteError is an error reported by the other end.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// call sends req to subject and decodes the answer's data into out.
func (b *Bus) call(ctx context.Context, subject string, req, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", subject, err)
	}
	msg, err := b.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("%s: %w: %v", subject, tuplebroker.ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", subject, err)
	}
	var r reply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return fmt.Errorf("%s: decode reply: %w", subject, err)
	}
	if r.Code != "" {
		re := &remoteError{msg: r.Error}
		for _, c := range codes {
			if c.code == r.Code {
				re.kind = c.err
			}
		}
		return fmt.Errorf("%s: %w", subject, re)
	}
	if out != nil && len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return fmt.Errorf("%s: decode reply data: %w", subject, err)
		}
	}
	return nil
}

// maxInFlight bounds the handlers one served subject runs at once.
const maxInFlight = 256

// serve answers requests on subject with h until the returned stop is
// called or ctx ends. Handlers run concurrently, at most maxInFlight.
func serve[Req any](ctx context.Context, b *Bus, subject string, h func(context.Context, Req) (any, error)) (*nats.Subscription, error) {
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var r reply
			var req Req
			if err := json.Unmarshal(m.Data, &req); err != nil {
				r = reply{Code: "error", Error: fmt.Sprintf("bad request: %v", err)}
			} else if out, err := h(ctx, req); err != nil {
				r = reply{Code: codeOf(err), Error: err.Error()}
			} else if out != nil {
				data, err := json.Marshal(out)
				if err != nil {
					r = reply{Code: "error", Error: err.Error()}
				} else {
					r.Data = data
				}
			}
			data, _ := json.Marshal(r)
			if err := m.Respond(data); err != nil {
				b.log.Debug("bus: respond", "subject", subject, "err", err)
			}
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return sub, nil
}

// flush waits until the server has processed what this connection sent
// (subscriptions included), within b.timeout or ctx's earlier deadline.
func (b *Bus) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("bus: flush: %w", err)
	}
	return nil
}

// Server is a set of served subjects.
type Server struct {
	subs []*nats.Subscription
}

// Stop unsubscribes; handlers in flight finish on their own.
func (s *Server) Stop() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
}

func (s *Server) add(sub *nats.Subscription, err error) error {
	if err == nil {
		s.subs = append(s.subs, sub)
	}
	return err
}

// AgentService is what an agent offers on the bus.
type AgentService interface {
	// Status reports the backend states of the given backend job ids;
	// ids the backend no longer knows are absent.
	Status(ctx context.Context, backendJobIDs []string) (map[string]tuplebroker.Status, error)
	// Cancel cancels one backend job.
	Cancel(ctx context.Context, backendJobID string) error
	// Push asks the agent to take the request with this GUID (of this
	// requirements class) now, through a courier slot the caller holds.
	Push(ctx context.Context, guid, class string, slot int) error
}

// Push is a factory's push of one job to an agent through a courier.
type Push struct {
	GUID  string `json:"guid"`
	Class string `json:"class"`
	Slot  int    `json:"slot"`
}

type statusReq struct {
	IDs []string `json:"ids"`
}

type cancelReq struct {
	ID string `json:"id"`
}

// ServeAgent serves an agent's services under its address.
func (b *Bus) ServeAgent(ctx context.Context, agent string, svc AgentService) (*Server, error) {
	if err := CheckName(agent); err != nil {
		return nil, err
	}
	a := b.AgentAddress(agent)
	s := &Server{}
	err := errors.Join(
		s.add(serve(ctx, b, a+".status", func(ctx context.Context, r statusReq) (any, error) {
			return svc.Status(ctx, r.IDs)
		})),
		s.add(serve(ctx, b, a+".cancel", func(ctx context.Context, r cancelReq) (any, error) {
			return nil, svc.Cancel(ctx, r.ID)
		})),
		s.add(serve(ctx, b, a+".push", func(ctx context.Context, r Push) (any, error) {
			return nil, svc.Push(ctx, r.GUID, r.Class, r.Slot)
		})),
	)
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, b.flush(ctx)
}

// AgentStatus asks agent for the states of backend jobs, in one call.
func (b *Bus) AgentStatus(ctx context.Context, agent string, backendJobIDs []string) (map[string]tuplebroker.Status, error) {
	out := map[string]tuplebroker.Status{}
	if err := b.call(ctx, b.AgentAddress(agent)+".status", statusReq{IDs: backendJobIDs}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// AgentCancel asks agent to cancel one backend job.
func (b *Bus) AgentCancel(ctx context.Context, agent, backendJobID string) error {
	return b.call(ctx, b.AgentAddress(agent)+".cancel", cancelReq{ID: backendJobID}, nil)
}

// PushTo pushes a job to the agent at address (a courier's Address).
func (b *Bus) PushTo(ctx context.Context, address string, p Push) error {
	if !strings.HasPrefix(address, b.prefix+".agent.") {
		return fmt.Errorf("push to %q: %w", address, ErrBadName)
	}
	return b.call(ctx, address+".push", p, nil)
}

// ManagerService is what a manager node offers on the bus. Every call names
// the caller's UID: a job of another owner is tuplebroker.ErrNotFound.
type ManagerService interface {
	Job(ctx context.Context, uid, guid string) (tuplebroker.Job, error)
	Cancel(ctx context.Context, uid, guid string) (tuplebroker.Job, error)
	// Jobs returns the owner's hosted jobs among guids.
	Jobs(ctx context.Context, uid string, guids []string) ([]tuplebroker.Job, error)
}

type jobReq struct {
	UID  string `json:"uid"`
	GUID string `json:"guid"`
}

type jobsReq struct {
	UID   string   `json:"uid"`
	GUIDs []string `json:"guids"`
}

// ServeManager serves a manager node's services under its handle.
func (b *Bus) ServeManager(ctx context.Context, handle string, svc ManagerService) (*Server, error) {
	if err := CheckName(handle); err != nil {
		return nil, err
	}
	s := &Server{}
	err := errors.Join(
		s.add(serve(ctx, b, b.managerSubject(handle, "job"), func(ctx context.Context, r jobReq) (any, error) {
			return svc.Job(ctx, r.UID, r.GUID)
		})),
		s.add(serve(ctx, b, b.managerSubject(handle, "cancel"), func(ctx context.Context, r jobReq) (any, error) {
			return svc.Cancel(ctx, r.UID, r.GUID)
		})),
		s.add(serve(ctx, b, b.managerSubject(handle, "jobs"), func(ctx context.Context, r jobsReq) (any, error) {
			return svc.Jobs(ctx, r.UID, r.GUIDs)
		})),
	)
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, b.flush(ctx)
}

// ManagerJob asks the manager node at handle for one job.
func (b *Bus) ManagerJob(ctx context.Context, handle, uid, guid string) (tuplebroker.Job, error) {
	var j tuplebroker.Job
	err := b.call(ctx, b.managerSubject(handle, "job"), jobReq{UID: uid, GUID: guid}, &j)
	return j, err
}

// ManagerCancel asks the manager node at handle to cancel one job.
func (b *Bus) ManagerCancel(ctx context.Context, handle, uid, guid string) (tuplebroker.Job, error) {
	var j tuplebroker.Job
	err := b.call(ctx, b.managerSubject(handle, "cancel"), jobReq{UID: uid, GUID: guid}, &j)
	return j, err
}

// ManagerJobs asks the manager node at handle for several jobs at once.
func (b *Bus) ManagerJobs(ctx context.Context, handle, uid string, guids []string) ([]tuplebroker.Job, error) {
	var js []tuplebroker.Job
	err := b.call(ctx, b.managerSubject(handle, "jobs"), jobsReq{UID: uid, GUIDs: guids}, &js)
	return js, err
}

// PublishEvent announces a job's new state to its followers.
func (b *Bus) PublishEvent(j tuplebroker.Job) error {
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("event %s: %w", j.ID, err)
	}
	if err := b.nc.Publish(b.eventSubject(j.ID), data); err != nil {
		return fmt.Errorf("event %s: %w", j.ID, err)
	}
	return nil
}

// Follow delivers the events of one job until ctx ends. The channel is not
// closed: stop reading when ctx ends. A slow reader loses events rather than
// blocking the bus (the current state can always be asked for).
func (b *Bus) Follow(ctx context.Context, guid string) (<-chan tuplebroker.Job, error) {
	ch := make(chan tuplebroker.Job, 64)
	sub, err := b.nc.Subscribe(b.eventSubject(guid), func(m *nats.Msg) {
		var j tuplebroker.Job
		if json.Unmarshal(m.Data, &j) != nil {
			return
		}
		select {
		case ch <- j:
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", guid, err)
	}
	if err := b.flush(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("follow %s: %w", guid, err)
	}
	go func() {
		<-ctx.Done()
		_ = sub.Unsubscribe()
	}()
	return ch, nil
}
