package main

import (
	"testing"
	"time"

	"tuplebroker"
)

func TestSummary(t *testing.T) {
	cases := []struct {
		t    tuplebroker.Tuple
		want string
	}{
		{&tuplebroker.Request{GUID: "g1", UID: "alice", Factory: "f"}, "guid=g1 uid=alice factory=f class=any"},
		{&tuplebroker.Request{GUID: "g1", UID: "alice", Attempts: 2, LastError: "queue full"},
			`guid=g1 uid=alice class=any attempts=2 last_error="queue full"`},
		{&tuplebroker.Response{GUID: "g2", UID: "bob", Agent: "a", Backend: "slurm", BackendJobID: "7", Published: true, Manager: "m1"},
			"guid=g2 uid=bob agent=a backend=slurm job=7 published=true manager=m1"},
		{&tuplebroker.Courier{Agent: "a", Slot: 0, Address: "h:1", Capabilities: []string{"x=1", "y=2"}, Expires: time.Now()},
			"agent=a slot=0 address=h:1 caps=x=1,y=2"},
	}
	for _, c := range cases {
		if got := summary(c.t); got != c.want {
			t.Errorf("summary(%+v) = %q, want %q", c.t, got, c.want)
		}
	}
}

func TestParseKinds(t *testing.T) {
	all, err := parseKinds("")
	if err != nil || len(all) != len(tuplebroker.Kinds) {
		t.Fatalf("parseKinds(\"\") = %v, %v", all, err)
	}
	for _, k := range tuplebroker.Kinds {
		got, err := parseKinds(string(k))
		if err != nil || len(got) != 1 || got[0] != k {
			t.Errorf("parseKinds(%q) = %v, %v", k, got, err)
		}
	}
	if _, err := parseKinds("txn"); err == nil {
		t.Error("parseKinds(txn) succeeded")
	}
}

func TestLocalClientURL(t *testing.T) {
	cases := []struct{ url, host, want string }{
		{"nats://127.0.0.1:4222", "127.0.0.1", "nats://127.0.0.1:4222"},
		{"nats://0.0.0.0:5000", "0.0.0.0", "nats://127.0.0.1:5000"},
		{"nats://:::5000", "::", "nats://[::1]:5000"},
		{"nats://127.0.0.1:5000", "", "nats://127.0.0.1:5000"},
		{"nats://localhost:5000", "localhost", "nats://localhost:5000"},
	}
	for _, c := range cases {
		if got := localClientURL(c.url, c.host); got != c.want {
			t.Errorf("localClientURL(%q, %q) = %q, want %q", c.url, c.host, got, c.want)
		}
	}
}

func TestParseListen(t *testing.T) {
	if h, p, err := parseListen("127.0.0.1:0"); err != nil || h != "127.0.0.1" || p != 0 {
		t.Errorf("parseListen = %q %d %v", h, p, err)
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:-1", "127.0.0.1:70000", "127.0.0.1:x"} {
		if _, _, err := parseListen(bad); err == nil {
			t.Errorf("parseListen(%q) succeeded", bad)
		}
	}
}
