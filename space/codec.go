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
//	<kind>.<index field>...        e.g. req.c1a2b3c4d5e6f708.6f1c…-guid
//	                                    resp.pub.6f1c…-guid
//	                                    cour.slurm-a.3
//	txn.<id>                       an open transaction's record (per-key TTL = its lease)
//
// Index fields that are not valid key tokens (or longer than maxTokenLen) are
// replaced by "h" + 32 hex digits of their SHA-256; an empty field is "_".
// A value is a JSON envelope: {"v":1,"k":kind,"x":expiry,"c":claim,"d":tuple}.
// v is the encoding version; readers skip values with an unknown version.

const (
	encodingVersion = 1
	txnPrefix       = "txn"
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
	// R counts the times this tuple was put back after a transaction that
	// had taken it ended without committing (aborted, or its holder died).
	R int             `json:"r,omitempty"`
	D json.RawMessage `json:"d"`
}

// txnRecord is the value of txn.<id>. While the transaction is open it has a
// per-key TTL (the lease) and no operations. Commit rewrites it, with a CAS
// and without a TTL, to the committed state listing every operation: that
// one write is the commit point. The listed operations are then applied
// (by the holder, or by any Space if the holder dies) and the record removed.
type txnRecord struct {
	V         int        `json:"v"`
	K         string     `json:"k"`
	X         int64      `json:"x,omitempty"`
	Holder    string     `json:"holder"`
	Started   int64      `json:"started"`
	Committed bool       `json:"committed,omitempty"`
	Removes   []txnClaim `json:"removes,omitempty"`
	Writes    []txnPut   `json:"writes,omitempty"`
}

// txnClaim is a claimed tuple a committed transaction removes.
type txnClaim struct {
	Key string `json:"key"`
	Rev uint64 `json:"rev"` // revision of the claim
}

// txnPut is a tuple a committed transaction writes.
type txnPut struct {
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data"` // the envelope
	TTL  time.Duration   `json:"ttl,omitempty"`
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

func decodeTxnRecord(b []byte) (*txnRecord, error) {
	var r txnRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: txn record: %v", ErrCorrupt, err)
	}
	if r.V != encodingVersion || r.K != txnPrefix {
		return nil, fmt.Errorf("%w: txn record version %d kind %q", ErrCorrupt, r.V, r.K)
	}
	return &r, nil
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

// tupleKey returns the key of a tuple. Every index field must be set.
func tupleKey(t tuplebroker.Tuple) (string, error) {
	idx := t.Index()
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

// splitKey returns a key's kind and index tokens.
func splitKey(key string) (string, []string) {
	parts := strings.Split(key, ".")
	return parts[0], parts[1:]
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
