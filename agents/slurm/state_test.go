package slurm

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"tuplebroker"
)

// Real squeue -h -t all -O squeueFormat output from Slurm 22.05 (TZ=UTC).
const squeueSample = `1|COMPLETED|0|2026-11-22T07:16:23|2026-11-22T07:16:23|a1|None|
3|FAILED|768|2026-11-22T07:16:30|2026-11-22T07:16:30|a1|NonZeroExitCode|
4|FAILED|9|2026-11-22T07:16:30|2026-11-22T07:16:30|a1|JobLaunchFailure|
5|FAILED|35072|2026-11-22T07:16:30|2026-11-22T07:16:30|a1|NonZeroExitCode|
6|CANCELLED|0|2026-11-22T07:16:40|2026-11-22T07:16:40||JobHeldUser|
7|CANCELLED|15|2026-11-22T07:16:30|2026-11-22T07:16:31|a1|None|
8|PENDING|0|N/A|N/A||JobHeldUser|
9|RUNNING|0|2026-11-22T07:17:00|Unknown|a1|None|
10|TIMEOUT|0|2026-11-22T07:16:53|2026-11-22T07:18:20|b1|TimeLimit|
11|PENDING|0|2026-11-22T09:00:00|N/A||Resources|
garbage line
12_3|RUNNING|0|N/A|N/A|a1|None|
`

func TestParseSqueue(t *testing.T) {
	recs, bad := parseSqueue([]byte(squeueSample))
	if bad != 2 {
		t.Errorf("bad = %d, want 2 (the garbage and the array task)", bad)
	}
	if len(recs) != 10 {
		t.Fatalf("%d records, want 10", len(recs))
	}
	at := func(s string) time.Time { return parseTime(s, time.UTC) }
	want3 := record{id: "3", state: "FAILED", code: 3, hasExit: true, start: at("2026-11-22T07:16:30"),
		end: at("2026-11-22T07:16:30"), ran: true, reason: "NonZeroExitCode"}
	if recs[1] != want3 {
		t.Errorf("record 3 = %+v, want %+v", recs[1], want3)
	}
	if r := recs[2]; r.signal != 9 || r.code != 0 {
		t.Errorf("wait status 9: signal %d code %d, want signal 9", r.signal, r.code)
	}
	if r := recs[3]; r.code != 137 || r.signal != 0 {
		t.Errorf("wait status 35072: code %d signal %d, want code 137", r.code, r.signal)
	}
	if r := recs[4]; r.ran {
		t.Errorf("job cancelled while pending counts as ran")
	}
}

func TestStatusMapping(t *testing.T) {
	start := time.Date(2026, 11, 22, 7, 16, 30, 0, time.UTC)
	end := start.Add(time.Second)
	code := func(c int) *int { return &c }
	rec := func(state string, c, sig int, hasExit, ran bool, reason string) record {
		return record{id: "1", state: state, code: c, signal: sig, hasExit: hasExit, start: start, end: end, ran: ran, reason: reason}
	}
	cases := []struct {
		name string
		r    record
		here bool
		want tuplebroker.Status
	}{
		{"pending", rec("PENDING", 0, 0, true, false, "Priority"), false,
			tuplebroker.Status{State: tuplebroker.Pending, SubState: tuplebroker.SubBackendQueued, Reason: "Priority"}},
		{"held", rec("PENDING", 0, 0, true, false, "JobHeldUser"), false,
			tuplebroker.Status{State: tuplebroker.Pending, SubState: SubHeld, Reason: "JobHeldUser"}},
		{"configuring", rec("CONFIGURING", 0, 0, true, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Pending, SubState: SubConfiguring}},
		{"requeued", rec("REQUEUED", 0, 0, true, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Pending, SubState: SubRequeued}},
		{"running", rec("RUNNING", 0, 0, true, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Running, SubState: tuplebroker.SubExecuting, Started: start}},
		{"completing", rec("COMPLETING", 0, 0, true, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Running, SubState: SubCompleting, Started: start}},
		{"suspended", rec("SUSPENDED", 0, 0, true, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Running, SubState: SubSuspended, Started: start}},
		{"completed 0", rec("COMPLETED", 0, 0, true, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Finished, ExitCode: code(0), Started: start, Ended: end}},
		{"completed nonzero", rec("COMPLETED", 2, 0, true, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Failed, SubState: tuplebroker.SubExitedNonzero, ExitCode: code(2), Reason: "exit status 2", Started: start, Ended: end}},
		{"failed", rec("FAILED", 3, 0, true, true, "NonZeroExitCode"), false,
			tuplebroker.Status{State: tuplebroker.Failed, SubState: tuplebroker.SubExitedNonzero, ExitCode: code(3),
				Reason: "exit status 3 (Slurm reason NonZeroExitCode)", Started: start, Ended: end}},
		{"failed on a signal", rec("FAILED", 0, 9, true, true, "JobLaunchFailure"), false,
			tuplebroker.Status{State: tuplebroker.Failed, SubState: SubKilledBySignal, ExitCode: code(137),
				Reason: "killed by signal 9 (Slurm reason JobLaunchFailure)", Started: start, Ended: end}},
		{"failed at launch", rec("FAILED", 0, 0, true, false, "BadConstraints"), false,
			tuplebroker.Status{State: tuplebroker.Failed, SubState: SubLaunchFailed,
				Reason: "never started (Slurm reason BadConstraints)", Ended: end}},
		{"timeout", rec("TIMEOUT", 0, 15, true, true, "TimeLimit"), false,
			tuplebroker.Status{State: tuplebroker.Failed, SubState: tuplebroker.SubWallTimeLimit, ExitCode: code(143),
				Reason: "wall time limit exceeded (Slurm reason TimeLimit)", Started: start, Ended: end}},
		{"node fail", rec("NODE_FAIL", 0, 0, false, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Failed, SubState: SubNodeFail, Reason: "a node of the job failed", Started: start, Ended: end}},
		{"out of memory", rec("OUT_OF_MEMORY", 0, 9, true, true, "OutOfMemory"), false,
			tuplebroker.Status{State: tuplebroker.Failed, SubState: SubOutOfMemory, ExitCode: code(137),
				Reason: "out of memory (Slurm reason OutOfMemory)", Started: start, Ended: end}},
		{"cancelled here while running", rec("CANCELLED", 0, 15, true, true, "None"), true,
			tuplebroker.Status{State: tuplebroker.Cancelled, SubState: tuplebroker.SubUserCancelled, ExitCode: code(143),
				Reason: "cancelled on request", Started: start, Ended: end}},
		{"cancelled here while pending", rec("CANCELLED", 0, 0, true, false, "JobHeldUser"), true,
			tuplebroker.Status{State: tuplebroker.Cancelled, SubState: tuplebroker.SubUserCancelled, Reason: "cancelled on request", Ended: end}},
		{"cancelled by someone else", rec("CANCELLED", 0, 0, true, false, "None"), false,
			tuplebroker.Status{State: tuplebroker.Cancelled, SubState: tuplebroker.SubBackendRemoved, Reason: "cancelled in Slurm", Ended: end}},
		{"unknown state keeps polling", rec("WEIRD", 0, 0, true, true, "None"), false,
			tuplebroker.Status{State: tuplebroker.Pending, SubState: SubUnknown, Reason: "Slurm state WEIRD"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.status(tc.here)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("status =\n%+v, want\n%+v", show(got), show(tc.want))
			}
		})
	}
}

// show makes a Status printable with its exit code.
func show(s tuplebroker.Status) any {
	type printable struct {
		tuplebroker.Status
		Exit any
	}
	p := printable{Status: s, Exit: "nil"}
	if s.ExitCode != nil {
		p.Exit = *s.ExitCode
	}
	return p
}

func TestBaseState(t *testing.T) {
	for in, want := range map[string]string{"CANCELLED by 0": "CANCELLED", "completed": "COMPLETED", " RUNNING ": "RUNNING", "COMPLETING+": "COMPLETING"} {
		if got := baseState(in); got != want {
			t.Errorf("baseState(%q) = %q, want %q", in, got, want)
		}
	}
}

// Real jobcomp/filetxt lines from Slurm 22.05.
const compSample = `JobId=3 UserId=root(0) GroupId=root(0) Name=e3 JobState=FAILED Partition=debug TimeLimit=UNLIMITED StartTime=2026-11-22T07:16:30 EndTime=2026-11-22T07:16:30 NodeList=a1 NodeCnt=1 ProcCnt=1 WorkDir=/tmp ReservationName= Tres=cpu=1,mem=6000M,node=1,billing=1 Account= QOS= WcKey= Cluster=unknown SubmitTime=2026-11-22T07:16:29 EligibleTime=2026-11-22T07:16:29 DerivedExitCode=0:0 ExitCode=3:0
JobId=6 UserId=root(0) GroupId=root(0) Name=held JobState=CANCELLED Partition=debug TimeLimit=UNLIMITED StartTime=2026-11-22T07:16:40 EndTime=2026-11-22T07:16:40 NodeList=(null) NodeCnt=0 ProcCnt=0 WorkDir=/tmp ReservationName= Tres=cpu=1,node=1,billing=1 Account= QOS= WcKey= Cluster=unknown SubmitTime=2026-11-22T07:16:39 EligibleTime=2026-11-22T07:16:39 DerivedExitCode=0:0 ExitCode=0:0
JobId=4 UserId=root(0) GroupId=root(0) Name=sig JobState=FAILED Partition=debug TimeLimit=UNLIMITED StartTime=2026-11-22T07:16:30 EndTime=2026-11-22T07:16:30 NodeList=a1 NodeCnt=1 ProcCnt=1 WorkDir=/tmp ReservationName= Tres=cpu=1,mem=6000M,node=1,billing=1 Account= QOS= WcKey= Cluster=unknown SubmitTime=2026-11-22T07:16:29 EligibleTime=2026-11-22T07:16:29 DerivedExitCode=0:0 ExitCode=0:9
`

func TestParseCompLine(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(compSample), "\n")
	r, name, ok := parseCompLine(lines[0], time.UTC)
	at := func(s string) time.Time { return parseTime(s, time.UTC) }
	want := record{id: "3", state: "FAILED", code: 3, hasExit: true, start: at("2026-11-22T07:16:30"), end: at("2026-11-22T07:16:30"), ran: true}
	if !ok || name != "e3" || r != want {
		t.Fatalf("line 0 = %+v %q %v, want %+v", r, name, ok, want)
	}
	if r, _, _ := parseCompLine(lines[1], time.UTC); r.ran || r.state != "CANCELLED" {
		t.Errorf("never-started job: %+v", r)
	}
	if r, _, _ := parseCompLine(lines[2], time.UTC); r.signal != 9 {
		t.Errorf("signal: %+v", r)
	}
	for _, bad := range []string{"", "JobId=x Name=a JobState=FAILED", "UserId=0 JobId=3 Name=a JobState=X", "JobId=3 JobState=FAILED"} {
		if _, _, ok := parseCompLine(bad, time.UTC); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestJobCompIncremental(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jobcomp.txt")
	appendFile(t, p, compSample)
	jc := newJobComp(p, time.UTC, 100)
	got, err := jc.lookup([]string{"3", "4", "6", "99"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["3"].code != 3 {
		t.Fatalf("lookup = %+v", got)
	}
	// A line being written is not read until complete.
	appendFile(t, p, "JobId=20 UserId=root(0) GroupId=root(0) Name=g20 JobState=COMPLETED Partition=debug")
	if ids, _ := jc.find("g20"); len(ids) != 0 {
		t.Fatalf("partial line read: %v", ids)
	}
	appendFile(t, p, " TimeLimit=1 StartTime=2026-11-22T07:16:30 EndTime=2026-11-22T07:16:31 NodeList=a1 NodeCnt=1 ProcCnt=1 WorkDir=/ ExitCode=0:0\n")
	if ids, _ := jc.find("g20"); !reflect.DeepEqual(ids, []string{"20"}) {
		t.Fatalf("find g20 = %v", ids)
	}
	if jc.off != mustSize(t, p) {
		t.Fatalf("offset %d, file size %d", jc.off, mustSize(t, p))
	}
	// Replaced (rotated) file: start over.
	np := p + ".new"
	appendFile(t, np, "JobId=30 UserId=root(0) GroupId=root(0) Name=g30 JobState=COMPLETED StartTime=2026-11-22T07:16:30 EndTime=2026-11-22T07:16:31 NodeList=a1 WorkDir=/ ExitCode=0:0\n")
	if err := os.Rename(np, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := jc.lookup([]string{"3", "30"}); len(got) != 1 || got["30"].id != "30" {
		t.Fatalf("after rotation: %+v", got)
	}
}

func mustSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestJobCompForgery: a job name with a newline lets a user write a line of
// their choosing; an id claimed by two different lines is not trusted.
func TestJobCompForgery(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jobcomp.txt")
	genuine := "JobId=77 UserId=root(0) GroupId=root(0) Name=guid-77 JobState=FAILED Partition=debug TimeLimit=1 StartTime=2026-11-22T07:16:30 EndTime=2026-11-22T07:16:31 NodeList=a1 NodeCnt=1 ProcCnt=1 WorkDir=/ ExitCode=2:0\n"
	forged := "JobId=78 UserId=root(0) GroupId=root(0) Name=x\nJobId=77 UserId=root(0) GroupId=root(0) Name=guid-77 JobState=COMPLETED StartTime=2026-11-22T07:16:30 EndTime=2026-11-22T07:16:31 NodeList=a1 WorkDir=/ ExitCode=0:0 JobState=COMPLETED Partition=debug TimeLimit=1 StartTime=2026-11-22T07:16:30 EndTime=2026-11-22T07:16:31 NodeList=a1 NodeCnt=1 ProcCnt=1 WorkDir=/ ExitCode=0:0\n"
	appendFile(t, p, genuine+forged)
	jc := newJobComp(p, time.UTC, 100)
	if got, _ := jc.lookup([]string{"77"}); len(got) != 0 {
		t.Fatalf("conflicting lines trusted: %+v", got)
	}
	if ids, _ := jc.find("guid-77"); len(ids) != 0 {
		t.Fatalf("conflicting lines trusted by name: %v", ids)
	}
}

func TestJobCompEviction(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jobcomp.txt")
	var b strings.Builder
	for i := range 10 {
		b.WriteString("JobId=" + string(rune('0'+i)) + " UserId=0 GroupId=0 Name=n JobState=COMPLETED NodeList=a1 WorkDir=/ ExitCode=0:0\n")
	}
	appendFile(t, p, b.String())
	jc := newJobComp(p, time.UTC, 4)
	ids, err := jc.find("n")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, []string{"6", "7", "8", "9"}) {
		t.Fatalf("kept %v, want the 4 newest", ids)
	}
	if len(jc.byID) != 4 {
		t.Fatalf("byID holds %d", len(jc.byID))
	}
}

func TestChunkIDs(t *testing.T) {
	ids := []string{"1", "22", "333", "4444", "5"}
	if got := chunkIDs(ids, 1000); !reflect.DeepEqual(got, []string{"1,22,333,4444,5"}) {
		t.Fatalf("one chunk: %q", got)
	}
	got := chunkIDs(ids, 6)
	if !reflect.DeepEqual(got, []string{"1,22", "333", "4444,5"}) {
		t.Fatalf("chunks: %q", got)
	}
	if got := chunkIDs(nil, 6); got != nil {
		t.Fatalf("no ids: %q", got)
	}
}
