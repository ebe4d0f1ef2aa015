package jsdl

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	exe := `<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>`
	deep := func(n int, open, close string) string {
		return strings.Repeat(open, n) + strings.Repeat(close, n)
	}
	args := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(`<jsdl-posix:Argument>a</jsdl-posix:Argument>`)
		}
		return b.String()
	}
	deepPath := func(prefix string, name string, depth int) string {
		// prefix ends at some depth; extend with foreign elements up to depth.
		segs := strings.Count(prefix, "/")
		return prefix + strings.Repeat("/"+name, depth-segs)
	}
	tests := []struct {
		name string
		doc  string
		lim  Limits
		path string
	}{
		{
			name: "10000 nested foreign elements",
			doc:  jobDoc(helloApp + deep(10000, `<ext:x>`, `</ext:x>`)),
			path: deepPath(pathDesc, "x", 33),
		},
		{
			name: "nesting inside a value element's foreign sibling",
			doc:  posixDoc(exe + deep(100, `<ext:w>`, `</ext:w>`)),
			path: deepPath(pathPOSIX, "w", 33),
		},
		{
			name: "unclosed deep nesting",
			doc:  `<jsdl:JobDefinition` + nsDecls + `><jsdl:JobDescription>` + strings.Repeat(`<ext:x>`, 10000),
			path: deepPath(pathDesc, "x", 33),
		},
		{
			name: "custom MaxDepth",
			doc:  posixDoc(exe),
			lim:  Limits{MaxDepth: 4},
			path: pathPOSIX + "/Executable",
		},
		{
			name: "too many elements",
			doc:  jobDoc(helloApp + strings.Repeat(`<ext:e/>`, 10000)),
			// JobDefinition, JobDescription and the 3 hello elements come first.
			path: pathDesc + "/e[9996]",
		},
		{
			name: "too many elements, custom limit",
			doc:  resDoc(strings.Repeat(`<jsdl:FileSystem name="S"/>`, 100)),
			lim:  Limits{MaxElements: 20},
			path: pathRes + "/FileSystem[15]", // 6 elements precede the first FileSystem
		},
		{
			name: "oversized value",
			doc:  posixDoc(`<jsdl-posix:Executable>` + strings.Repeat("x", 64<<10+1) + `</jsdl-posix:Executable>`),
			path: pathPOSIX + "/Executable",
		},
		{
			name: "oversized value split by comments",
			doc:  posixDoc(exe + `<jsdl-posix:Argument>` + strings.Repeat(strings.Repeat("y", 1000)+"<!---->", 70) + `</jsdl-posix:Argument>`),
			path: pathPOSIX + "/Argument[1]",
		},
		{
			name: "oversized CDATA",
			doc:  posixDoc(exe + `<jsdl-posix:Argument><![CDATA[` + strings.Repeat("z", 64<<10+1) + `]]></jsdl-posix:Argument>`),
			path: pathPOSIX + "/Argument[1]",
		},
		{
			name: "oversized text in a skipped extension",
			doc:  jobDoc(helloApp + `<ext:blob>` + strings.Repeat("b", 64<<10+1) + `</ext:blob>`),
			path: pathDesc + "/blob",
		},
		{
			name: "oversized attribute",
			doc:  jobDoc(helloApp + `<ext:e a="` + strings.Repeat("a", 64<<10+1) + `"/>`),
			path: pathDesc + "/e",
		},
		{
			name: "custom MaxTextBytes",
			doc:  posixDoc(exe + `<jsdl-posix:Argument>1234567890</jsdl-posix:Argument>`),
			lim:  Limits{MaxTextBytes: len("/bin/echo")},
			path: pathPOSIX + "/Argument[1]",
		},
		{
			name: "body over MaxBytes",
			doc:  posixDoc(exe + `<jsdl-posix:Argument>` + strings.Repeat("x", 60000) + `</jsdl-posix:Argument>` + strings.Repeat(`<jsdl-posix:Argument>`+strings.Repeat("x", 60000)+`</jsdl-posix:Argument>`, 20)),
			path: pathPOSIX + "/Argument[9]",
		},
		{
			name: "trailing garbage past MaxBytes",
			doc:  posixDoc(exe) + "<!--" + strings.Repeat("x", 1<<20) + "-->",
			path: "/",
		},
		{
			name: "too many arguments",
			doc:  posixDoc(exe + args(4097)),
			path: pathPOSIX + "/Argument[4097]",
		},
		{
			name: "custom MaxArguments",
			doc:  posixDoc(exe + args(4)),
			lim:  Limits{MaxArguments: 3},
			path: pathPOSIX + "/Argument[4]",
		},
		{
			name: "custom MaxArguments for HPCPA",
			doc:  appDoc(`<jsdl-hpcpa:HPCProfileApplication>` + strings.Repeat(`<jsdl-hpcpa:Argument/>`, 3) + `</jsdl-hpcpa:HPCProfileApplication>`),
			lim:  Limits{MaxArguments: 2},
			path: pathApp + "/HPCProfileApplication/Argument[3]",
		},
		{
			name: "custom MaxEnvironment",
			doc:  posixDoc(exe + `<jsdl-posix:Environment name="A"/><jsdl-posix:Environment name="B"/><jsdl-posix:Environment name="C"/>`),
			lim:  Limits{MaxEnvironment: 2},
			path: pathPOSIX + "/Environment[3]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			if lim == (Limits{}) {
				lim = DefaultLimits()
			}
			_, err := ParseBytes([]byte(tt.doc), lim)
			checkErr(t, err, ErrTooLarge, tt.path)
		})
	}
}

func TestMaxBytesBoundary(t *testing.T) {
	doc := posixDoc(`<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>`)
	const max = 4096
	exact := doc + strings.Repeat(" ", max-len(doc))
	if _, err := ParseBytes([]byte(exact), Limits{MaxBytes: max}); err != nil {
		t.Errorf("document of exactly MaxBytes rejected: %v", err)
	}
	_, err := ParseBytes([]byte(exact+" "), Limits{MaxBytes: max})
	checkErr(t, err, ErrTooLarge, "/")
}

// TestBillionLaughs checks that entity declarations are refused outright,
// without any expansion, and quickly.
func TestBillionLaughs(t *testing.T) {
	var dtd strings.Builder
	dtd.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">`)
	prev := "lol"
	for i := 1; i <= 9; i++ {
		name := "lol" + string(rune('0'+i))
		dtd.WriteString(`<!ENTITY ` + name + ` "` + strings.Repeat("&"+prev+";", 10) + `">`)
		prev = name
	}
	dtd.WriteString(`]>`)
	body := posixDoc(`<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable><jsdl-posix:Argument>&lol9;</jsdl-posix:Argument>`)

	start := time.Now()
	_, err := ParseBytes([]byte(dtd.String()+body), DefaultLimits())
	e := checkErr(t, err, ErrInvalid, "/")
	if !strings.Contains(e.Reason, "DOCTYPE") {
		t.Errorf("Reason = %q, want a mention of DOCTYPE", e.Reason)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("rejection took %v", d)
	}

	// Without the DTD the references are simply undefined entities.
	_, err = ParseBytes([]byte(body), DefaultLimits())
	checkErr(t, err, ErrMalformed, pathPOSIX+"/Argument[1]")
}

// endless is an io.Reader producing prefix and then repeat forever, counting
// the bytes handed out.
type endless struct {
	prefix []byte
	repeat []byte
	n      int64
	pos    int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(e.prefix) > 0 {
			c := copy(p[n:], e.prefix)
			e.prefix = e.prefix[c:]
			n += c
			continue
		}
		c := copy(p[n:], e.repeat[e.pos:])
		e.pos = (e.pos + c) % len(e.repeat)
		n += c
	}
	e.n += int64(n)
	return n, nil
}

// TestStreamingLimits checks that limits are enforced while reading: an
// endless input is cut off shortly after the limit.
func TestStreamingLimits(t *testing.T) {
	open := `<jsdl:JobDefinition` + nsDecls + `><jsdl:JobDescription>`
	tests := []struct {
		name   string
		repeat string
		path   string
	}{
		{"endless whitespace", " ", pathDesc},
		{"endless comments", "<!-- x -->", pathDesc},
		{"endless elements", `<ext:e/>`, pathDesc + "/e[9999]"},
		{"endless nesting", `<ext:e>`, deepPathForTest(pathDesc, "e", 33)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &endless{prefix: []byte(open), repeat: []byte(tt.repeat)}
			_, err := Parse(r, DefaultLimits())
			checkErr(t, err, ErrTooLarge, tt.path)
			if limit := DefaultLimits().MaxBytes + 64<<10; r.n > limit {
				t.Errorf("read %d bytes, want at most about %d", r.n, limit)
			}
		})
	}
}

func deepPathForTest(prefix, name string, depth int) string {
	return prefix + strings.Repeat("/"+name, depth-strings.Count(prefix, "/"))
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("connection reset")
	doc := posixDoc(`<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>`)
	cut := strings.Index(doc, "/bin/echo") + 3
	_, err := Parse(&failingReader{data: []byte(doc[:cut]), err: boom}, DefaultLimits())
	e := checkErr(t, err, ErrMalformed, pathPOSIX+"/Executable")
	if !errors.Is(err, boom) || e.Err != boom {
		t.Errorf("error %v does not wrap the reader's error", err)
	}
	// A clean EOF in the middle is a malformed document, not a read error.
	_, err = Parse(&failingReader{data: []byte(doc[:cut]), err: io.EOF}, DefaultLimits())
	checkErr(t, err, ErrMalformed, pathPOSIX+"/Executable")
}

func TestDefaultLimits(t *testing.T) {
	want := Limits{MaxBytes: 512 << 10, MaxDepth: 32, MaxElements: 10000, MaxTextBytes: 64 << 10, MaxArguments: 4096, MaxEnvironment: 4096}
	if got := DefaultLimits(); got != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", got, want)
	}
	if got := (Limits{MaxDepth: 7, MaxBytes: -1}).withDefaults(); got.MaxDepth != 7 || got.MaxBytes != 512<<10 || got.MaxElements != 10000 {
		t.Errorf("withDefaults() = %+v", got)
	}
	// Zero limits mean the defaults, not "unlimited".
	_, err := ParseBytes(bytes.Repeat([]byte(" "), 512<<10+1), Limits{})
	checkErr(t, err, ErrTooLarge, "/")
}
