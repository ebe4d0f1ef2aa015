package slurm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// jobComp indexes a jobcomp/filetxt file: one line per ended job, written
// by slurmctld, which outlasts the job's MinJobAge in squeue. It reads only
// what was appended since the last look, starts over when the file is
// replaced or truncated, and keeps the most recent maxEntries jobs.
//
// slurmctld writes job names and working directories into the lines
// without escaping, so a user who may name jobs can forge lines. The
// backend's own lines carry no user text (the name is a GUID, the working
// directory Config.Root), and an id or name with conflicting lines is
// treated as unknown, never trusted.
type jobComp struct {
	path string
	loc  *time.Location // slurmctld's time zone
	max  int

	mu      sync.Mutex
	fi      os.FileInfo // of the file read so far
	off     int64       // bytes consumed (complete lines)
	byID    map[string]*compEntry
	byName  map[string][]string // job name → ids, in file order
	order   []string            // ids, oldest first, for eviction
	skipped int                 // lines that did not parse
}

type compEntry struct {
	rec      record
	name     string
	conflict bool // another, different line claims this id
}

func newJobComp(path string, loc *time.Location, maxEntries int) *jobComp {
	return &jobComp{path: path, loc: loc, max: maxEntries}
}

// maxCompLine bounds one line; longer ones are skipped.
const maxCompLine = 64 << 10

// refresh reads what was appended to the file since the last call.
func (j *jobComp) refresh() error {
	f, err := os.Open(j.path)
	if err != nil {
		return fmt.Errorf("jobcomp: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("jobcomp: %w", err)
	}
	if j.fi == nil || !os.SameFile(j.fi, fi) || fi.Size() < j.off {
		j.reset()
	}
	j.fi = fi
	if fi.Size() == j.off {
		return nil
	}
	if _, err := f.Seek(j.off, io.SeekStart); err != nil {
		return fmt.Errorf("jobcomp: %w", err)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An overlong line: skip to its end.
			n := int64(len(line))
			for err == bufio.ErrBufferFull {
				line, err = r.ReadSlice('\n')
				n += int64(len(line))
			}
			if err != nil {
				return nil // incomplete; read again next time
			}
			j.off += n
			j.skipped++
			continue
		}
		if err != nil {
			return nil // EOF before a newline: an incomplete line
		}
		j.off += int64(len(line))
		if len(line) > maxCompLine {
			j.skipped++
			continue
		}
		j.add(line)
	}
}

func (j *jobComp) reset() {
	j.off = 0
	j.byID = make(map[string]*compEntry)
	j.byName = make(map[string][]string)
	j.order = nil
}

// add indexes one line.
func (j *jobComp) add(line []byte) {
	rec, name, ok := parseCompLine(string(bytes.TrimRight(line, "\r\n")), j.loc)
	if !ok {
		j.skipped++
		return
	}
	if e, dup := j.byID[rec.id]; dup {
		if e.rec != rec || e.name != name {
			e.conflict = true
		}
		return
	}
	j.byID[rec.id] = &compEntry{rec: rec, name: name}
	j.byName[name] = append(j.byName[name], rec.id)
	j.order = append(j.order, rec.id)
	for len(j.order) > j.max {
		old := j.order[0]
		j.order = j.order[1:]
		if e := j.byID[old]; e != nil {
			ids := j.byName[e.name]
			for i, id := range ids {
				if id == old {
					ids = append(ids[:i:i], ids[i+1:]...)
					break
				}
			}
			if len(ids) == 0 {
				delete(j.byName, e.name)
			} else {
				j.byName[e.name] = ids
			}
			delete(j.byID, old)
		}
	}
}

// lookup returns the records of the given ids the file knows.
func (j *jobComp) lookup(ids []string) (map[string]record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.refresh(); err != nil {
		return nil, err
	}
	out := make(map[string]record)
	for _, id := range ids {
		if e, ok := j.byID[id]; ok && !e.conflict {
			out[id] = e.rec
		}
	}
	return out, nil
}

// find returns the ids of the jobs named name, in file order, leaving out
// ids with conflicting lines.
func (j *jobComp) find(name string) ([]string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.refresh(); err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range j.byName[name] {
		if e := j.byID[id]; e != nil && !e.conflict {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// parseCompLine parses a jobcomp/filetxt line:
//
//	JobId=3 UserId=root(0) GroupId=root(0) Name=x JobState=FAILED Partition=debug
//	TimeLimit=UNLIMITED StartTime=... EndTime=... NodeList=a1 NodeCnt=1 ProcCnt=1
//	WorkDir=/ ... DerivedExitCode=0:0 ExitCode=3:0
//
// The fields up to NodeList come before any free text but Name; ExitCode is
// the last field. Times are in loc.
func parseCompLine(line string, loc *time.Location) (rec record, name string, ok bool) {
	rest, found := strings.CutPrefix(line, "JobId=")
	if !found {
		return record{}, "", false
	}
	id, rest, _ := strings.Cut(rest, " ")
	if !isJobID(id) {
		return record{}, "", false
	}
	// Name is free text up to " JobState=" (the first one: a forged state
	// inside a name makes the name not match any GUID).
	_, rest, found = strings.Cut(rest, " Name=")
	if !found {
		return record{}, "", false
	}
	name, rest, found = strings.Cut(rest, " JobState=")
	if !found {
		return record{}, "", false
	}
	state, rest, _ := strings.Cut(rest, " ")
	fields := map[string]string{}
	// The fixed fields between JobState and WorkDir hold no spaces.
	for tok := range strings.SplitSeq(rest, " ") {
		k, v, kv := strings.Cut(tok, "=")
		if !kv {
			continue
		}
		if k == "WorkDir" {
			break
		}
		if _, seen := fields[k]; !seen {
			fields[k] = v
		}
	}
	rec = record{
		id:    id,
		state: baseState(state),
		start: parseTime(fields["StartTime"], loc),
		end:   parseTime(fields["EndTime"], loc),
	}
	nl := fields["NodeList"]
	rec.ran = nl != "" && nl != "(null)"
	i := strings.LastIndex(line, " ExitCode=")
	if i >= 0 {
		v := strings.TrimSpace(line[i+len(" ExitCode="):])
		rec.code, rec.signal, rec.hasExit = parseExitPair(v)
	}
	if rec.state == "" {
		return record{}, "", false
	}
	return rec, name, true
}
