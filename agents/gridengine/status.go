package gridengine

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tuplebroker"
)

// Sub-states specific to Grid Engine.
const (
	// SubHeld (Pending): the job is on hold in the queue.
	SubHeld = "backend-held"
	// SubTransferring (Running): the job is being sent to its host.
	SubTransferring = "transferring"
	// SubSuspended (Running): the job or its queue is suspended.
	SubSuspended = "suspended"
	// SubDeleting (Pending or Running): a deletion is under way.
	SubDeleting = "deleting"
	// SubEnding (Running): the job has left the queue and its accounting
	// record is not written yet.
	SubEnding = "ending"
	// SubStartFailed (Failed): Grid Engine could not start the job (its
	// "failed" accounting code, or the queue's error state); Reason says
	// why.
	SubStartFailed = "start-failed"
	// SubResourceLimit (Failed): a limit other than the wall time (CPU
	// time, memory) was exceeded.
	SubResourceLimit = "resource-limit"
)

// qjob is one job_list element of "qstat -xml".
type qjob struct {
	Number string `xml:"JB_job_number"`
	Name   string `xml:"JB_name"`
	State  string `xml:"state"`
	Start  string `xml:"JAT_start_time"`
	Submit string `xml:"JB_submission_time"`
}

type qstatDoc struct {
	Queued []qjob `xml:"queue_info>job_list"`
	Jobs   []qjob `xml:"job_info>job_list"`
}

// parseQstat parses "qstat -xml" output into jobs by number. A job listed
// more than once (a parallel job in several queues) keeps one entry, a live
// one in preference to a finished ("z") one.
func parseQstat(data []byte) (map[string]qjob, error) {
	var doc qstatDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("gridengine: parsing qstat -xml: %w", err)
	}
	jobs := make(map[string]qjob, len(doc.Queued)+len(doc.Jobs))
	for _, list := range [][]qjob{doc.Queued, doc.Jobs} {
		for _, j := range list {
			j.Number = strings.TrimSpace(j.Number)
			j.Name = strings.TrimSpace(j.Name)
			j.State = strings.TrimSpace(j.State)
			if j.Number == "" {
				continue
			}
			if prev, ok := jobs[j.Number]; ok && !prev.zombie() {
				continue
			}
			jobs[j.Number] = j
		}
	}
	return jobs, nil
}

// zombie reports whether the job has left the queue (qstat -s z).
func (j qjob) zombie() bool { return strings.ContainsRune(j.State, 'z') }

// qstatTime parses a qstat -xml time; qstat runs with TZ=UTC.
func qstatTime(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02T15:04:05", strings.TrimSpace(s), time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}

// liveStatus maps the state letters of a job still in the queue (not a
// zombie): q queued, w waiting, h hold, r running, t transferring, R
// restarted, s/S/T suspended, d deletion, E error.
func liveStatus(j qjob) tuplebroker.Status {
	s := j.State
	has := func(letters string) bool { return strings.ContainsAny(s, letters) }
	var st tuplebroker.Status
	switch {
	case has("E"):
		st.State, st.SubState = tuplebroker.Failed, SubStartFailed
		st.Reason = fmt.Sprintf("Grid Engine holds the job in error state %q", s)
		return st
	case has("rtsST"):
		st.State, st.SubState = tuplebroker.Running, tuplebroker.SubExecuting
		st.Started = qstatTime(j.Start)
		switch {
		case has("sST"):
			st.SubState = SubSuspended
		case has("t"):
			st.SubState = SubTransferring
		}
	case has("h"):
		st.State, st.SubState = tuplebroker.Pending, SubHeld
	default:
		st.State, st.SubState = tuplebroker.Pending, tuplebroker.SubBackendQueued
	}
	if has("d") {
		st.SubState = SubDeleting
	}
	return st
}

// acctRecord is the part of an accounting(5) record the backend uses.
type acctRecord struct {
	id, name           string
	submit, start, end time.Time
	failed, exit       int
	wallclock          float64 // seconds
	hrt                float64 // the h_rt the job requested, seconds; 0: none
}

// parseAcctLine parses one line of the accounting file: colon-separated
// qname, hostname, group, owner, job_name, job_number, account, priority,
// submission_time, start_time, end_time, failed, exit_status,
// ru_wallclock, ..., category (the 40th field; it may itself contain
// colons, and five fields follow it). Job names never contain colons.
func parseAcctLine(line string) (acctRecord, bool) {
	line = strings.TrimRight(line, "\r\n")
	if line == "" || line[0] == '#' {
		return acctRecord{}, false
	}
	f := strings.Split(line, ":")
	if len(f) < 14 {
		return acctRecord{}, false
	}
	r := acctRecord{name: f[4], id: f[5]}
	if _, err := strconv.ParseUint(r.id, 10, 64); err != nil {
		return acctRecord{}, false
	}
	var err error
	num := func(s string) int {
		n, e := strconv.Atoi(s)
		if e != nil {
			err = e
		}
		return n
	}
	r.submit, r.start, r.end = acctTime(f[8]), acctTime(f[9]), acctTime(f[10])
	r.failed, r.exit = num(f[11]), num(f[12])
	if err != nil {
		return acctRecord{}, false
	}
	r.wallclock, _ = strconv.ParseFloat(f[13], 64)
	if len(f) >= 45 {
		r.hrt = categoryHRT(strings.Join(f[39:len(f)-5], ":"))
	}
	return r, true
}

// acctTime reads an accounting time: seconds since the epoch (8.1.9), or
// milliseconds in later versions; 0 means none.
func acctTime(s string) time.Time {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v <= 0 {
		return time.Time{}
	}
	if v > 1e11 {
		return time.UnixMilli(v).UTC()
	}
	return time.Unix(v, 0).UTC()
}

// categoryHRT returns the h_rt request in a job category such as
// "-q all.q -l h_rt=60,mem_free=1G", in seconds, or 0.
func categoryHRT(cat string) float64 {
	fields := strings.Fields(cat)
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] != "-l" {
			continue
		}
		for _, kv := range strings.Split(fields[i+1], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if ok && (k == "h_rt" || k == "hard_runtime") {
				return parseTimeValue(v)
			}
		}
	}
	return 0
}

// parseTimeValue parses a Grid Engine time value: seconds, or
// [[hours:]minutes:]seconds.
func parseTimeValue(v string) float64 {
	var total float64
	for _, part := range strings.Split(v, ":") {
		n, err := strconv.ParseFloat(part, 64)
		if err != nil {
			return 0
		}
		total = total*60 + n
	}
	return total
}

// failedText explains the accounting "failed" codes that stop a job before
// or while it runs.
var failedText = map[int]string{
	1:   "assumedly before job",
	3:   "before writing config",
	4:   "before writing PID",
	5:   "on reading config file",
	6:   "setting processor set",
	7:   "before prolog",
	8:   "in prolog",
	9:   "before pestart",
	10:  "in pestart",
	11:  "before job",
	12:  "before pestop",
	13:  "in pestop",
	14:  "before epilog",
	15:  "in epilog",
	16:  "releasing processor set",
	17:  "through signal",
	18:  "shepherd returned error",
	19:  "before writing exit_status",
	20:  "found unexpected error file",
	21:  "in recognizing job",
	24:  "migrating (checkpointing jobs)",
	25:  "rescheduling",
	26:  "opening output file",
	27:  "searching requested shell",
	28:  "changing into working directory",
	29:  "AFS setup",
	30:  "application error returned",
	31:  "accessing sgepasswd file",
	32:  "entry is missing in password file",
	33:  "wrong password",
	34:  "communicating with Grid Engine helper service",
	35:  "before job in Grid Engine helper service",
	36:  "checking configured daemons",
	37:  "qmaster enforced h_rt, h_cpu or h_vmem limit",
	38:  "adding supplementary group",
	100: "assumedly after job",
}

func failedReason(code int) string {
	if t, ok := failedText[code]; ok {
		return fmt.Sprintf("Grid Engine failed %d: %s", code, t)
	}
	return fmt.Sprintf("Grid Engine failed %d", code)
}

// signalNames names the signals of exit statuses 128+n.
var signalNames = map[int]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
	7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
	13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ",
}

// exitReason describes an exit status as Grid Engine records it (128+n
// for death by signal n, as the shell reports it).
func exitReason(code int) string {
	if code > 128 && code < 128+65 {
		if n, ok := signalNames[code-128]; ok {
			return fmt.Sprintf("killed by signal %s (exit status %d)", n, code)
		}
		return fmt.Sprintf("killed by signal %d (exit status %d)", code-128, code)
	}
	return fmt.Sprintf("exit status %d", code)
}

// recordStatus maps a finished job's accounting record; cancelled means
// this backend deleted the job.
func recordStatus(r acctRecord, cancelled bool) tuplebroker.Status {
	st := tuplebroker.Status{Started: r.start, Ended: r.end}
	ran := !r.start.IsZero()
	if ran {
		code := r.exit
		st.ExitCode = &code
	}
	clean := r.failed == 0 && r.exit == 0
	overWall := r.hrt > 0 && r.wallclock+1 >= r.hrt
	killed := r.exit == 128+9 || r.exit == 128+24 // SIGKILL, SIGXCPU
	switch {
	case cancelled && !clean:
		st.State, st.SubState = tuplebroker.Cancelled, tuplebroker.SubUserCancelled
		st.Reason = "deleted on request"
		if ran {
			st.Reason += "; " + exitReason(r.exit)
		} else {
			st.Reason += " before it started"
		}
	case clean && ran:
		st.State = tuplebroker.Finished
	case r.failed == 37 || (killed && overWall && (r.failed == 0 || r.failed == 100)):
		st.State, st.SubState = tuplebroker.Failed, SubResourceLimit
		if overWall {
			st.SubState = tuplebroker.SubWallTimeLimit
			st.Reason = fmt.Sprintf("wall time limit of %gs exceeded; ", r.hrt)
		} else {
			st.Reason = failedReason(r.failed) + "; "
		}
		st.Reason += exitReason(r.exit)
	case r.failed != 0 && r.failed != 100:
		st.State, st.SubState = tuplebroker.Failed, SubStartFailed
		st.Reason = failedReason(r.failed)
		if ran {
			st.Reason += "; " + exitReason(r.exit)
		}
	default:
		st.State, st.SubState = tuplebroker.Failed, tuplebroker.SubExitedNonzero
		st.Reason = exitReason(r.exit)
		if !ran {
			st.Reason = "never started; " + failedReason(r.failed)
		}
	}
	return st
}

// accounting indexes this backend's records in the cell's accounting file
// (jobs named with namePrefix). It reads the file incrementally: each
// refresh reads only what was appended since the last, and starts over
// when the file is replaced or truncated.
type accounting struct {
	path   string
	retain time.Duration

	mu        sync.Mutex
	dev, ino  uint64
	off       int64
	long      bool // a.off is inside a line too long to keep
	byID      map[string]acctRecord
	byName    map[string]string // job name → id of its latest record
	lastPurge time.Time
}

func newAccounting(path string, retain time.Duration) *accounting {
	return &accounting{path: path, retain: retain, byID: make(map[string]acctRecord), byName: make(map[string]string)}
}

// maxAcctLine bounds one accounting line; longer ones are skipped.
const maxAcctLine = 64 << 10

// refresh reads what was appended to the file. A missing file is empty.
func (a *accounting) refresh(now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.Open(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gridengine: accounting: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("gridengine: accounting: %w", err)
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uint64(sys.Dev) != a.dev || sys.Ino != a.ino {
			a.dev, a.ino, a.off, a.long = uint64(sys.Dev), sys.Ino, 0, false
		}
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("gridengine: accounting %s is not a regular file", a.path)
	}
	if fi.Size() < a.off {
		a.off, a.long = 0, false // truncated
	}
	if fi.Size() == a.off {
		a.purge(now)
		return nil
	}
	if _, err := f.Seek(a.off, io.SeekStart); err != nil {
		return fmt.Errorf("gridengine: accounting: %w", err)
	}
	horizon := now.Add(-a.retain)
	r := bufio.NewReaderSize(f, maxAcctLine)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			a.off += int64(len(line))
			a.long = true
			continue
		}
		if errors.Is(err, io.EOF) {
			break // an incomplete last line is read again next time
		}
		if err != nil {
			return fmt.Errorf("gridengine: accounting: %w", err)
		}
		a.off += int64(len(line))
		if a.long {
			a.long = false
			continue
		}
		if !ownLine(line) {
			continue
		}
		rec, ok := parseAcctLine(string(line))
		if !ok {
			continue
		}
		if when := rec.when(); !when.IsZero() && when.Before(horizon) {
			continue
		}
		a.byID[rec.id] = rec
		a.byName[rec.name] = rec.id
	}
	a.purge(now)
	return nil
}

// ownLine cheaply tells whether an accounting line's job name (the fifth
// field) starts with namePrefix.
func ownLine(line []byte) bool {
	i := 0
	for n := 0; n < 4; n++ {
		j := bytes.IndexByte(line[i:], ':')
		if j < 0 {
			return false
		}
		i += j + 1
	}
	return strings.HasPrefix(string(line[i:min(len(line), i+len(namePrefix))]), namePrefix)
}

// when is the time a record ages from.
func (r acctRecord) when() time.Time {
	if !r.end.IsZero() {
		return r.end
	}
	return r.submit
}

// purge forgets records older than the retention; a.mu is held.
func (a *accounting) purge(now time.Time) {
	if now.Sub(a.lastPurge) < min(a.retain/4, time.Minute) {
		return
	}
	a.lastPurge = now
	horizon := now.Add(-a.retain)
	for id, r := range a.byID {
		if w := r.when(); !w.IsZero() && w.Before(horizon) {
			delete(a.byID, id)
			if a.byName[r.name] == id {
				delete(a.byName, r.name)
			}
		}
	}
}

// record returns the latest record of job id.
func (a *accounting) record(id string) (acctRecord, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.byID[id]
	return r, ok
}

// named returns the id of the latest record of job name.
func (a *accounting) named(name string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.byName[name]
	return id, ok
}
