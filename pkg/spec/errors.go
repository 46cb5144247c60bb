package spec

import (
	"fmt"
	"strings"
)

// Error is one problem in a spec file, located at a key.
type Error struct {
	File         string
	Line, Column int    // 0 when unknown
	Key          string // dotted path, e.g. regularizers.0.target
	Msg          string
	Allowed      string // what would be accepted, if it can be said
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	if e.Allowed != "" {
		b.WriteString(" (allowed: " + e.Allowed + ")")
	}
	return b.String()
}

// Errors is every problem found in one spec; it is what Load returns on bad input.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func oneOf(values []string) string {
	return strings.Join(values, ", ")
}
