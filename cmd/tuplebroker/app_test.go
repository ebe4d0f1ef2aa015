package main

import (
	"io"
	"slices"
	"testing"
)

func TestInterspersedFlags(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	cases := []struct{ in, want []string }{
		{[]string{"tb", "submit", "f.jsdl", "--wait"}, []string{"tb", "submit", "--wait", "f.jsdl"}},
		{[]string{"tb", "--log-level", "debug", "submit", "f.jsdl", "--priority", "5", "--wait"},
			[]string{"tb", "--log-level", "debug", "submit", "--priority", "5", "--wait", "f.jsdl"}},
		{[]string{"tb", "submit", "--url=http://x", "f.jsdl", "--", "--odd"}, []string{"tb", "submit", "--url=http://x", "f.jsdl", "--", "--odd"}},
		{[]string{"tb", "space", "list", "req", "--nats", "u"}, []string{"tb", "space", "list", "req", "--nats", "u"}},
		{[]string{"tb", "status", "abc", "--json"}, []string{"tb", "status", "--json", "abc"}},
	}
	for _, c := range cases {
		if got := interspersed(app, c.in); !slices.Equal(got, c.want) {
			t.Errorf("interspersed(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
