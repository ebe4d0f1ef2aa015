package gridengine

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// jobsNamed lists every Grid Engine job named name: in the queue (pending,
// running, just finished) or in any record of the accounting file.
func jobsNamed(t *testing.T, c cell, b *Backend, name string) []string {
	t.Helper()
	jobs, err := b.qstat(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for id, j := range jobs {
		if j.Name == name {
			set[id] = true
		}
	}
	f, err := os.Open(filepath.Join(c.root, c.cell, "common", "accounting"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxAcctLine)
	for sc.Scan() {
		if r, ok := parseAcctLine(sc.Text()); ok && r.name == name {
			set[r.id] = true
		}
	}
	var ids []string
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TestLiveAgentExactlyOnce runs the agent core over the live cell: a job
// whose GUID Grid Engine already knows (an agent died between qsub and its
// commit) is adopted, not submitted again; a new one is submitted once.
// GUIDs are UUIDs, which Grid Engine would refuse as names when they start
// with a digit.
func TestLiveAgentExactlyOnce(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	b := c.backend(t, nil)
	dir := c.tempDir(t)
	out := filepath.Join(dir, "out.txt")
	doc := posixDoc(cmdline("/bin/echo", "once"), px("Output", out))

	adopted := "0" + uuid.NewString()[1:] // starts with a digit
	fresh := "1" + uuid.NewString()[1:]

	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	open := func() *space.Space {
		nc, err := space.Connect(srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		sp, err := space.Open(context.Background(), nc, space.WithMemoryStorage())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sp.Close(); nc.Close() })
		return sp
	}
	sp := open()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, g := range []string{adopted, fresh} {
		r := &tuplebroker.Request{GUID: g, UID: "alice", Factory: "test", JSDL: []byte(doc), Created: time.Now()}
		if _, err := sp.Write(ctx, r, space.Forever); err != nil {
			t.Fatal(err)
		}
	}
	// An earlier agent took one request, submitted it, and died before
	// committing: its transaction ends and the request comes back.
	tx, err := sp.Begin(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{GUID: adopted}); err != nil {
		t.Fatal(err)
	}
	earlier, err := b.Submit(context.Background(), agents.Job{GUID: adopted, Definition: parse(t, doc)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	tcfg := strategies.DefaultThrottleConfig()
	tcfg.Fixed = strategies.FixedConfig{Rate: 1000, Burst: 100}
	th, err := strategies.NewThrottle("fixed", tcfg)
	if err != nil {
		t.Fatal(err)
	}
	acfg := agents.DefaultConfig()
	acfg.Name = "gridengine"
	a, err := agents.New(acfg, open(), b.Backend, th)
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Run(actx) }()
	defer func() { stop(); <-done }()

	resps := map[string]*tuplebroker.Response{}
	for len(resps) < 2 {
		for _, e := range sp.Entries(tuplebroker.ResponseTemplate{}) {
			r := e.Tuple.(*tuplebroker.Response)
			resps[r.GUID] = r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of 2 responses", len(resps))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got := resps[adopted].BackendJobID; got != earlier {
		t.Errorf("adopted job: response names backend job %q, want the earlier %s", got, earlier)
	}
	for _, g := range []string{adopted, fresh} {
		id := resps[g].BackendJobID
		if st := b.waitEnd(id); st.State != tuplebroker.Finished {
			t.Errorf("job %s: %+v", g, st)
		}
		if ids := jobsNamed(t, c, b.Backend, JobName(g)); !slices.Equal(ids, []string{id}) {
			t.Errorf("Grid Engine jobs named %s: %v, want exactly [%s]", JobName(g), ids, id)
		}
	}
	if got := readFile(t, out); got != "once\n" {
		t.Errorf("output %q", got)
	}
}
