package mapping

import (
	"errors"
	"testing"
	"time"

	"github.com/scimsync/scimsync/mapping/internal/builtin"
)

// fuzzSeeds are the documented vectors plus edge cases; the corpus in testdata/fuzz adds more.
var fuzzSeeds = []string{
	`Append([userPrincipalName], ".test")`,
	`BitAnd(&HF, &HF7)`,
	`CBool([attribute1] = [attribute2])`,
	`DateAdd("ww", 2, CDate([StatusHireDate]))`,
	row25, row30, row39, row44, row45, row61,
	`FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")`,
	`Replace([phone], , "\\+(?<isd>\\d+) \\((?<area>\\d+)\\) (?<num>.*)", , "${isd}-${area}-${num}", , )`,
	`RandomString(10,2,2,2,1,"?,")`,
	`Word("The quick brown fox", 3, " ")`,
	`"unterminated`, `Mid([a], 1 3)`, `[`, `&H`, `-`, `IIF([a]=`, `Replace([x], , "re", , "", , )`,
}

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src, CompileOptions{KnownAttribute: func(n string) bool { return n != "forbidden" }})
		if err != nil {
			var se *SyntaxError
			var ce *CompileError
			if !errors.As(err, &se) && !errors.As(err, &ce) {
				t.Fatalf("Compile(%q) returned an untyped error %T: %v", src, err, err)
			}
			if se != nil && (se.Column < 1 || se.Expected == "") {
				t.Fatalf("Compile(%q): bad SyntaxError %+v", src, se)
			}
			return
		}
		if e.Source() != src {
			t.Fatalf("Source() = %q, want %q", e.Source(), src)
		}
		for _, a := range e.Attributes() {
			if a == "forbidden" {
				t.Fatalf("Compile(%q) accepted an unknown attribute", src)
			}
		}
	})
}

// fuzzAttrs is the fixed object FuzzEval evaluates every expression against: null, empty, strings,
// dates, numbers, booleans and multi-valued attributes.
var fuzzAttrs = AttributeMap{
	"a":                 Str("alpha"),
	"b":                 Str(""),
	"n":                 Str("42"),
	"neg":               Int(-7),
	"t":                 Bool(true),
	"d":                 Str("2021-08-24T10:00:00Z"),
	"date":              Date(time.Date(2021, 8, 25, 17, 41, 18, 0, time.UTC)),
	"m":                 Multi([]string{"x", "", "y", "x"}),
	"e":                 Multi(nil),
	"userPrincipalName": Str("John.Doe@contoso.com"),
	"givenName":         Str("Zoë"),
	"StatusHireDate":    Str("2020-03-16-07:00"),
}

func FuzzEval(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src, CompileOptions{})
		if err != nil {
			return
		}
		env := testEnv(1)
		env.ValueExists = func(v string) (bool, error) { return len(v)%2 == 0, nil }
		r, err := e.Eval(fuzzAttrs, env)
		if errors.Is(err, builtin.ErrInternal) {
			t.Fatalf("Eval(%q) panicked: %v", src, err)
		}
		if err == nil {
			_ = r.Value.String()
		}
	})
}
