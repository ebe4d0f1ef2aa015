package gridengine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tuplebroker"
)

// qstatXML is real "qstat -xml -s prsz" output of Grid Engine 8.1.9 (names
// changed), plus a duplicate listing of job 5 as a zombie.
const qstatXML = `<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>5</JB_job_number>
      <JAT_prio>0.75000</JAT_prio>
      <JB_name>tb-running</JB_name>
      <JB_owner>root</JB_owner>
      <state>r</state>
      <JAT_start_time>2026-11-22T07:18:08</JAT_start_time>
      <queue_name>tuplebroker.q@vm</queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="running">
      <JB_job_number>7</JB_job_number>
      <JB_name>tb-deleting</JB_name>
      <state>dr</state>
      <JAT_start_time>2026-11-22T07:18:09</JAT_start_time>
    </job_list>
    <job_list state="suspended">
      <JB_job_number>8</JB_job_number>
      <JB_name>tb-suspended</JB_name>
      <state>s</state>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending">
      <JB_job_number>2</JB_job_number>
      <JAT_prio>0.25000</JAT_prio>
      <JB_name>tb-pending</JB_name>
      <JB_owner>root</JB_owner>
      <state>qw</state>
      <JB_submission_time>2026-11-22T07:18:07</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="pending">
      <JB_job_number>36</JB_job_number>
      <JB_name>tb-held</JB_name>
      <state>hqw</state>
    </job_list>
    <job_list state="pending">
      <JB_job_number>13</JB_job_number>
      <JB_name>tb-error</JB_name>
      <state>Eqw</state>
    </job_list>
    <job_list state="zombie">
      <JB_job_number>4</JB_job_number>
      <JB_name>tb-zombie</JB_name>
      <state>z</state>
      <JB_submission_time>2026-11-22T07:18:07</JB_submission_time>
    </job_list>
    <job_list state="zombie">
      <JB_job_number>5</JB_job_number>
      <JB_name>tb-running</JB_name>
      <state>z</state>
    </job_list>
  </job_info>
</job_info>
`

func TestParseQstat(t *testing.T) {
	jobs, err := parseQstat([]byte(qstatXML))
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 7 {
		t.Fatalf("%d jobs, want 7: %+v", len(jobs), jobs)
	}
	for id, want := range map[string]struct {
		state tuplebroker.JobState
		sub   string
	}{
		"5":  {tuplebroker.Running, tuplebroker.SubExecuting},
		"7":  {tuplebroker.Running, SubDeleting},
		"8":  {tuplebroker.Running, SubSuspended},
		"2":  {tuplebroker.Pending, tuplebroker.SubBackendQueued},
		"36": {tuplebroker.Pending, SubHeld},
		"13": {tuplebroker.Failed, SubStartFailed},
	} {
		j := jobs[id]
		if j.zombie() {
			t.Errorf("job %s is a zombie", id)
			continue
		}
		st := liveStatus(j)
		if st.State != want.state || st.SubState != want.sub {
			t.Errorf("job %s (%q): %s/%s, want %s/%s", id, j.State, st.State, st.SubState, want.state, want.sub)
		}
	}
	if st := liveStatus(jobs["5"]); !st.Started.Equal(time.Date(2026, 11, 22, 7, 18, 8, 0, time.UTC)) {
		t.Errorf("started %v", st.Started)
	}
	if !jobs["4"].zombie() || jobs["4"].Name != "tb-zombie" {
		t.Errorf("job 4: %+v", jobs["4"])
	}
	for _, s := range []string{"t", "Rr", "Rt"} {
		if st := liveStatus(qjob{State: s}); st.State != tuplebroker.Running {
			t.Errorf("%q: %s", s, st.State)
		}
	}
	if _, err := parseQstat([]byte("error: commlib error")); err == nil {
		t.Error("garbage parsed")
	}
	empty := `<?xml version='1.0'?><job_info><queue_info></queue_info><job_info></job_info></job_info>`
	if jobs, err := parseQstat([]byte(empty)); err != nil || len(jobs) != 0 {
		t.Errorf("empty: %v %v", jobs, err)
	}
}

// Real accounting lines of Grid Engine 8.1.9 (job names changed).
const (
	acctExit3    = "tuplebroker.q:vm:root:root:tb-exit3:2:sge:0:1795331887:1795331896:1795331896:0:3:0:0.004238:0.012656:4924.000000:0:0:0:0:555:0:0:8.000000:24:0:0:0:9:11:NONE:defaultdepartment:NONE:1:0:0.016894:0.000000:0.000000:-q tuplebroker.q:0.000000:NONE:0.000000:0:0"
	acctWall     = "tuplebroker.q:vm:root:root:tb-wall:3:sge:0:1795331887:1795331896:1795331900:37:137:4:0.006899:0.006921:5028.000000:0:0:0:0:554:0:0:0.000000:8:0:0:0:12:7:NONE:defaultdepartment:NONE:1:0:0.013820:0.000000:0.000043:-q tuplebroker.q -l h_rt=3:0.000000:NONE:3698688.000000:0:0"
	acctKilled   = "tuplebroker.q:vm:root:root:tb-killed:5:sge:0:1795331887:1795331888:1795331894:100:137:6:0.012786:0.002235:4852.000000:0:0:0:0:631:0:0:0.000000:8:0:0:0:11:2:NONE:defaultdepartment:NONE:1:0:0.015021:0.000000:0.000043:-q tuplebroker.q -l exclusive=true:0.000000:NONE:3559424.000000:0:0"
	acctOK       = "tuplebroker.q:vm:root:root:tb-ok:1:sge:0:1795331879:1795331881:1795331881:0:0:0:0.004961:0.008292:4996.000000:0:0:0:0:607:0:0:0.000000:32:0:0:0:12:20:NONE:defaultdepartment:NONE:1:0:0.013253:0.000000:0.000000:-q tuplebroker.q:0.000000:NONE:0.000000:0:0"
	acctNoWD     = "tuplebroker.q:vm:root:root:tb-nowd:13:sge:0:1795331978:0:0:28:0:0:0.000000:0.000000:0.000000:0:0:0:0:0:0:0:0.000000:0:0:0:0:0:0:NONE:defaultdepartment:NONE:1:0:0.000000:0.000000:0.000000:-q tuplebroker.q:0.000000:NONE:0.000000:0:0"
	acctForeign  = "tuplebroker.q:vm:root:root:someone-else:9:sge:0:1795331977:1795331978:1795331978:100:137:0:0.003000:0.004000:4900.000000:0:0:0:0:500:0:0:0.000000:0:0:0:0:5:5:NONE:defaultdepartment:NONE:1:0:0.007:0.000000:0.000000:-q tuplebroker.q:0.000000:NONE:0.000000:0:0"
	acctColonCat = "tuplebroker.q:vm:root:root:tb-colon:11:sge:0:1795331977:1795331978:1795331981:100:137:3:0.006:0.006:5028.000000:0:0:0:0:554:0:0:0.000000:8:0:0:0:12:7:NONE:defaultdepartment:NONE:1:0:0.01:0.000000:0.000043:-q tuplebroker.q -l h_rt=0:0:3,mem_free=1G:0.000000:NONE:3698688.000000:0:0"
)

func TestParseAcctLine(t *testing.T) {
	r, ok := parseAcctLine(acctWall + "\n")
	if !ok {
		t.Fatal("not parsed")
	}
	if r.id != "3" || r.name != "tb-wall" || r.failed != 37 || r.exit != 137 || r.wallclock != 4 || r.hrt != 3 {
		t.Errorf("record %+v", r)
	}
	if !r.start.Equal(time.Unix(1795331896, 0)) || !r.end.Equal(time.Unix(1795331900, 0)) || !r.submit.Equal(time.Unix(1795331887, 0)) {
		t.Errorf("times %v %v %v", r.submit, r.start, r.end)
	}
	if r, ok := parseAcctLine(acctColonCat); !ok || r.hrt != 3 {
		t.Errorf("colon category: %+v %v", r, ok)
	}
	if r, ok := parseAcctLine(acctNoWD); !ok || !r.start.IsZero() || r.failed != 28 {
		t.Errorf("nowd: %+v %v", r, ok)
	}
	for _, bad := range []string{"", "# Version: 8.1.9", "a:b:c", strings.Replace(acctOK, ":1:sge:", ":x:sge:", 1)} {
		if _, ok := parseAcctLine(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
	if got := acctTime("1795331887123"); !got.Equal(time.UnixMilli(1795331887123)) {
		t.Errorf("milliseconds: %v", got)
	}
}

func TestRecordStatus(t *testing.T) {
	rec := func(line string) acctRecord {
		r, ok := parseAcctLine(line)
		if !ok {
			t.Fatalf("not parsed: %s", line)
		}
		return r
	}
	for _, tc := range []struct {
		name      string
		line      string
		cancelled bool
		state     tuplebroker.JobState
		sub       string
		code      int // -1: none
		reason    string
	}{
		{"ok", acctOK, false, tuplebroker.Finished, "", 0, ""},
		{"ok-cancelled-too-late", acctOK, true, tuplebroker.Finished, "", 0, ""},
		{"exit3", acctExit3, false, tuplebroker.Failed, tuplebroker.SubExitedNonzero, 3, "exit status 3"},
		{"wall", acctWall, false, tuplebroker.Failed, tuplebroker.SubWallTimeLimit, 137, "wall time limit of 3s exceeded"},
		{"wall-execd", acctColonCat, false, tuplebroker.Failed, tuplebroker.SubWallTimeLimit, 137, "wall time limit"},
		{"killed", acctKilled, false, tuplebroker.Failed, tuplebroker.SubExitedNonzero, 137, "killed by signal SIGKILL"},
		{"cancelled", acctKilled, true, tuplebroker.Cancelled, tuplebroker.SubUserCancelled, 137, "deleted on request"},
		{"nowd", acctNoWD, false, tuplebroker.Failed, SubStartFailed, -1, "failed 28: changing into working directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := recordStatus(rec(tc.line), tc.cancelled)
			if st.State != tc.state || st.SubState != tc.sub {
				t.Errorf("%s/%s, want %s/%s (%q)", st.State, st.SubState, tc.state, tc.sub, st.Reason)
			}
			switch {
			case tc.code < 0 && st.ExitCode != nil:
				t.Errorf("exit code %d, want none", *st.ExitCode)
			case tc.code >= 0 && (st.ExitCode == nil || *st.ExitCode != tc.code):
				t.Errorf("exit code %v, want %d", st.ExitCode, tc.code)
			}
			if !strings.Contains(st.Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", st.Reason, tc.reason)
			}
			if tc.code >= 0 && (st.Started.IsZero() || st.Ended.Before(st.Started)) {
				t.Errorf("times %v %v", st.Started, st.Ended)
			}
		})
	}
}

func TestAccountingIncremental(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "accounting")
	now := time.Unix(1795332000, 0)
	a := newAccounting(p, 24*time.Hour)
	if err := a.refresh(now); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	write := func(s string, flag int) {
		f, err := os.OpenFile(p, flag|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write("# Version: 8.1.9\n# \n"+acctOK+"\n"+acctForeign+"\n"+acctExit3[:40], os.O_TRUNC)
	if err := a.refresh(now); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.record("1"); !ok {
		t.Error("job 1 not indexed")
	}
	if _, ok := a.record("9"); ok {
		t.Error("foreign job indexed")
	}
	if _, ok := a.record("2"); ok {
		t.Error("incomplete line indexed")
	}
	write(acctExit3[40:]+"\n", os.O_APPEND)
	if err := a.refresh(now); err != nil {
		t.Fatal(err)
	}
	if r, ok := a.record("2"); !ok || r.exit != 3 {
		t.Errorf("job 2 after completion: %+v %v", r, ok)
	}
	if id, ok := a.named("tb-exit3"); !ok || id != "2" {
		t.Errorf("named: %q %v", id, ok)
	}
	// An overlong line is skipped, and what follows is read.
	write(strings.Repeat("x", maxAcctLine+10)+"\n"+acctWall+"\n", os.O_APPEND)
	if err := a.refresh(now); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.record("3"); !ok {
		t.Error("line after an overlong one not indexed")
	}
	// A replaced (rotated) file is read from its start.
	if err := os.Rename(p, p+".0"); err != nil {
		t.Fatal(err)
	}
	write(acctKilled+"\n", os.O_TRUNC)
	if err := a.refresh(now); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.record("5"); !ok {
		t.Error("record of the new file not indexed")
	}
	if _, ok := a.record("1"); !ok {
		t.Error("rotation forgot an earlier record")
	}
	// Records older than the retention are forgotten.
	if err := a.refresh(now.Add(48 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.record("1"); ok {
		t.Error("old record kept")
	}
	// An unreadable path is an error.
	b := newAccounting(dir, time.Hour)
	if err := b.refresh(now); err == nil {
		t.Error("reading a directory succeeded")
	}
}

func TestCategoryHRT(t *testing.T) {
	for cat, want := range map[string]float64{
		"-q a.q -l h_rt=60":             60,
		"-l mem_free=1G,h_rt=0:1:30 -q": 90,
		"-l h_rt=1:00:00":               3600,
		"-q a.q":                        0,
		"-l h_rt=abc":                   0,
	} {
		if got := categoryHRT(cat); got != want {
			t.Errorf("categoryHRT(%q) = %v, want %v", cat, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	base := errors.New("exit status 1")
	for _, tc := range []struct {
		msg  string
		want error
	}{
		// Real messages of Grid Engine 8.1.9.
		{"error: commlib error: got select error (Connection refused)\nUnable to run job: unable to send message to qmaster using port 6444 on host \"vm\": got send error\nExiting.", tuplebroker.ErrRefused},
		{"error: commlib error: got select error (Connection refused)\nerror: unable to send message to qmaster using port 6444 on host \"vm\": got send error", tuplebroker.ErrRefused},
		{"unable to send message to qmaster using port 6444 on host \"vm\": got send error", tuplebroker.ErrRefused},
		{"error: unable to contact qmaster using port 6444 on host \"vm\"", tuplebroker.ErrRefused},
		{"Unable to run job: job rejected: Only 10 jobs are allowed per user (current job count: 10)\nExiting.", tuplebroker.ErrRefused},
		{"Unable to run job: denied: host \"vm\" is no submit host\nExiting.", tuplebroker.ErrRefused},
		{"Unable to run job: Job was rejected because job requests unknown queue \"nosuch.q\"\nExiting.", tuplebroker.ErrRejected},
		{"Unable to run job: unknown resource \"foo\"\nExiting.", tuplebroker.ErrRejected},
		{"Unable to run job: error: no suitable queues\nExiting.", tuplebroker.ErrRejected},
		{"Unable to run job: job rejected: the requested parallel environment \"nosuch\" does not exist\nExiting.", tuplebroker.ErrRejected},
		{"Unable to run job: can't resolve hostname \"nosuchhost\"\nExiting.", tuplebroker.ErrRejected},
		{"Unable to run job: denied: \"99\" is not a valid object name (cannot start with a digit)\nExiting.", tuplebroker.ErrRejected},
		{"Unable to run job: attribute \"h_rt\" is not a time value\nExiting.", tuplebroker.ErrRejected},
		{"Unable to run job: attribute \"mem_free\" is not a memory value\nExiting.", tuplebroker.ErrRejected},
		{"Unable to run job: \"job\" rejected: pe range must be greater than zero\nExiting.", tuplebroker.ErrRejected},
		{"something else entirely", nil},
	} {
		err := classify("qsub", tc.msg, base)
		switch {
		case tc.want == nil && (errors.Is(err, tuplebroker.ErrRefused) || errors.Is(err, tuplebroker.ErrRejected) || !errors.Is(err, base)):
			t.Errorf("%q: %v, want unclassified", tc.msg, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%q: %v, want %v", tc.msg, err, tc.want)
		}
		if !strings.Contains(err.Error(), strings.Fields(tc.msg)[0]) {
			t.Errorf("error %q lost the message", err)
		}
	}
}
