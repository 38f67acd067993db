package mapping

import (
	"time"

	"github.com/scimsync/scimsync/mapping/internal/builtin"
	"github.com/scimsync/scimsync/mapping/internal/syntax"
	"github.com/scimsync/scimsync/mapping/internal/text"
	"github.com/scimsync/scimsync/mapping/internal/value"
)

// The value model, the errors and the evaluation environment live in internal packages shared by the
// parser (internal/syntax) and the function library (internal/builtin); these names are the public
// face of them, so that callers import one package.

// Value is one attribute value as it flows from the directory through expressions to the target: a
// string, boolean, integer, date, multi-valued string, or null (which is not the empty string).
type Value = value.Value

// Kind tells which shape a Value has.
type Kind = value.Kind

// The shapes a Value can take.
const (
	KindNull   = value.KindNull
	KindString = value.KindString
	KindBool   = value.KindBool
	KindInt    = value.KindInt
	KindDate   = value.KindDate
	KindMulti  = value.KindMulti
)

// DateLayout is the service's rendering of dates, .NET's invariant "M/d/yyyy h:mm:ss tt", in UTC.
const DateLayout = value.DateLayout

// Attributes gives the values of one source object's attributes by their Entra names.
type Attributes = value.Attributes

// AttributeMap is the plain map form of Attributes, used by tests, the eval command and the directory.
type AttributeMap = value.AttributeMap

// Null is the absent value: an attribute the source does not have.
func Null() Value { return value.Null() }

// Str makes a single string value. The empty string is a value, not null.
func Str(s string) Value { return value.Str(s) }

// Bool makes a boolean value.
func Bool(b bool) Value { return value.Bool(b) }

// Int makes an integer value.
func Int(i int64) Value { return value.Int(i) }

// Date makes a date value (kept in UTC).
func Date(t time.Time) Value { return value.Date(t) }

// Multi makes a multi-valued value.
func Multi(items []string) Value { return value.Multi(items) }

// Env supplies what a few functions need from outside the expression: a clock, randomness and the
// target (for SelectUniqueValue).
type Env = builtin.Env

// Result is an evaluated expression with its side effects (left out of the flow, redacted in logs).
type Result = builtin.Result

// SyntaxError reports an expression the parser cannot read, at a column.
type SyntaxError = syntax.SyntaxError

// CompileError reports an expression that parses but cannot run; its Kind says why.
type CompileError = syntax.CompileError

// CompileErrorKind classifies a CompileError.
type CompileErrorKind = syntax.CompileErrorKind

// The reasons a well-formed expression is still rejected at load.
const (
	UnknownFunction   = syntax.UnknownFunction
	WrongArity        = syntax.WrongArity
	UnknownAttribute  = syntax.UnknownAttribute
	UnknownIdentifier = syntax.UnknownIdentifier
	InvalidArgument   = syntax.InvalidArgument
	TooLong           = syntax.TooLong
)

// EvalError reports an expression that failed for one object; it fails that object only.
type EvalError = builtin.EvalError

// Errors of SelectUniqueValue, for errors.Is.
var (
	ErrNeedsTarget    = builtin.ErrNeedsTarget
	ErrAllValuesExist = builtin.ErrAllValuesExist
)

// FunctionNames lists the library's functions, for config validation messages and documentation.
func FunctionNames() []string { return builtin.FunctionNames() }

// TranslateDotNetRegex rewrites .NET's named groups to Go's, for the scoping filters' REGEX MATCH,
// which Entra writes in the .NET flavour like the mappings.
func TranslateDotNetRegex(p string) string { return text.TranslateDotNetRegex(p) }
