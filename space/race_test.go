package space

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tuplebroker"
)

// auditTakes checks that every GUID was taken exactly once.
func auditTakes(t *testing.T, want map[string]bool, taken []string) {
	t.Helper()
	seen := map[string]int{}
	for _, g := range taken {
		seen[g]++
	}
	dups, missing, unknown := 0, 0, 0
	for g, c := range seen {
		if !want[g] {
			unknown++
		}
		if c > 1 {
			dups++
		}
	}
	for g := range want {
		if seen[g] == 0 {
			missing++
		}
	}
	if dups+missing+unknown > 0 || len(taken) != len(want) {
		t.Fatalf("%d takes of %d tuples: %d taken twice, %d never taken, %d unknown", len(taken), len(want), dups, missing, unknown)
	}
}

func fill(t *testing.T, sp *Space, n int) map[string]bool {
	t.Helper()
	ctx := ctxT(t, 120*time.Second)
	want := make(map[string]bool, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/8; i++ {
				r := newRequest("")
				if _, err := sp.Write(ctx, r, Forever); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[r.GUID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return want
}

// Eight takers on eight connections race for 5,000 requests.
func TestTakeExactlyOnceEightConnections(t *testing.T) {
	srv := startServer(t, t.TempDir())
	want := fill(t, openSpace(t, srv.ClientURL()), 5000)
	ctx := ctxT(t, 120*time.Second)
	var mu sync.Mutex
	var taken []string
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		sp := openSpace(t, srv.ClientURL())
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			if err := drain(ctx, sp, w%2 == 1, func(g string) {
				mu.Lock()
				taken = append(taken, g)
				mu.Unlock()
			}); err != nil {
				t.Error(err)
			}
		}(w)
	}
	wg.Wait()
	auditTakes(t, want, taken)
}

// drain takes requests until the space holds none, each with a plain take
// or (transactional) in a take+respond transaction, reporting each GUID.
func drain(ctx context.Context, sp *Space, transactional bool, took func(guid string)) error {
	for {
		var tu tuplebroker.Tuple
		var err error
		if transactional {
			tu, err = takeAndRespond(ctx, sp, tuplebroker.RequestTemplate{})
		} else {
			tu, err = sp.TryTake(ctx, tuplebroker.RequestTemplate{})
		}
		if errors.Is(err, ErrNoMatch) {
			if len(sp.Entries(tuplebroker.RequestTemplate{})) == 0 {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		took(guidOf(tu))
	}
}

// helperCmd runs this test binary as a separate OS process (see TestHelperProcess).
func helperCmd(t *testing.T, mode, url string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), "SPACE_HELPER="+mode, "SPACE_URL="+url)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestHelperProcess is not a test: it is the body of helper processes.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("SPACE_HELPER")
	if mode == "" {
		t.Skip("helper process only")
	}
	nc, err := Connect(os.Getenv("SPACE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	sp, err := Open(ctx, nc, WithHolder("helper-"+mode))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	switch mode {
	case "taker": // take with 4 goroutines until the space is empty
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				if err := drain(ctx, sp, g%2 == 1, func(guid string) {
					mu.Lock()
					fmt.Fprintln(out, "TOOK", guid)
					mu.Unlock()
				}); err != nil {
					fmt.Fprintln(os.Stderr, "take:", err)
					os.Exit(3)
				}
			}(g)
		}
		wg.Wait()
		out.Flush()
		os.Exit(0)
	case "holder": // take one request in a 2s transaction, report, then hang
		tx, err := sp.Begin(ctx, 2*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		tu, err := tx.Take(ctx, tuplebroker.RequestTemplate{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(out, "TAKEN", guidOf(tu), tx.ID())
		out.Flush()
		select {}
	}
	os.Exit(4)
}

// The same race with the takers in two OS processes.
func TestTakeExactlyOnceTwoProcesses(t *testing.T) {
	srv := startServer(t, t.TempDir())
	want := fill(t, openSpace(t, srv.ClientURL()), 5000)
	type result struct {
		out []byte
		err error
	}
	results := make(chan result, 2)
	for p := 0; p < 2; p++ {
		cmd := helperCmd(t, "taker", srv.ClientURL())
		go func() {
			out, err := cmd.Output()
			results <- result{out, err}
		}()
	}
	var taken []string
	perProc := []int{}
	for p := 0; p < 2; p++ {
		r := <-results
		if r.err != nil {
			t.Fatalf("taker process: %v", r.err)
		}
		n := 0
		for _, line := range strings.Split(string(r.out), "\n") {
			if g, ok := strings.CutPrefix(line, "TOOK "); ok {
				taken = append(taken, g)
				n++
			}
		}
		perProc = append(perProc, n)
	}
	t.Logf("takes per process: %v", perProc)
	auditTakes(t, want, taken)
}

// A transaction holder is SIGKILLed after taking and before committing: the
// tuple is back once the transaction lease ends, and a taker blocked in this
// process receives it.
func TestKilledHolderTupleReturns(t *testing.T) {
	srv := startServer(t, t.TempDir())
	sp := openSpace(t, srv.ClientURL())
	ctx := ctxT(t, 60*time.Second)
	req := newRequest("")
	if _, err := sp.Write(ctx, req, Forever); err != nil {
		t.Fatal(err)
	}
	cmd := helperCmd(t, "holder", srv.ClientURL())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("holder: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "TAKEN" || f[1] != req.GUID {
		t.Fatalf("holder said %q", line)
	}
	// Taken and invisible while the holder lives.
	time.Sleep(200 * time.Millisecond)
	if _, err := sp.TryRead(ctx, tuplebroker.RequestTemplate{GUID: req.GUID}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("claimed tuple visible: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := sp.Take(ctx, tuplebroker.RequestTemplate{GUID: req.GUID})
		got <- err
	}()
	killed := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := <-got; err != nil {
		t.Fatalf("blocked taker: %v", err)
	}
	back := time.Since(killed)
	t.Logf("tuple back %v after SIGKILL (transaction lease 2s)", back)
	if back > 2*time.Second+1500*time.Millisecond {
		t.Fatalf("tuple back only after %v", back)
	}
	if len(sp.Transactions()) != 0 {
		t.Fatalf("dead transaction record still present: %v", sp.Transactions())
	}
}
