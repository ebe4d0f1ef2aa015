package factory

import (
	"strings"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/space"
)

func TestWhyPending(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	up := tuplebroker.Advert{Agent: "a", Capabilities: []string{"os=LINUX"}, Seen: now.Add(-5 * time.Second)}
	down := tuplebroker.Advert{Agent: "b", Capabilities: []string{"os=LINUX", "gpu=1"}, Seen: now.Add(-time.Hour)}
	for _, tc := range []struct {
		name string
		f    pendingFacts
		want string
	}{
		{"claimed", pendingFacts{Claimed: true, ClaimedUntil: now.Add(10 * time.Second), Now: now, Adverts: []tuplebroker.Advert{up}}, "is submitting it (held until 2026-12-01T12:00:10Z)"},
		{"claim expired", pendingFacts{Claimed: true, ClaimedUntil: now.Add(-3 * time.Second), Now: now}, "hold ended 3s ago"},
		{"no agent serves it up", pendingFacts{Requirements: []string{"gpu=1"}, Adverts: []tuplebroker.Advert{up, down}, Now: now}, "no agent offering gpu=1 is up"},
		{"no agent at all", pendingFacts{Now: now}, "no agent is up"},
		{"next", pendingFacts{Queued: true, Adverts: []tuplebroker.Advert{up}, Now: now}, "next in the queue"},
		{"behind others", pendingFacts{Queued: true, Queue: space.QueueInfo{Ahead: 41, ClassDepth: 90}, Adverts: []tuplebroker.Advert{up}, Now: now}, "about 41 jobs go before it (90 queued"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := whyPending(tc.f); !strings.Contains(got, tc.want) {
				t.Fatalf("whyPending = %q, want it to say %q", got, tc.want)
			}
		})
	}
}
