package syntax

import (
	"fmt"
	"unicode/utf8"
)

// SyntaxError reports an expression the parser cannot read. It is typed so that config validation can
// point at the exact column of the offending expression in the YAML file instead of printing a string.
type SyntaxError struct {
	// Column is the 1-based position (in characters) where the parser stopped.
	Column int
	// Expected says what the parser wanted to see there, e.g. "',' or ')'".
	Expected string
	// Found is the text found at Column ("end of expression" at the end); informational only.
	Found string
}

// Error renders the message the way an admin reads it next to the expression.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("expected %s at column %d", e.Expected, e.Column)
}

// CompileErrorKind classifies a CompileError so that callers can react without matching message text.
type CompileErrorKind uint8

// The reasons a well-formed expression is still rejected at load.
const (
	// UnknownFunction: the name is not in the function library (names are case-sensitive).
	UnknownFunction CompileErrorKind = iota + 1
	// WrongArity: the function was given too few or too many arguments.
	WrongArity
	// UnknownAttribute: CompileOptions.KnownAttribute rejected a [name].
	UnknownAttribute
	// UnknownIdentifier: a bare word that is neither a function call nor vbBinaryCompare/vbTextCompare.
	UnknownIdentifier
	// InvalidArgument: a constant argument is unusable (bad regex, unknown interval, bad culture, ...)
	// or the argument combination makes no sense (Replace modes, Switch pairs).
	InvalidArgument
	// TooLong: the expression exceeds the service's 10,000-character limit.
	TooLong
)

// CompileError reports an expression that parses but cannot run: it is raised at config load so that a
// bad mapping fails before any cycle touches the target.
type CompileError struct {
	Kind CompileErrorKind
	// Column is the 1-based position (in characters) of the offending function name or attribute.
	Column int
	// Function names the function involved, if any.
	Function string
	// Attribute names the attribute involved, if any.
	Attribute string
	// Msg is the human explanation.
	Msg string
}

// Error renders the message with the column so the admin can find the spot in a long expression.
func (e *CompileError) Error() string {
	return fmt.Sprintf("%s at column %d", e.Msg, e.Column)
}

// Column turns a byte offset into the 1-based character column admins see.
func Column(src string, pos int) int {
	if pos > len(src) {
		pos = len(src)
	}
	return utf8.RuneCountInString(src[:pos]) + 1
}
