package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"tuplebroker"
	"tuplebroker/space"
)

// templateFor returns the template that matches every tuple of kind k.
func templateFor(k tuplebroker.Kind) (tuplebroker.Template, error) {
	switch k {
	case tuplebroker.KindRequest:
		return tuplebroker.RequestTemplate{}, nil
	case tuplebroker.KindResponse:
		return tuplebroker.ResponseTemplate{}, nil
	case tuplebroker.KindCourier:
		return tuplebroker.CourierTemplate{}, nil
	}
	return nil, fmt.Errorf("unknown kind %q (want one of %s)", k, kindList(tuplebroker.Kinds))
}

// parseKinds returns the kinds a --kind value selects: "" selects all.
func parseKinds(s string) ([]tuplebroker.Kind, error) {
	if s == "" {
		return tuplebroker.Kinds, nil
	}
	k := tuplebroker.Kind(s)
	if _, err := templateFor(k); err != nil {
		return nil, fmt.Errorf("--kind: %w", err)
	}
	return []tuplebroker.Kind{k}, nil
}

// countByKind counts the stored tuples of each kind, claimed ones included.
func countByKind(sp *space.Space) map[tuplebroker.Kind]int {
	out := make(map[tuplebroker.Kind]int, len(tuplebroker.Kinds))
	for _, k := range tuplebroker.Kinds {
		tmpl, _ := templateFor(k)
		out[k] = len(sp.Entries(tmpl))
	}
	return out
}

// entryJSON is the JSON form of a stored tuple (list --json, show).
type entryJSON struct {
	Key      string           `json:"key"`
	Kind     tuplebroker.Kind `json:"kind"`
	Revision uint64           `json:"revision"`
	// Expires is null for a tuple that lives until it is taken.
	Expires   *time.Time        `json:"expires"`
	ClaimedBy string            `json:"claimed_by"`
	Tuple     tuplebroker.Tuple `json:"tuple"`
}

func toJSON(e space.Entry) entryJSON {
	j := entryJSON{Key: e.Key, Revision: e.Revision, ClaimedBy: e.ClaimedBy, Tuple: e.Tuple}
	if e.Tuple != nil {
		j.Kind = e.Tuple.Kind()
	}
	if !e.Expires.IsZero() {
		exp := e.Expires.UTC()
		j.Expires = &exp
	}
	return j
}

// eventJSON is one line of `space watch`.
type eventJSON struct {
	Kind  tuplebroker.Kind  `json:"kind"`
	Key   string            `json:"key"`
	Tuple tuplebroker.Tuple `json:"tuple"`
}

func formatExpiry(t time.Time) string {
	if t.IsZero() {
		return "forever"
	}
	return t.UTC().Format(time.RFC3339)
}

// summary describes a tuple on one line as field=value pairs.
func summary(t tuplebroker.Tuple) string {
	var b fields
	switch v := t.(type) {
	case *tuplebroker.Request:
		b.add("guid", v.GUID)
		b.add("uid", v.UID)
		b.add("factory", v.Factory)
		b.add("class", v.Requirements.Class())
		if len(v.Requirements) > 0 {
			b.add("requires", strings.Join(v.Requirements, ","))
		}
		b.addInt("priority", v.Priority)
		b.addInt("attempts", v.Attempts)
		b.add("last_error", v.LastError)
	case *tuplebroker.Response:
		b.add("guid", v.GUID)
		b.add("uid", v.UID)
		b.add("agent", v.Agent)
		b.add("backend", v.Backend)
		b.add("job", v.BackendJobID)
		b.add("published", strconv.FormatBool(v.Published))
		b.add("manager", v.Manager)
	case *tuplebroker.Courier:
		b.add("agent", v.Agent)
		b.add("slot", strconv.Itoa(v.Slot))
		b.add("address", v.Address)
		if len(v.Capabilities) > 0 {
			b.add("caps", strings.Join(v.Capabilities, ","))
		}
	default:
		return fmt.Sprintf("%T", t)
	}
	return b.String()
}

// fields builds "k=v k=v" on a single line, leaving out empty values and
// quoting values with blanks, quotes or unprintable characters.
type fields struct{ strings.Builder }

func (f *fields) add(k, v string) {
	if v == "" {
		return
	}
	if f.Len() > 0 {
		f.WriteByte(' ')
	}
	f.WriteString(k)
	f.WriteByte('=')
	if strings.ContainsAny(v, " \t\r\n\"") || !strconv.CanBackquote(v) {
		v = strconv.Quote(v)
	}
	f.WriteString(v)
}

func (f *fields) addInt(k string, v int) {
	if v != 0 {
		f.add(k, strconv.Itoa(v))
	}
}
