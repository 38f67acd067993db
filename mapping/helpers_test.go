package mapping

import (
	"math/rand/v2"
	"testing"
	"time"
)

// fixedNow is the clock of every test Env: the documented Now() example, 7/2/2021 3:33:38 PM UTC.
var fixedNow = time.Date(2021, 7, 2, 15, 33, 38, 0, time.UTC)

// testEnv is deterministic: a fixed clock and a seeded random stream.
func testEnv(seed uint64) *Env {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	return &Env{Now: func() time.Time { return fixedNow }, Rand: rand.NewChaCha8(key)}
}

func mustCompile(t testing.TB, src string) *Expr {
	t.Helper()
	e, err := Compile(src, CompileOptions{})
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return e
}

func mustEval(t testing.TB, src string, attrs AttributeMap, env *Env) Result {
	t.Helper()
	r, err := mustCompile(t, src).Eval(attrs, env)
	if err != nil {
		t.Fatalf("Eval(%q): %v", src, err)
	}
	return r
}

// evalCase is one table row: an expression, its input, and the expected value (compared with
// Value.Equal) or string rendering.
type evalCase struct {
	name  string
	expr  string
	attrs AttributeMap
	want  Value
	// wantStr, when set, compares Value.String() instead of the value itself.
	wantStr *string
	// noFlow expects IgnoreFlowIfNullOrEmpty to drop the attribute.
	noFlow bool
}

func strp(s string) *string { return &s }

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustEval(t, tc.expr, tc.attrs, testEnv(1))
			if tc.wantStr != nil {
				if got := r.Value.String(); got != *tc.wantStr {
					t.Errorf("%s\n got %q (%s)\nwant %q", tc.expr, got, r.Value.Kind(), *tc.wantStr)
				}
			} else if !r.Value.Equal(tc.want) {
				t.Errorf("%s\n got %#v (%s %q)\nwant %#v (%s %q)", tc.expr, r.Value, r.Value.Kind(), r.Value.String(), tc.want, tc.want.Kind(), tc.want.String())
			}
			if r.Flow == tc.noFlow {
				t.Errorf("%s: Flow = %v, want %v", tc.expr, r.Flow, !tc.noFlow)
			}
		})
	}
}
