package jsdl

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAdversarialInputs checks that worst-case documents just under the
// default limits are handled in (near) linear time.
func TestAdversarialInputs(t *testing.T) {
	budget := int(DefaultLimits().MaxBytes)
	fill := func(unit func(i int) string) string {
		var b strings.Builder
		for i := 0; b.Len() < budget-2048; i++ {
			b.WriteString(unit(i))
		}
		return b.String()
	}
	envs := func() string {
		var b strings.Builder
		for i := range 4096 {
			fmt.Fprintf(&b, `<jsdl-posix:Environment name="V%d">x</jsdl-posix:Environment>`, i)
		}
		return b.String()
	}
	args := strings.Repeat(`<jsdl-posix:Argument>x</jsdl-posix:Argument>`, 4096)
	exe := `<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>`
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		{"many attributes", jobDoc(helloApp + `<ext:e ` + fill(func(i int) string { return fmt.Sprintf(`a%d="" `, i) }) + `/>`), true},
		{"many namespace declarations", `<jsdl:JobDefinition` + nsDecls + fill(func(i int) string { return fmt.Sprintf(` xmlns:p%d="urn:%d"`, i, i) }) + `><jsdl:JobDescription>` + helloApp + `</jsdl:JobDescription></jsdl:JobDefinition>`, true},
		{"many declarations of one prefix", jobDoc(helloApp + strings.Repeat(`<ext:e xmlns:q="urn:q" xmlns:r="urn:r"><q:x/></ext:e>`, 4990)), true},
		{"max environment", posixDoc(exe + envs()), true},
		{"max arguments", posixDoc(exe + args), true},
		{"many prefixed attributes", jobDoc(helloApp + `<ext:e ` + fill(func(i int) string { return fmt.Sprintf(`ext:a%d="" `, i) }) + `/>`), true},
		{"many comments", posixDoc(exe + fill(func(int) string { return "<!---->" })), true},
		{"many tiny text runs", posixDoc(exe + `<jsdl-posix:Argument>` + strings.Repeat("a<!---->", 8000) + `</jsdl-posix:Argument>`), true},
		{"many character references", posixDoc(exe + `<jsdl-posix:Argument>` + strings.Repeat("&#65;", 13000) + `</jsdl-posix:Argument>`), true},
		{"many sibling extension names", jobDoc(helloApp + fill(func(i int) string { return fmt.Sprintf(`<ext:n%d/>`, i%9000) })), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.doc) > budget {
				t.Fatalf("test document is %d bytes, over the default MaxBytes", len(tt.doc))
			}
			start := time.Now()
			_, err := ParseBytes([]byte(tt.doc), DefaultLimits())
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
