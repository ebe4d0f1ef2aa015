package sim

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFakeClock(t *testing.T) {
	c := NewFakeClock(t0)
	ctx := context.Background()
	if err := c.Sleep(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.AdvanceToNext(); ok {
		t.Fatal("AdvanceToNext with no sleepers")
	}
	done := make(chan time.Duration, 2)
	for _, d := range []time.Duration{3 * time.Second, time.Second} {
		go func() {
			if err := c.Sleep(ctx, d); err != nil {
				t.Error(err)
			}
			done <- d
		}()
	}
	waitSleepers(t, c, 2)
	if at, ok := c.AdvanceToNext(); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("AdvanceToNext: %v %v", at, ok)
	}
	if d := <-done; d != time.Second {
		t.Fatalf("woke %v first", d)
	}
	c.Set(t0) // backwards: ignored
	if !c.Now().Equal(t0.Add(time.Second)) {
		t.Fatal("Set went backwards")
	}
	c.Advance(-time.Hour)
	c.Set(t0.Add(3 * time.Second))
	if d := <-done; d != 3*time.Second {
		t.Fatalf("woke %v", d)
	}
	if c.Sleepers() != 0 {
		t.Fatal("sleepers left")
	}

	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Sleep(cctx, time.Hour) }()
	waitSleepers(t, c, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if c.Sleepers() != 0 {
		t.Fatal("cancelled sleeper left")
	}
	if err := c.Sleep(cctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("done ctx: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer wcancel()
	if err := c.WaitSleepers(wctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSleepers: %v", err)
	}
}

func TestRealClock(t *testing.T) {
	var c RealClock
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	if err := c.Sleep(ctx, 5*time.Millisecond); err != nil || time.Since(start) < 5*time.Millisecond {
		t.Fatalf("slept %v: %v", time.Since(start), err)
	}
	if err := c.Sleep(ctx, 0); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
