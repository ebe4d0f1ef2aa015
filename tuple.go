// Package tuplebroker holds the domain words every part of the broker shares:
// the three tuples that travel through the tuplespace (Request, Response,
// Courier), the templates that select them, and job states. It imports no
// I/O library; space/ stores these types in NATS JetStream, factory/, agents/
// and jobmanager/ create, take and retire them.
package tuplebroker

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind names a tuple type. It is the first token of every tuple's key.
type Kind string

// The tuple kinds.
const (
	KindRequest  Kind = "req"
	KindResponse Kind = "resp"
	KindCourier  Kind = "cour"
)

// Kinds lists every tuple kind, in pipeline order.
var Kinds = []Kind{KindRequest, KindResponse, KindCourier}

// A Tuple is one of *Request, *Response or *Courier.
//
// Index returns the tuple's selecting fields. The space indexes them, so
// that templates on them need no scan; the last one identifies the tuple
// within its kind (a job's GUID for Requests and Responses, which share
// one key).
type Tuple interface {
	Kind() Kind
	Index() []string
}

// A Template selects tuples of one kind. Index returns the selecting fields
// it fixes, in the same order as the Tuple's Index, with "" for "any". Match
// reports whether a tuple of the template's kind matches every field the
// template sets (unset fields match anything).
type Template interface {
	Kind() Kind
	Index() []string
	Match(Tuple) bool
}

// Request asks for one job to be run. A factory writes it (pull) and an agent
// takes it inside a transaction that also writes the job's Response
// (NewResponse, Fail) or writes it back for another attempt (Retried); the
// owner's cancel takes it back out with a Cancelled Response. See
// lifecycle.go.
type Request struct {
	GUID    string `json:"guid"`
	Factory string `json:"factory"` // handle of the factory that accepted the job
	UID     string `json:"uid"`     // owner
	JSDL    []byte `json:"jsdl"`    // the job description as submitted
	// Priority orders takes: higher is more urgent (space/order.go: age
	// bound, then priority, then fair share between users, then Created).
	// It is copied into the Response and reported with the job.
	Priority int `json:"priority,omitempty"`
	// Attempts counts submissions that a backend refused or failed.
	Attempts     int          `json:"attempts,omitempty"`
	Requirements Requirements `json:"requirements,omitempty"`
	Created      time.Time    `json:"created"`
	// LastError is the reason the last attempt failed, if any.
	LastError string `json:"last_error,omitempty"`
	// PushedTo names the agent a factory pushed this request to through a
	// courier. For PushWindow after Created only that agent's push handler
	// takes it; then it is anyone's to pull (so a push to an agent that died
	// is not lost).
	PushedTo string `json:"pushed_to,omitempty"`
}

// PushWindow is how long a pushed request is reserved for its agent.
const PushWindow = 10 * time.Second

// ReservedFor reports whether r is reserved, at now, for another agent than
// agent ("" : for any agent).
func (r *Request) ReservedFor(agent string, now time.Time) bool {
	return r.PushedTo != "" && r.PushedTo != agent && now.Sub(r.Created) < PushWindow
}

// Kind returns KindRequest.
func (*Request) Kind() Kind { return KindRequest }

// Index is [requirements class, GUID]: agents select requests by the class of
// requirements they can serve. A Request and its Response share one key in
// the space (the GUID): the commit turns one into the other.
func (r *Request) Index() []string { return []string{r.Requirements.Class(), r.GUID} }

// Requirements are the capabilities a backend must offer to serve a request,
// as canonical "name=value" labels (for example "os=LINUX", "arch=x86_64").
type Requirements []string

// ClassAny is the class of a request with no requirements.
const ClassAny = "any"

// Class returns a short token naming this set of requirements: equal sets
// (in any order) have equal classes. An agent that can serve one request of a
// class can serve every request of it.
func (r Requirements) Class() string {
	if len(r) == 0 {
		return ClassAny
	}
	s := slices.Clone([]string(r))
	slices.Sort(s)
	s = slices.Compact(s)
	sum := sha256.Sum256([]byte(strings.Join(s, "\n")))
	return "c" + hex.EncodeToString(sum[:8])
}

// RequestTemplate selects requests. Zero fields match anything.
type RequestTemplate struct {
	Class string // Requirements.Class() of the request
	GUID  string
	UID   string
}

// Kind returns KindRequest.
func (RequestTemplate) Kind() Kind { return KindRequest }

// Index is [class, GUID].
func (t RequestTemplate) Index() []string { return []string{t.Class, t.GUID} }

// Match reports whether tu is a Request with every set field equal.
func (t RequestTemplate) Match(tu Tuple) bool {
	r, ok := tu.(*Request)
	return ok && eq(t.GUID, r.GUID) && eq(t.UID, r.UID) && (t.Class == "" || t.Class == r.Requirements.Class())
}

// Response records where a job landed. An agent writes it unpublished
// (NewResponse, Request.Fail; a factory's cancel writes Request.Cancelled);
// the manager node that hosts the job's JobManager rewrites it published,
// with its own handle (HostedBy), and removes it when the job's lifetime
// ends (jobmanager/retire.go).
type Response struct {
	GUID         string    `json:"guid"`
	Manager      string    `json:"manager,omitempty"` // handle of the hosting manager node; empty until managed
	UID          string    `json:"uid"`
	Published    bool      `json:"published"`
	Agent        string    `json:"agent"`
	Backend      string    `json:"backend"`
	BackendJobID string    `json:"backend_job_id"`
	Submitted    time.Time `json:"submitted"`
	// Failure is set, with no backend, when the job ended Failed before
	// reaching any backend (rejected everywhere, or too many attempts).
	Failure string `json:"failure,omitempty"`
	// SubState refines a Response that ended before reaching any backend:
	// SubRejected or SubMaxAttempts with Failure, SubUserCancelled with
	// Cancelled. Set by whoever ends the job (Request.Fail,
	// Request.Cancelled); never read back from Failure's text.
	SubState string `json:"sub_state,omitempty"`
	// Attempts is how many submissions it took.
	Attempts int `json:"attempts,omitempty"`
	// Created and Priority are copied from the Request.
	Created  time.Time `json:"created,omitzero"`
	Priority int       `json:"priority,omitempty"`
	// Pushed: the job reached its agent through a courier.
	Pushed bool `json:"pushed,omitempty"`
	// Cancelled: the owner cancelled the job before any backend had it
	// (the Request was taken back out of the space).
	Cancelled bool `json:"cancelled,omitempty"`
	// Final is the job's terminal state, recorded by its manager node when
	// the job ended, so that a node re-hosting it (after a crash, or after a
	// backend that forgets ended jobs restarted) answers with the outcome.
	Final *Job `json:"final,omitempty"`
}

// Kind returns KindResponse.
func (*Response) Kind() Kind { return KindResponse }

// Index is [published flag, GUID].
func (r *Response) Index() []string { return []string{publishedToken(r.Published), r.GUID} }

func publishedToken(p bool) string {
	if p {
		return "pub"
	}
	return "new"
}

// ResponseTemplate selects responses. Zero fields match anything; Published
// nil matches both published and unpublished responses.
type ResponseTemplate struct {
	Published *bool
	GUID      string
	UID       string
	Manager   string
	Agent     string
}

// Kind returns KindResponse.
func (ResponseTemplate) Kind() Kind { return KindResponse }

// Index is [published flag, GUID].
func (t ResponseTemplate) Index() []string {
	p := ""
	if t.Published != nil {
		p = publishedToken(*t.Published)
	}
	return []string{p, t.GUID}
}

// Match reports whether tu is a Response with every set field equal.
func (t ResponseTemplate) Match(tu Tuple) bool {
	r, ok := tu.(*Response)
	return ok && (t.Published == nil || *t.Published == r.Published) &&
		eq(t.GUID, r.GUID) && eq(t.UID, r.UID) && eq(t.Manager, r.Manager) && eq(t.Agent, r.Agent)
}

// Courier is a free slot an agent offers: a factory holding it may push one
// job straight to the agent at Address.
type Courier struct {
	Agent        string    `json:"agent"`
	Slot         int       `json:"slot"`
	Address      string    `json:"address"`
	Capabilities []string  `json:"capabilities,omitempty"`
	Expires      time.Time `json:"expires"`
}

// Kind returns KindCourier.
func (*Courier) Kind() Kind { return KindCourier }

// Index is [agent, slot].
func (c *Courier) Index() []string { return []string{c.Agent, strconv.Itoa(c.Slot)} }

// CourierTemplate selects couriers. Zero fields match anything; Capability
// selects couriers whose agent offers that capability.
type CourierTemplate struct {
	Agent      string
	Capability string
}

// Kind returns KindCourier.
func (CourierTemplate) Kind() Kind { return KindCourier }

// Index is [agent, slot]; a template never fixes the slot.
func (t CourierTemplate) Index() []string { return []string{t.Agent, ""} }

// Match reports whether tu is a Courier with every set field equal.
func (t CourierTemplate) Match(tu Tuple) bool {
	c, ok := tu.(*Courier)
	return ok && eq(t.Agent, c.Agent) && (t.Capability == "" || slices.Contains(c.Capabilities, t.Capability))
}

func eq(want, got string) bool { return want == "" || want == got }

// Bool returns a pointer to b, for template fields such as Published.
func Bool(b bool) *bool { return &b }
