package space

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tuplebroker"
)

// Storage layout. Every tuple is one KV key:
//
//	job.<guid>                     a job's Request, then its Response: one key
//	                               for the whole life of a job, so taking the
//	                               Request and writing the Response is one
//	                               compare-and-set of one key
//	cour.<agent>.<slot>            a Courier
//
// A tuple's selecting fields (its Index) are not in the key: the mirror
// indexes them. Fields that are not valid key tokens (or longer than
// maxTokenLen) are replaced by "h" + 32 hex digits of their SHA-256; an empty
// field is "_". A value is a JSON envelope:
// {"v":1,"k":kind,"x":expiry,"c":claim,"l":claim lease,"r":returns,"d":tuple}.
// v is the encoding version; readers skip values with an unknown version.

const (
	encodingVersion = 1
	jobPrefix       = "job"
	maxTokenLen     = 64
)

// envelope is the stored form of a tuple.
type envelope struct {
	V int    `json:"v"`
	K string `json:"k"`
	// X is the lease expiry in Unix nanoseconds; 0 means forever.
	X int64 `json:"x,omitempty"`
	// C names the transaction that has taken this tuple but not yet
	// committed; a claimed tuple is invisible to reads and takes.
	C string `json:"c,omitempty"`
	// L is the end of the claim's lease (Unix ns): after it, any Space
	// puts the tuple back.
	L int64 `json:"l,omitempty"`
	// R counts the times this tuple was put back after a transaction that
	// had taken it ended without committing (aborted, or its holder died).
	R int             `json:"r,omitempty"`
	D json.RawMessage `json:"d"`
}

func (e *envelope) expiry() time.Time {
	if e.X == 0 {
		return time.Time{}
	}
	return time.Unix(0, e.X)
}

func (e *envelope) expired(now time.Time) bool { return e.X != 0 && now.UnixNano() >= e.X }

func encodeTuple(t tuplebroker.Tuple, exp time.Time, claim string) ([]byte, error) {
	_, b, err := encodeTupleEnv(t, exp, claim)
	return b, err
}

// encodeTupleEnv returns the envelope and its encoding.
func encodeTupleEnv(t tuplebroker.Tuple, exp time.Time, claim string) (*envelope, []byte, error) {
	d, err := json.Marshal(t)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s tuple: %w", t.Kind(), err)
	}
	env := &envelope{V: encodingVersion, K: string(t.Kind()), C: claim, D: d}
	if !exp.IsZero() {
		env.X = exp.UnixNano()
	}
	return env, appendEnvelope(make([]byte, 0, len(d)+96), env), nil
}

// appendEnvelope writes env as JSON in one pass (encoding/json would
// re-validate the already-encoded tuple). Kind and claim are key tokens and
// UUIDs: they need no escaping, but are quoted by strconv to be safe.
func appendEnvelope(b []byte, env *envelope) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(env.V), 10)
	b = append(b, `,"k":`...)
	b = strconv.AppendQuote(b, env.K)
	if env.X != 0 {
		b = append(b, `,"x":`...)
		b = strconv.AppendInt(b, env.X, 10)
	}
	if env.C != "" {
		b = append(b, `,"c":`...)
		b = strconv.AppendQuote(b, env.C)
	}
	if env.L != 0 {
		b = append(b, `,"l":`...)
		b = strconv.AppendInt(b, env.L, 10)
	}
	if env.R != 0 {
		b = append(b, `,"r":`...)
		b = strconv.AppendInt(b, int64(env.R), 10)
	}
	b = append(b, `,"d":`...)
	b = append(b, env.D...)
	return append(b, '}')
}

func encodeEnvelope(env *envelope) ([]byte, error) {
	if !json.Valid(env.D) {
		return nil, fmt.Errorf("encode envelope: %w: invalid tuple JSON", ErrCorrupt)
	}
	return appendEnvelope(nil, env), nil
}

// decodeEnvelope parses a stored value and its tuple.
func decodeEnvelope(b []byte) (*envelope, tuplebroker.Tuple, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if env.V != encodingVersion {
		return nil, nil, fmt.Errorf("%w: version %d", ErrCorrupt, env.V)
	}
	t, err := newTuple(tuplebroker.Kind(env.K))
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(env.D, t); err != nil {
		return nil, nil, fmt.Errorf("%w: %s tuple: %v", ErrCorrupt, env.K, err)
	}
	return &env, t, nil
}

func newTuple(k tuplebroker.Kind) (tuplebroker.Tuple, error) {
	switch k {
	case tuplebroker.KindRequest:
		return new(tuplebroker.Request), nil
	case tuplebroker.KindResponse:
		return new(tuplebroker.Response), nil
	case tuplebroker.KindCourier:
		return new(tuplebroker.Courier), nil
	}
	return nil, fmt.Errorf("%w: unknown kind %q", ErrCorrupt, k)
}

func validKind(k tuplebroker.Kind) bool {
	_, err := newTuple(k)
	return err == nil
}

// tupleKey returns the key of a tuple: job.<guid> for a Request or a
// Response, <kind>.<index fields> for others. Every index field must be set.
func tupleKey(t tuplebroker.Tuple) (string, error) {
	idx := t.Index()
	for i, f := range idx {
		if f == "" {
			return "", fmt.Errorf("%w: %s tuple has empty index field %d", ErrInvalid, t.Kind(), i)
		}
	}
	if jobKind(string(t.Kind())) {
		return jobPrefix + "." + token(idx[len(idx)-1]), nil
	}
	var b strings.Builder
	b.WriteString(string(t.Kind()))
	for i, f := range idx {
		if f == "" {
			return "", fmt.Errorf("%w: %s tuple has empty index field %d", ErrInvalid, t.Kind(), i)
		}
		b.WriteByte('.')
		b.WriteString(token(f))
	}
	return b.String(), nil
}

// jobKind reports whether tuples of kind k live at job.<guid>, the last
// index field being the GUID.
func jobKind(k string) bool {
	return k == string(tuplebroker.KindRequest) || k == string(tuplebroker.KindResponse)
}

// keyOf returns the key a template fixes completely (by its identifying last
// field, for a job kind), if it does.
func keyOf(kind string, toks []string) (string, bool) {
	if len(toks) == 0 {
		return "", false
	}
	if jobKind(kind) {
		if id := toks[len(toks)-1]; id != "" {
			return jobPrefix + "." + id, true
		}
		return "", false
	}
	if slices.Contains(toks, "") {
		return "", false
	}
	return kind + "." + strings.Join(toks, "."), true
}

// templateTokens returns the key tokens a template fixes ("" = any).
func templateTokens(t tuplebroker.Template) []string {
	idx := t.Index()
	out := make([]string, len(idx))
	for i, f := range idx {
		if f != "" {
			out[i] = token(f)
		}
	}
	return out
}

// templateFilter returns the key filter (with * wildcards) of a template.
func templateFilter(t tuplebroker.Template) string {
	toks := templateTokens(t)
	var b strings.Builder
	b.WriteString(string(t.Kind()))
	for _, tok := range toks {
		b.WriteByte('.')
		if tok == "" {
			b.WriteByte('*')
		} else {
			b.WriteString(tok)
		}
	}
	return b.String()
}

// token turns an index field into a valid, short key token.
func token(f string) string {
	if f == "" {
		return "_"
	}
	if len(f) <= maxTokenLen && validToken(f) {
		return f
	}
	sum := sha256.Sum256([]byte(f))
	return "h" + hex.EncodeToString(sum[:16])
}

func validToken(f string) bool {
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}

// indexTokens returns a tuple's index fields as key tokens.
func indexTokens(t tuplebroker.Tuple) []string {
	idx := t.Index()
	out := make([]string, len(idx))
	for i, f := range idx {
		out[i] = token(f)
	}
	return out
}

// cloneTuple deep-copies a tuple, so that what a caller holds and what the
// mirror holds never alias.
func cloneTuple(t tuplebroker.Tuple) tuplebroker.Tuple {
	switch v := t.(type) {
	case *tuplebroker.Request:
		c := *v
		c.JSDL = slices.Clone(v.JSDL)
		c.Requirements = slices.Clone(v.Requirements)
		return &c
	case *tuplebroker.Response:
		c := *v
		return &c
	case *tuplebroker.Courier:
		c := *v
		c.Capabilities = slices.Clone(v.Capabilities)
		return &c
	}
	return t
}

// encodeWith encodes t inside a copy of env's fields (version, kind, lease,
// claim, returns), for rewriting a stored tuple.
func encodeWith(t tuplebroker.Tuple, env *envelope) (*envelope, []byte, error) {
	d, err := json.Marshal(t)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s tuple: %w", t.Kind(), err)
	}
	e := *env
	e.D = d
	return &e, appendEnvelope(make([]byte, 0, len(d)+128), &e), nil
}
