package raw

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a configuration file. It carries the position and the dotted key separately
// from the message so that an editor integration or a test can point at the offending line without
// parsing text, and so that `scimsync validate` output reads like a compiler's.
type Error struct {
	// File is the path as given to Load or Parse.
	File string
	// Line and Column are 1-based; 0 when the problem has no position (an empty file).
	Line, Column int
	// Key is the dotted path of the offending key, e.g. users.mappings[2].expression (indexes are
	// 0-based); empty for problems with the document as a whole.
	Key string
	// Msg says what is wrong, never including a secret value.
	Msg string
}

// Error renders the error as `gong.yaml:12:7: users.mappings[2].expression: message`, the form that
// editors and terminals turn into a link to the line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	if e.File != "" || e.Line > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file. Loading reports them all at once because an administrator
// editing a config should fix it in one pass, not one error per restart.
type Errors []*Error

// Error renders one error per line, in file order.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find an individual *Error in the list.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sorted orders errors by position, keeping discovery order for ties, so output follows the file.
func (es Errors) Sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
	return es
}
