package jsdl

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser under default and under tight
// limits. It must never panic, every error must be a well-formed *Error, and
// every accepted document must satisfy the package's invariants.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.jsdl"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed documents: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	exe := `<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>`
	for _, s := range []string{
		"",
		posixDoc(exe + exe),
		appDoc(`<jsdl:ApplicationName>x</jsdl:ApplicationName>`),
		resDoc(`<jsdl:TotalCPUCount><jsdl:Range><jsdl:LowerBound exclusiveBound="true">2</jsdl:LowerBound><jsdl:UpperBound>2</jsdl:UpperBound></jsdl:Range></jsdl:TotalCPUCount>`),
		`<!DOCTYPE x [<!ENTITY a "b">]>` + posixDoc(exe),
		"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"latin1\"?>" + posixDoc(exe),
		stageDoc(`<jsdl:FileName>f</jsdl:FileName><jsdl:CreationFlag>append</jsdl:CreationFlag><jsdl:Source><jsdl:URI>http://h/x</jsdl:URI></jsdl:Source>`),
		jobDoc(helloApp + strings.Repeat(`<ext:x>`, 40) + strings.Repeat(`</ext:x>`, 40)),
	} {
		f.Add([]byte(s))
	}

	tight := Limits{MaxBytes: 4096, MaxDepth: 8, MaxElements: 64, MaxTextBytes: 256, MaxArguments: 4, MaxEnvironment: 4}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{DefaultLimits(), tight} {
			jd, err := ParseBytes(data, lim)
			if err != nil {
				checkFuzzError(t, jd, err)
				continue
			}
			checkInvariants(t, jd, lim.withDefaults())
			again, err := ParseBytes(data, lim)
			if err != nil || !reflect.DeepEqual(jd, again) {
				t.Fatalf("parsing is not deterministic: %v", err)
			}
		}
	})
}

func checkFuzzError(t *testing.T, jd *JobDefinition, err error) {
	t.Helper()
	if jd != nil {
		t.Fatalf("JobDefinition returned with error %v", err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *jsdl.Error", err, err)
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v matches %d sentinels, want 1", err, n)
	}
	if !strings.HasPrefix(e.Path, "/") || e.Reason == "" {
		t.Fatalf("bad error %#v", e)
	}
}

func checkInvariants(t *testing.T, jd *JobDefinition, lim Limits) {
	t.Helper()
	app := &jd.JobDescription.Application
	exe, args := jd.Executable()
	if exe == "" && app.ApplicationName == "" {
		t.Fatalf("accepted a document with neither executable nor ApplicationName")
	}
	kinds := 0
	for _, set := range []bool{app.POSIX != nil, app.HPCProfile != nil, app.SPMD != nil} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		t.Fatalf("accepted %d application kinds", kinds)
	}
	if len(args) > lim.MaxArguments {
		t.Fatalf("%d arguments exceed MaxArguments %d", len(args), lim.MaxArguments)
	}
	for _, s := range append([]string{exe}, args...) {
		if strings.IndexByte(s, 0) >= 0 || len(s) > lim.MaxTextBytes {
			t.Fatalf("bad value %q", s)
		}
	}
	if err := jd.Validate(); err != nil {
		t.Fatalf("accepted document fails Validate: %v", err)
	}
	reqs := jd.Requirements()
	if !sort.StringsAreSorted(reqs) {
		t.Fatalf("Requirements() not sorted: %q", reqs)
	}
	for i, r := range reqs {
		if !strings.Contains(r, "=") || (i > 0 && reqs[i-1] == r) {
			t.Fatalf("bad Requirements() %q", reqs)
		}
	}
	if r := jd.JobDescription.Resources; r != nil {
		ranges := []*RangeValue{}
		for _, rr := range rangeResources {
			ranges = append(ranges, *rr.field(r))
		}
		for _, fs := range r.FileSystem {
			ranges = append(ranges, fs.DiskSpace)
		}
		for _, rv := range ranges {
			if rv == nil {
				continue
			}
			min, ok := rv.Min()
			if !ok || math.IsNaN(min) || min < 0 || !rv.Contains(min) {
				t.Fatalf("RangeValue %+v: Min() = %v, %v", rv, min, ok)
			}
		}
	}
}
