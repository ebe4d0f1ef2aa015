package jsdl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	nsDecls = ` xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"` +
		` xmlns:jsdl-posix="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix"` +
		` xmlns:jsdl-hpcpa="http://schemas.ggf.org/jsdl/2006/07/jsdl-hpcpa"` +
		` xmlns:jsdl-spmd="http://schemas.ogf.org/jsdl/2007/02/jsdl-spmd"` +
		` xmlns:ext="urn:example:ext"`

	pathJD    = "/JobDefinition"
	pathDesc  = pathJD + "/JobDescription"
	pathApp   = pathDesc + "/Application"
	pathPOSIX = pathApp + "/POSIXApplication"
	pathRes   = pathDesc + "/Resources"

	helloApp = `<jsdl:Application><jsdl-posix:POSIXApplication>` +
		`<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>` +
		`</jsdl-posix:POSIXApplication></jsdl:Application>`
)

// jobDoc wraps JobDescription content in a JobDefinition with all namespaces.
func jobDoc(desc string) string {
	return `<jsdl:JobDefinition` + nsDecls + `><jsdl:JobDescription>` + desc +
		`</jsdl:JobDescription></jsdl:JobDefinition>`
}

// appDoc wraps Application content.
func appDoc(app string) string {
	return jobDoc(`<jsdl:Application>` + app + `</jsdl:Application>`)
}

// posixDoc wraps POSIXApplication content.
func posixDoc(inner string) string {
	return appDoc(`<jsdl-posix:POSIXApplication>` + inner + `</jsdl-posix:POSIXApplication>`)
}

// resDoc is a hello job with the given Resources content.
func resDoc(res string) string {
	return jobDoc(helloApp + `<jsdl:Resources>` + res + `</jsdl:Resources>`)
}

// stageDoc is a hello job with the given DataStaging content.
func stageDoc(ds string) string {
	return jobDoc(helloApp + `<jsdl:DataStaging>` + ds + `</jsdl:DataStaging>`)
}

var sentinels = []error{ErrMalformed, ErrInvalid, ErrTooLarge}

// checkErr asserts err is an *Error of the given kind at the given path.
func checkErr(t *testing.T, err error, kind error, path string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v at %s", kind, path)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *jsdl.Error", err, err)
	}
	for _, s := range sentinels {
		if got, want := errors.Is(err, s), s == kind; got != want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
		}
	}
	if e.Path != path {
		t.Errorf("Path = %q, want %q (error: %v)", e.Path, path, err)
	}
	if e.Reason == "" {
		t.Errorf("empty Reason")
	}
	if !strings.Contains(err.Error(), e.Reason) {
		t.Errorf("Error() %q does not contain Reason %q", err.Error(), e.Reason)
	}
	return e
}

func mustParse(t *testing.T, doc string) *JobDefinition {
	t.Helper()
	jd, err := ParseBytes([]byte(doc), DefaultLimits())
	if err != nil {
		t.Fatalf("ParseBytes: %v\ndocument:\n%s", err, doc)
	}
	return jd
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func u64(n uint64) *uint64 { return &n }
func boolp(b bool) *bool   { return &b }
