package builtin

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/scimsync/scimsync/mapping/internal/syntax"
	"github.com/scimsync/scimsync/mapping/internal/value"
)

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
	Value value.Value
	// Flow is false when IgnoreFlowIfNullOrEmpty saw a null or empty value: the target attribute must
	// then be left out of the request entirely (not sent as null).
	Flow bool
	// Redacted is true when Redact() wrapped the value: it still flows, but logs must show "[Redact]".
	Redacted bool
}

// Eval evaluates a parsed expression for one object; src is its text, for error columns. A panic of a
// function becomes an error wrapping ErrInternal, so one bad object never stops the cycle.
func Eval(root *syntax.Node, src string, attrs value.Attributes, env *Env) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res = Result{}
			err = fmt.Errorf("evaluating %q: %w: %v", src, ErrInternal, r)
		}
	}()
	if attrs == nil {
		attrs = value.AttributeMap(nil)
	}
	st := evalState{attrs: attrs, env: env, src: src}
	v, err := st.eval(root)
	if err != nil {
		return Result{}, err
	}
	return Result{Value: v, Flow: !st.noFlow, Redacted: st.redacted}, nil
}

// evalState is the per-evaluation scratch space; Expr itself is never written during Eval.
type evalState struct {
	attrs    value.Attributes
	env      *Env
	src      string
	noFlow   bool
	redacted bool
}

func (st *evalState) eval(n *syntax.Node) (value.Value, error) {
	switch n.Kind {
	case syntax.Const:
		return n.Val, nil
	case syntax.Attr:
		v, _ := st.attrs.Lookup(n.Name)
		return v, nil
	case syntax.Omitted:
		return value.Null(), nil
	case syntax.Cmp:
		l, err := st.eval(n.Args[0])
		if err != nil {
			return value.Value{}, err
		}
		r, err := st.eval(n.Args[1])
		if err != nil {
			return value.Value{}, err
		}
		return value.Bool(compare(n.Op, l, r)), nil
	case syntax.Call:
		return n.Fn.Impl.(evalFunc)(st, n)
	}
	return value.Value{}, fmt.Errorf("unknown node kind %d", n.Kind)
}

// arg evaluates argument i of a call; a missing or omitted argument is null.
func (st *evalState) arg(n *syntax.Node, i int) (value.Value, error) {
	if i >= len(n.Args) {
		return value.Null(), nil
	}
	return st.eval(n.Args[i])
}

// fail builds the error for a function that cannot compute a value for this object.
func (st *evalState) fail(n *syntax.Node, format string, a ...any) error {
	return &EvalError{Function: n.Fn.Name, Column: syntax.Column(st.src, n.Pos), Err: fmt.Errorf(format, a...)}
}

// wrap attaches the failing function to an error from a helper.
func (st *evalState) wrap(n *syntax.Node, err error) error {
	return &EvalError{Function: n.Fn.Name, Column: syntax.Column(st.src, n.Pos), Err: err}
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

// ErrInternal marks a recovered panic, so that fuzz tests can tell a bug from an ordinary failure.
var ErrInternal = errors.New("internal error")
