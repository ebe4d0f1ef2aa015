package jsdl

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Every error returned by [Parse], [ParseBytes] and
// [JobDefinition.Validate] is an [*Error] whose Kind is exactly one of these,
// so callers can classify failures with errors.Is.
var (
	// ErrMalformed reports input that is not well-formed, namespace-well-formed
	// XML (or could not be read at all).
	ErrMalformed = errors.New("jsdl: malformed document")
	// ErrInvalid reports well-formed XML that is not an acceptable JSDL
	// document: wrong root, unknown or duplicate elements, bad values,
	// missing required parts, DTD declarations and so on.
	ErrInvalid = errors.New("jsdl: invalid document")
	// ErrTooLarge reports that the document exceeded one of the [Limits].
	ErrTooLarge = errors.New("jsdl: document too large")
)

// Error describes why a document was rejected and where.
type Error struct {
	// Path locates the offending element in XPath-like form using local
	// names, e.g.
	// "/JobDefinition/JobDescription/Application/POSIXApplication/Argument[2]".
	// Repeatable elements always carry a 1-based index among their
	// same-named siblings; other elements carry one only when they are
	// repeated (so a duplicate shows up as "Executable[2]"). Path is "/" for
	// problems with the document as a whole.
	Path string
	// Reason is a human-readable explanation. Untrusted values quoted in it
	// are escaped and truncated.
	Reason string
	// Kind is ErrMalformed, ErrInvalid or ErrTooLarge.
	Kind error
	// Err is the underlying cause, if any: an *xml.SyntaxError or the error
	// returned by the io.Reader. It may be nil.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Path == "" {
		return "jsdl: " + e.Reason
	}
	return "jsdl: " + e.Path + ": " + e.Reason
}

// Unwrap returns Kind and, when set, Err, so that both errors.Is(err,
// ErrInvalid) and errors.As(err, &someReaderError) work.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Limits bounds the resources spent on one document. They are enforced while
// streaming, so a hostile document is rejected as soon as it crosses one.
// A zero or negative field means "use the value from [DefaultLimits]"; to
// effectively disable a limit set it very large.
type Limits struct {
	// MaxBytes is the maximum size of the raw input, including anything
	// after the root element.
	MaxBytes int64
	// MaxDepth is the maximum element nesting depth (the root is depth 1).
	MaxDepth int
	// MaxElements is the maximum number of elements in the document,
	// including skipped extension elements.
	MaxElements int
	// MaxTextBytes is the maximum size of one value: an element's text
	// content, one attribute value (namespace declarations excepted), or one
	// run of character data anywhere, including in skipped extensions.
	MaxTextBytes int
	// MaxArguments is the maximum number of Argument elements per application.
	MaxArguments int
	// MaxEnvironment is the maximum number of Environment elements per
	// application.
	MaxEnvironment int
}

// DefaultLimits returns the limits used for untrusted input: 512 KiB, depth 32,
// 10000 elements, 64 KiB per value, 4096 arguments and 4096 environment
// variables.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:       512 << 10, // the document travels base64-encoded in tuples of at most 1 MiB, and once more inside a requeue's commit record
		MaxDepth:       32,
		MaxElements:    10000,
		MaxTextBytes:   64 << 10,
		MaxArguments:   4096,
		MaxEnvironment: 4096,
	}
}

// withDefaults replaces unset fields by their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = d.MaxElements
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = d.MaxTextBytes
	}
	if l.MaxArguments <= 0 {
		l.MaxArguments = d.MaxArguments
	}
	if l.MaxEnvironment <= 0 {
		l.MaxEnvironment = d.MaxEnvironment
	}
	return l
}

// maxQuoted bounds how much of an untrusted string is echoed in a Reason.
const maxQuoted = 64

// quote returns s escaped for inclusion in an error message, truncated to a
// bounded length on a rune boundary.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
