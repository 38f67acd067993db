package mapping

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
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

// Env supplies what a few functions need from outside the expression: a clock (Now, DateDiff against
// Now), randomness (Guid, RandomString) and the target (SelectUniqueValue). Injecting them keeps
// evaluation deterministic in tests and keeps this package free of any SCIM knowledge.
type Env struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand is the source of randomness; nil means crypto/rand.
	Rand io.Reader
	// ValueExists reports whether a candidate value is already taken in the target; nil makes
	// SelectUniqueValue fail with ErrNeedsTarget.
	ValueExists func(value string) (bool, error)
}

func (e *Env) now() time.Time {
	if e != nil && e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Env) rand() io.Reader {
	if e != nil && e.Rand != nil {
		return e.Rand
	}
	return rand.Reader
}

// Result is an evaluated expression together with the two side effects the service gives some
// functions: dropping the attribute from the flow and hiding its value in logs.
type Result struct {
	// Value is the computed value.
	Value Value
	// Flow is false when IgnoreFlowIfNullOrEmpty saw a null or empty value: the target attribute must
	// then be left out of the request entirely (not sent as null).
	Flow bool
	// Redacted is true when Redact() wrapped the value: it still flows, but logs must show "[Redact]".
	Redacted bool
}

// Expr is a compiled expression. It is immutable after Compile, so one Expr is evaluated concurrently
// for many users by the engine's workers.
type Expr struct {
	src   string
	root  *node
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
	p := &parser{src: src, opts: opts}
	root, err := p.parseExpression()
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, root: root, attrs: p.attrs}, nil
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
func (e *Expr) Eval(attrs Attributes, env *Env) (res Result, err error) {
	if e == nil || e.root == nil {
		return Result{}, errors.New("evaluating an expression that was not compiled")
	}
	defer func() {
		if r := recover(); r != nil {
			res = Result{}
			err = fmt.Errorf("evaluating %q: %w: %v", e.src, errInternal, r)
		}
	}()
	if attrs == nil {
		attrs = AttributeMap(nil)
	}
	st := evalState{attrs: attrs, env: env, src: e.src}
	v, err := st.eval(e.root)
	if err != nil {
		return Result{}, err
	}
	return Result{Value: v, Flow: !st.noFlow, Redacted: st.redacted}, nil
}

// evalState is the per-evaluation scratch space; Expr itself is never written during Eval.
type evalState struct {
	attrs    Attributes
	env      *Env
	src      string
	noFlow   bool
	redacted bool
}

func (st *evalState) eval(n *node) (Value, error) {
	switch n.kind {
	case nConst:
		return n.val, nil
	case nAttr:
		v, _ := st.attrs.Lookup(n.name)
		return v, nil
	case nOmitted:
		return Null(), nil
	case nCmp:
		l, err := st.eval(n.args[0])
		if err != nil {
			return Value{}, err
		}
		r, err := st.eval(n.args[1])
		if err != nil {
			return Value{}, err
		}
		return Bool(compare(n.op, l, r)), nil
	case nCall:
		return n.fn.eval(st, n)
	}
	return Value{}, fmt.Errorf("unknown node kind %d", n.kind)
}

// arg evaluates argument i of a call; a missing or omitted argument is null.
func (st *evalState) arg(n *node, i int) (Value, error) {
	if i >= len(n.args) {
		return Null(), nil
	}
	return st.eval(n.args[i])
}

// fail builds the error for a function that cannot compute a value for this object.
func (st *evalState) fail(n *node, format string, a ...any) error {
	return &EvalError{Function: n.fn.name, Column: column(st.src, n.pos), Err: fmt.Errorf(format, a...)}
}

// wrap attaches the failing function to an error from a helper.
func (st *evalState) wrap(n *node, err error) error {
	return &EvalError{Function: n.fn.name, Column: column(st.src, n.pos), Err: err}
}

// column turns a byte offset into the 1-based character column admins see.
func column(src string, pos int) int {
	if pos > len(src) {
		pos = len(src)
	}
	return utf8.RuneCountInString(src[:pos]) + 1
}
