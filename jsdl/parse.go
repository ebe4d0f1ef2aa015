package jsdl

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse reads one JSDL document from r, enforcing lim while streaming (zero
// fields of lim take their [DefaultLimits] values), and returns the validated
// job definition. Every error is an [*Error]; see the package documentation
// for what is accepted and rejected. Parse reads r to EOF (or until a limit
// is hit) because only comments, processing instructions and whitespace may
// follow the root element.
func Parse(r io.Reader, lim Limits) (*JobDefinition, error) {
	lim = lim.withDefaults()
	lr := &limitReader{r: r, remaining: lim.MaxBytes}
	br := bufio.NewReader(lr)
	// Tolerate a UTF-8 byte order mark, as written by some Windows tools.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	d := xml.NewDecoder(br)
	d.Strict = true
	d.CharsetReader = charsetReader
	p := &parser{d: d, in: lr, lim: lim}
	jd, err := p.document()
	if err != nil {
		return nil, err
	}
	if err := jd.Validate(); err != nil {
		return nil, err
	}
	return jd, nil
}

// ParseBytes is [Parse] on an in-memory document.
func ParseBytes(b []byte, lim Limits) (*JobDefinition, error) {
	return Parse(bytes.NewReader(b), lim)
}

const xmlNamespace = "http://www.w3.org/XML/1998/namespace"
const xmlnsNamespace = "http://www.w3.org/2000/xmlns/"

var errInputTooLarge = errors.New("jsdl: input exceeds MaxBytes")

// limitReader passes through at most remaining bytes and then reports
// errInputTooLarge if the underlying reader has more.
type limitReader struct {
	r         io.Reader
	remaining int64
	exceeded  bool
	err       error // first error from r other than io.EOF
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.exceeded {
		return 0, errInputTooLarge
	}
	if len(b) == 0 {
		return 0, nil
	}
	if l.remaining <= 0 {
		// Probe for one byte beyond the limit.
		var one [1]byte
		for range 100 {
			n, err := l.r.Read(one[:])
			if n > 0 {
				l.exceeded = true
				return 0, errInputTooLarge
			}
			if err != nil {
				l.note(err)
				return 0, err
			}
		}
		l.note(io.ErrNoProgress)
		return 0, io.ErrNoProgress
	}
	if int64(len(b)) > l.remaining {
		b = b[:l.remaining]
	}
	n, err := l.r.Read(b)
	if n < 0 || n > len(b) {
		// A broken reader; do not trust it.
		l.note(io.ErrShortBuffer)
		return 0, io.ErrShortBuffer
	}
	l.remaining -= int64(n)
	l.note(err)
	return n, err
}

func (l *limitReader) note(err error) {
	if err != nil && err != io.EOF && l.err == nil {
		l.err = err
	}
}

// charsetReader supports the non-UTF-8 encodings that can be handled without
// dependencies: US-ASCII (a subset of UTF-8) and ISO-8859-1.
func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1":
		return &latin1Reader{r: in}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %s", quote(charset))
}

// latin1Reader transcodes ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r   io.Reader
	buf []byte // transcoded bytes not yet returned
	raw [512]byte
}

func (l *latin1Reader) Read(b []byte) (int, error) {
	for len(l.buf) == 0 {
		n, err := l.r.Read(l.raw[:])
		for _, c := range l.raw[:max(0, min(n, len(l.raw)))] {
			l.buf = utf8.AppendRune(l.buf, rune(c))
		}
		if len(l.buf) == 0 && err != nil {
			return 0, err
		}
		if n == 0 && err == nil {
			return 0, nil
		}
	}
	n := copy(b, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

type tokKind int

const (
	tStart tokKind = iota + 1
	tEnd
	tText
)

// token is a namespace-resolved event from the document. Start tokens are
// allocated and stay valid; end and text tokens are reused (parser.tok) and
// are valid only until the next call to next.
type token struct {
	kind  tokKind
	name  xml.Name   // tStart: resolved name (Space is the namespace URI)
	attrs []xml.Attr // tStart: resolved attributes, namespace declarations removed
	index int        // tStart: 1-based index among same-named siblings
	text  []byte     // tText: valid until the next call to next
}

func (t *token) is(space, local string) bool {
	return t.name.Space == space && t.name.Local == local
}

// frame is an open element.
type frame struct {
	raw      xml.Name // as written, for matching the end tag
	declared []string // namespace prefixes declared here ("" for default)
	seg      string   // path segment
	counts   map[xml.Name]int
}

type parser struct {
	d          *xml.Decoder
	in         *limitReader
	lim        Limits
	stack      []frame
	popPending bool // the top frame's end tag has been returned
	elements   int
	rootSeen   bool
	tokens     int
	tok        token
	ns         map[string][]string // in-scope namespace bindings by prefix
}

// path renders the current element path.
func (p *parser) path() string {
	if len(p.stack) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, f := range p.stack {
		b.WriteByte('/')
		b.WriteString(f.seg)
	}
	return b.String()
}

func (p *parser) errorf(kind error, cause error, format string, args ...any) *Error {
	return &Error{Path: p.path(), Reason: fmt.Sprintf(format, args...), Kind: kind, Err: cause}
}

func (p *parser) invalidf(format string, args ...any) error {
	return p.errorf(ErrInvalid, nil, format, args...)
}

func (p *parser) malformedf(format string, args ...any) error {
	return p.errorf(ErrMalformed, nil, format, args...)
}

func (p *parser) tooLargef(format string, args ...any) error {
	return p.errorf(ErrTooLarge, nil, format, args...)
}

// decodeErr classifies an error from the XML decoder.
func (p *parser) decodeErr(err error) error {
	switch {
	case p.in.exceeded:
		return p.tooLargef("document exceeds MaxBytes (%d bytes)", p.lim.MaxBytes)
	case err == io.EOF:
		if len(p.stack) > 0 {
			return p.malformedf("unexpected end of document: element %s is not closed", p.stack[len(p.stack)-1].seg)
		}
		return io.EOF
	case p.in.err != nil && errors.Is(err, p.in.err):
		return p.errorf(ErrMalformed, err, "read error: %v", err)
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return p.errorf(ErrMalformed, err, "line %d: %s", se.Line, se.Msg)
	}
	return p.errorf(ErrMalformed, err, "%v", err)
}

// next returns the next start, end or text event. Comments and processing
// instructions are skipped; DTD declarations are rejected. It returns io.EOF
// only at the end of the input outside any element.
func (p *parser) next() (*token, error) {
	if p.popPending {
		p.pop()
		p.popPending = false
	}
	for {
		raw, err := p.d.RawToken()
		if err != nil {
			return nil, p.decodeErr(err)
		}
		p.tokens++
		switch t := raw.(type) {
		case xml.StartElement:
			return p.start(t)
		case xml.EndElement:
			if len(p.stack) == 0 {
				return nil, p.malformedf("unexpected end tag </%s>", rawName(t.Name))
			}
			if top := &p.stack[len(p.stack)-1]; t.Name != top.raw {
				return nil, p.malformedf("element <%s> closed by </%s>", rawName(top.raw), rawName(t.Name))
			}
			p.popPending = true
			p.tok = token{kind: tEnd}
			return &p.tok, nil
		case xml.CharData:
			if len(t) > p.lim.MaxTextBytes {
				return nil, p.tooLargef("text exceeds MaxTextBytes (%d bytes)", p.lim.MaxTextBytes)
			}
			p.tok = token{kind: tText, text: t}
			return &p.tok, nil
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") && p.tokens != 1 {
				return nil, p.malformedf("XML declaration is only allowed at the start of the document")
			}
		case xml.Comment:
		case xml.Directive:
			return nil, p.invalidf("DOCTYPE, ENTITY and other <!...> declarations are not allowed")
		default:
			return nil, p.malformedf("unexpected XML token %T", raw)
		}
	}
}

func rawName(n xml.Name) string {
	if n.Space == "" {
		return truncName(n.Local)
	}
	return truncName(n.Space + ":" + n.Local)
}

// truncName bounds names echoed in paths and messages.
func truncName(s string) string {
	const maxName = 64
	if len(s) <= maxName {
		return s
	}
	cut := maxName
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// multiValued lists the JSDL elements that may legitimately repeat; their
// path segments always carry an index.
var multiValued = map[string]bool{
	"Argument": true, "Environment": true, "JobAnnotation": true, "JobProject": true,
	"FileSystem": true, "DataStaging": true, "HostName": true,
	"UpperBoundedRange": true, "LowerBoundedRange": true, "Exact": true, "Range": true,
}

func isJSDLNamespace(ns string) bool {
	switch ns {
	case NamespaceJSDL, NamespacePOSIX, NamespaceHPCPA, NamespaceSPMD:
		return true
	}
	return false
}

// start processes a start tag: namespace scoping, limits and path.
func (p *parser) start(t xml.StartElement) (*token, error) {
	p.elements++
	if p.rootSeen && len(p.stack) == 0 {
		return nil, p.malformedf("content after the root element")
	}
	p.rootSeen = true
	p.stack = append(p.stack, frame{raw: t.Name, seg: truncName(t.Name.Local)})
	top := &p.stack[len(p.stack)-1]
	var parent *frame // for the sibling index in the path
	if len(p.stack) > 1 {
		parent = &p.stack[len(p.stack)-2]
	}
	if dup, ok := firstDuplicate(t.Attr, func(a xml.Attr) xml.Name { return a.Name }); ok {
		return nil, p.malformedf("duplicate attribute %s", quote(rawName(dup)))
	}
	// Namespace declarations first: they apply to this element's own name.
	for _, a := range t.Attr {
		var prefix string
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			if a.Value == xmlNamespace || a.Value == xmlnsNamespace {
				return nil, p.malformedf("reserved namespace %s cannot be the default namespace", quote(a.Value))
			}
		case a.Name.Space == "xmlns":
			prefix = a.Name.Local
			switch {
			case prefix == "xmlns":
				return nil, p.malformedf("the xmlns prefix cannot be declared")
			case a.Value == "":
				return nil, p.malformedf("prefix %s cannot be bound to the empty namespace", quote(prefix))
			case (prefix == "xml") != (a.Value == xmlNamespace), a.Value == xmlnsNamespace:
				return nil, p.malformedf("invalid binding of prefix %s to %s", quote(prefix), quote(a.Value))
			}
		default:
			continue
		}
		if p.ns == nil {
			p.ns = make(map[string][]string)
		}
		p.ns[prefix] = append(p.ns[prefix], a.Value)
		top.declared = append(top.declared, prefix)
	}
	if strings.Contains(t.Name.Local, ":") {
		return nil, p.malformedf("invalid element name %s", quote(rawName(t.Name)))
	}
	space, ok := p.lookup(t.Name.Space)
	if !ok {
		return nil, p.malformedf("undeclared namespace prefix %s", quote(t.Name.Space))
	}
	name := xml.Name{Space: space, Local: t.Name.Local}
	n := 1
	if parent != nil {
		if parent.counts == nil {
			parent.counts = make(map[xml.Name]int)
		}
		parent.counts[name]++
		n = parent.counts[name]
	}
	if n > 1 || (multiValued[name.Local] && isJSDLNamespace(space)) {
		top.seg += "[" + strconv.Itoa(n) + "]"
	}
	if p.elements > p.lim.MaxElements {
		return nil, p.tooLargef("document has more than MaxElements (%d) elements", p.lim.MaxElements)
	}
	if len(p.stack) > p.lim.MaxDepth {
		return nil, p.tooLargef("nesting exceeds MaxDepth (%d)", p.lim.MaxDepth)
	}
	attrs := make([]xml.Attr, 0, len(t.Attr))
	for _, a := range t.Attr {
		if (a.Name.Space == "" && a.Name.Local == "xmlns") || a.Name.Space == "xmlns" {
			continue // namespace declarations are names, not values
		}
		if len(a.Value) > p.lim.MaxTextBytes {
			return nil, p.tooLargef("attribute %s exceeds MaxTextBytes (%d bytes)", quote(rawName(a.Name)), p.lim.MaxTextBytes)
		}
		if strings.Contains(a.Name.Local, ":") {
			return nil, p.malformedf("invalid attribute name %s", quote(rawName(a.Name)))
		}
		an := xml.Name{Local: a.Name.Local}
		if a.Name.Space != "" {
			if an.Space, ok = p.lookup(a.Name.Space); !ok {
				return nil, p.malformedf("undeclared namespace prefix %s", quote(a.Name.Space))
			}
		}
		attrs = append(attrs, xml.Attr{Name: an, Value: a.Value})
	}
	// Two prefixes bound to the same namespace can still collide.
	if dup, ok := firstDuplicate(attrs, func(a xml.Attr) xml.Name { return a.Name }); ok {
		return nil, p.malformedf("duplicate attribute %s", qname(dup))
	}
	// Start tokens are fresh: handlers keep them while reading the content.
	return &token{kind: tStart, name: name, attrs: attrs, index: n}, nil
}

// firstDuplicate returns the first repeated key, in linear time.
func firstDuplicate[T any](list []T, key func(T) xml.Name) (xml.Name, bool) {
	if len(list) < 2 {
		return xml.Name{}, false
	}
	seen := make(map[xml.Name]struct{}, len(list))
	for _, x := range list {
		k := key(x)
		if _, dup := seen[k]; dup {
			return k, true
		}
		seen[k] = struct{}{}
	}
	return xml.Name{}, false
}

// pop closes the top element and its namespace declarations.
func (p *parser) pop() {
	top := &p.stack[len(p.stack)-1]
	for _, prefix := range top.declared {
		s := p.ns[prefix]
		p.ns[prefix] = s[:len(s)-1]
	}
	p.stack = p.stack[:len(p.stack)-1]
}

// lookup resolves a namespace prefix ("" for the default namespace).
func (p *parser) lookup(prefix string) (string, bool) {
	if s := p.ns[prefix]; len(s) > 0 {
		return s[len(s)-1], true
	}
	switch prefix {
	case "":
		return "", true
	case "xml":
		return xmlNamespace, true
	}
	return "", false
}

// isSpace reports whether b is only XML whitespace.
func isSpace(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

func trim(s string) string { return strings.Trim(s, " \t\r\n") }

// document parses the whole input.
func (p *parser) document() (*JobDefinition, error) {
	var jd *JobDefinition
	for {
		t, err := p.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tText:
			if !isSpace(t.text) {
				return nil, p.malformedf("text outside the root element")
			}
		case tStart:
			if !t.is(NamespaceJSDL, "JobDefinition") {
				return nil, p.invalidf("root element must be jsdl:JobDefinition, not %s", qname(t.name))
			}
			if jd, err = p.jobDefinition(t); err != nil {
				return nil, err
			}
		}
	}
	if jd == nil {
		return nil, &Error{Path: "/", Reason: "no root element", Kind: ErrMalformed}
	}
	return jd, nil
}

// qname renders a resolved name with the conventional prefix of its namespace.
func qname(n xml.Name) string {
	switch n.Space {
	case NamespaceJSDL:
		return "jsdl:" + truncName(n.Local)
	case NamespacePOSIX:
		return "jsdl-posix:" + truncName(n.Local)
	case NamespaceHPCPA:
		return "jsdl-hpcpa:" + truncName(n.Local)
	case NamespaceSPMD:
		return "jsdl-spmd:" + truncName(n.Local)
	case "":
		return truncName(n.Local) + " (no namespace)"
	}
	return truncName(n.Local) + " (namespace " + quote(n.Space) + ")"
}

// skip consumes the rest of the current element.
func (p *parser) skip() error {
	for depth := 1; depth > 0; {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tStart:
			depth++
		case tEnd:
			depth--
		}
	}
	return nil
}

// other handles a child the caller does not expect: extension elements in
// foreign namespaces are skipped, anything else is rejected.
func (p *parser) other(t *token) error {
	if isJSDLNamespace(t.name.Space) {
		return p.invalidf("unknown or misplaced element %s", qname(t.name))
	}
	if t.name.Space == "" {
		return p.invalidf("element %s is not in any namespace", quote(t.name.Local))
	}
	return p.skip()
}

// children iterates over the child elements of the current element, calling
// f with each; f must consume the child entirely. Text other than whitespace
// is rejected, as are repeated single-valued JSDL elements.
func (p *parser) children(f func(c *token) error) error {
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tEnd:
			return nil
		case tText:
			if !isSpace(t.text) {
				return p.invalidf("unexpected text content")
			}
		case tStart:
			if t.index > 1 && isJSDLNamespace(t.name.Space) && !multiValued[t.name.Local] {
				return p.invalidf("duplicate element %s", qname(t.name))
			}
			if err := f(t); err != nil {
				return err
			}
		}
	}
}

// attrs checks the attributes of t against the allowed unqualified names and
// returns their trimmed values and presence. Attributes in foreign namespaces
// are ignored; unknown unqualified ones, or ones in a JSDL namespace, are
// rejected.
func (p *parser) attrs(t *token, names ...string) (vals []string, present []bool, err error) {
	vals = make([]string, len(names))
	present = make([]bool, len(names))
outer:
	for _, a := range t.attrs {
		if a.Name.Space == "" {
			for i, n := range names {
				if a.Name.Local == n {
					vals[i], present[i] = trim(a.Value), true
					continue outer
				}
			}
		} else if !isJSDLNamespace(a.Name.Space) {
			continue
		}
		return nil, nil, p.invalidf("unknown attribute %s on %s", quote(a.Name.Local), qname(t.name))
	}
	return vals, present, nil
}

// text reads the text content of the current (simple-valued) element up to
// its end tag and returns it trimmed of surrounding XML whitespace.
func (p *parser) text() (string, error) {
	var buf []byte
	for {
		t, err := p.next()
		if err != nil {
			return "", err
		}
		switch t.kind {
		case tText:
			if len(buf)+len(t.text) > p.lim.MaxTextBytes {
				return "", p.tooLargef("value exceeds MaxTextBytes (%d bytes)", p.lim.MaxTextBytes)
			}
			buf = append(buf, t.text...)
		case tStart:
			return "", p.invalidf("unexpected element %s inside a value", qname(t.name))
		case tEnd:
			s := trim(string(buf))
			if strings.IndexByte(s, 0) >= 0 {
				return "", p.invalidf("value contains a NUL byte")
			}
			return s, nil
		}
	}
}

// plain reads a value element that has no attributes.
func (p *parser) plain(t *token) (string, error) {
	if _, _, err := p.attrs(t); err != nil {
		return "", err
	}
	return p.text()
}

// nonEmpty reads a value element with no attributes that must not be empty.
func (p *parser) nonEmpty(t *token) (string, error) {
	s, err := p.plain(t)
	if err == nil && s == "" {
		err = p.invalidf("empty %s", t.name.Local)
	}
	return s, err
}

// parseDouble parses an xsd:double lexical value, rejecting NaN, infinities
// and values that overflow float64. It returns a reason on failure.
func parseDouble(s string) (float64, string) {
	if !isDecimalFloat(s) {
		return 0, fmt.Sprintf("%s is not a finite decimal number", quote(s))
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Sprintf("%s is out of range", quote(s))
	}
	if x == 0 {
		x = 0 // normalise -0
	}
	return x, ""
}

// isDecimalFloat matches [+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?
func isDecimalFloat(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// parseUint parses an xsd:nonNegativeInteger that fits in a uint64.
func parseUint(s string) (uint64, string) {
	d := strings.TrimPrefix(s, "+")
	if d == "" {
		return 0, fmt.Sprintf("%s is not a non-negative integer", quote(s))
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, fmt.Sprintf("%s is not a non-negative integer", quote(s))
		}
	}
	n, err := strconv.ParseUint(d, 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("%s is out of range", quote(s))
	}
	return n, ""
}

// parseBool accepts exactly the xsd:boolean literals true, false, 1 and 0.
func parseBool(s string) (bool, string) {
	switch s {
	case "true", "1":
		return true, ""
	case "false", "0":
		return false, ""
	}
	return false, fmt.Sprintf("%s is not a boolean (true, false, 1 or 0)", quote(s))
}

func (p *parser) boolValue(t *token) (*bool, error) {
	s, err := p.plain(t)
	if err != nil {
		return nil, err
	}
	b, reason := parseBool(s)
	if reason != "" {
		return nil, p.invalidf("%s", reason)
	}
	return &b, nil
}

func (p *parser) uintValue(t *token, attr string) (n uint64, flag bool, err error) {
	var vals []string
	var present []bool
	if attr == "" {
		_, _, err = p.attrs(t)
	} else {
		vals, present, err = p.attrs(t, attr)
	}
	if err != nil {
		return 0, false, err
	}
	s, err := p.text()
	if err != nil {
		return 0, false, err
	}
	n, reason := parseUint(s)
	if reason != "" {
		return 0, false, p.invalidf("%s", reason)
	}
	if attr != "" && present[0] {
		var r string
		if flag, r = parseBool(vals[0]); r != "" {
			return 0, false, p.invalidf("attribute %s: %s", attr, r)
		}
	}
	return n, flag, nil
}
