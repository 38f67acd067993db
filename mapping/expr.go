package mapping

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/scimsync/scimsync/mapping/internal/builtin"
	"github.com/scimsync/scimsync/mapping/internal/syntax"
)

// MaxExpressionLength is the service's limit on one expression (known-issues.md); longer expressions
// are rejected at load rather than truncated.
const MaxExpressionLength = 10000

// CompileOptions tells Compile which attribute references are valid, so that a typo in a [name] is
// caught when the config loads instead of silently yielding null for every user.
type CompileOptions struct {
	// KnownAttribute reports whether [name] names a valid source attribute; nil accepts any name.
	KnownAttribute func(name string) bool
}

// Expr is a compiled expression. It is immutable after Compile, so one Expr is evaluated concurrently
// for many users by the engine's workers.
type Expr struct {
	src   string
	root  *syntax.Node
	attrs []string
}

// Compile parses and checks an expression once, at config load, so that syntax errors, unknown
// functions, wrong argument counts, unknown attributes and bad constant arguments (regular
// expressions, date formats, intervals, cultures) fail before any cycle runs.
func Compile(src string, opts CompileOptions) (*Expr, error) {
	if n := utf8.RuneCountInString(src); n > MaxExpressionLength {
		return nil, &CompileError{Kind: TooLong, Column: MaxExpressionLength + 1,
			Msg: fmt.Sprintf("expression is %d characters long, the limit is %d", n, MaxExpressionLength)}
	}
	root, attrs, err := syntax.Parse(src, opts.KnownAttribute, builtin.Functions)
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, root: root, attrs: attrs}, nil
}

// Source returns the expression text, for logs and for detecting a changed mapping between runs.
func (e *Expr) Source() string { return e.src }

// Attributes lists the attributes the expression references (deduplicated, in order of first use) so
// that the directory reader can $select exactly what the mappings need.
func (e *Expr) Attributes() []string {
	out := make([]string, len(e.attrs))
	copy(out, e.attrs)
	return out
}

// Eval evaluates the expression for one object. env may be nil. A failure for this object is returned
// as an error (an *EvalError naming the function and the bad value); Eval never panics.
func (e *Expr) Eval(attrs Attributes, env *Env) (Result, error) {
	if e == nil || e.root == nil {
		return Result{}, errors.New("evaluating an expression that was not compiled")
	}
	return builtin.Eval(e.root, e.src, attrs, env)
}
