package agents

import (
	"fmt"
	"strings"

	"tuplebroker"
	"tuplebroker/jsdl"
)

// Rejection is the error of Admit: a job that can never run on the backend.
// It wraps tuplebroker.ErrRejected, and the cause where there is one (such
// as jsdl.ErrNoExecutable).
type Rejection struct {
	// Element is the JSDL element the backend cannot serve: "JobDefinition"
	// (none given), "Application" (no executable), "DataStaging", or the
	// element behind an unoffered requirement label: "OperatingSystem"
	// (os=), "CPUArchitecture" (arch=), "ExclusiveExecution" (exclusive=),
	// "SPMDVariation" (spmd=), "ApplicationName" (application=),
	// "DataStaging" (datastaging=), else the label's key.
	Element string
	// Reason says what the job asks for and what the backend offers.
	Reason string
	cause  error
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("%v: %s: %s", tuplebroker.ErrRejected, r.Element, r.Reason)
}

// Unwrap returns tuplebroker.ErrRejected and the cause, if any.
func (r *Rejection) Unwrap() []error {
	if r.cause == nil {
		return []error{tuplebroker.ErrRejected}
	}
	return []error{tuplebroker.ErrRejected, r.cause}
}

// labelElement names the JSDL element behind a requirement key of
// jsdl.JobDefinition.Requirements.
func labelElement(k string) string {
	switch k {
	case "os":
		return "OperatingSystem"
	case "arch":
		return "CPUArchitecture"
	case "exclusive":
		return "ExclusiveExecution"
	case "spmd":
		return "SPMDVariation"
	case "application":
		return "ApplicationName"
	case "datastaging":
		return "DataStaging"
	}
	return k
}

// Admit reports whether a backend offering the capabilities caps can take
// the job at all. The agent core calls it before Submit, so backends only
// translate; every error is a *Rejection (wrapping tuplebroker.ErrRejected).
// In this order, a job is rejected that:
//
//   - has no definition;
//   - has no executable (jsdl.JobDefinition.Program), unless it names an
//     application the backend offers as "application=<ApplicationName>";
//   - has DataStaging elements, unless the backend offers some
//     "datastaging=<scheme>" label (none of the backends does: they stage no
//     files);
//   - has a requirement (jsdl.JobDefinition.Requirements) that is not one of
//     caps.
func Admit(def *jsdl.JobDefinition, caps []string) error {
	if def == nil {
		return &Rejection{Element: "JobDefinition", Reason: "job has no definition"}
	}
	offered := make(map[string]bool, len(caps))
	for _, c := range caps {
		offered[c] = true
	}
	if _, err := def.Program(); err != nil {
		name := def.JobDescription.Application.ApplicationName
		if name == "" || !offered["application="+name] {
			return &Rejection{Element: "Application", cause: err,
				Reason: fmt.Sprintf("%v; this backend offers %s", err, offers(caps, "application"))}
		}
	}
	if n := len(def.JobDescription.DataStaging); n > 0 && !hasKey(caps, "datastaging") {
		return &Rejection{Element: "DataStaging",
			Reason: fmt.Sprintf("job has %d DataStaging element(s); this backend cannot stage files", n)}
	}
	for _, req := range def.Requirements() {
		if offered[req] {
			continue
		}
		k, _, _ := strings.Cut(req, "=")
		return &Rejection{Element: labelElement(k), Reason: fmt.Sprintf("job requires %s; this backend offers %s", req, offers(caps, k))}
	}
	return nil
}

// offers lists the capabilities with key k, for messages.
func offers(caps []string, k string) string {
	var l []string
	for _, c := range caps {
		if strings.HasPrefix(c, k+"=") {
			l = append(l, c)
		}
	}
	if len(l) == 0 {
		return "no " + k + "= label"
	}
	return strings.Join(l, ", ")
}

// hasKey reports whether some capability has key k.
func hasKey(caps []string, k string) bool {
	for _, c := range caps {
		if strings.HasPrefix(c, k+"=") {
			return true
		}
	}
	return false
}
