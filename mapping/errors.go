package mapping

import (
	"errors"
	"fmt"
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

// EvalError reports an expression that failed for one object (a date that does not parse, a number that
// is not a number). It fails that object only; the engine escrows it and carries on with the others.
type EvalError struct {
	// Function is the function that failed.
	Function string
	// Column is the 1-based position of the function name in the expression.
	Column int
	// Err is the cause.
	Err error
}

// Error names the function and its column, followed by the cause, which quotes the bad value.
func (e *EvalError) Error() string {
	return fmt.Sprintf("%s (column %d): %v", e.Function, e.Column, e.Err)
}

// Unwrap exposes the cause so callers can test for ErrNeedsTarget and ErrAllValuesExist.
func (e *EvalError) Unwrap() error { return e.Err }

// ErrNeedsTarget is returned by SelectUniqueValue when Env.ValueExists is missing: it can only work
// while the engine can ask the target which values are taken.
var ErrNeedsTarget = errors.New("SelectUniqueValue needs the target (Env.ValueExists)")

// ErrAllValuesExist is returned by SelectUniqueValue when every candidate is already taken in the target;
// the service escrows such objects, so the engine should treat it as a retryable failure of the object.
var ErrAllValuesExist = errors.New("every candidate value already exists in the target")

// errInternal marks a recovered panic, so that fuzz tests can tell a bug from an ordinary failure.
var errInternal = errors.New("internal error")
