package scoping

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/mapping"
)

var (
	null  = mapping.Null()
	str   = mapping.Str
	boolv = mapping.Bool
	intv  = mapping.Int
	empty = mapping.Str("")
)

// evalOne compiles a single one-clause filter and evaluates it on attribute "a".
func evalOne(t *testing.T, op, value string, v mapping.Value) Decision {
	t.Helper()
	s, err := Compile([]Filter{{Title: "t", Clauses: []Clause{{Attribute: "a", Operator: op, Value: value}}}}, Options{})
	if err != nil {
		t.Fatalf("Compile(a %s %q): %v", op, value, err)
	}
	// A null value is tested both as an absent attribute and as an explicit null.
	if v.IsNull() {
		if absent := s.Evaluate(mapping.AttributeMap{}); absent.InScope != s.Evaluate(mapping.AttributeMap{"a": v}).InScope {
			t.Errorf("absent and null attribute disagree: %s", absent.Reason)
		}
	}
	return s.Evaluate(mapping.AttributeMap{"a": v})
}

func TestOperators(t *testing.T) {
	date := mapping.Date(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	tests := []struct {
		op, value string
		v         mapping.Value
		want      bool
	}{
		// EQUALS: ordinal, case-sensitive; null/empty false.
		{"EQUALS", "Sales", str("Sales"), true},
		{"EQUALS", "Sales", str("sales"), false},
		{"EQUALS", "Sales", str("Sales "), false},
		{"EQUALS", "Sales", null, false},
		{"EQUALS", "Sales", empty, false},
		{"EQUALS", "42", intv(42), true},
		{"EQUALS", "042", intv(42), false},
		{"EQUALS", "True", boolv(true), true},
		{"EQUALS", "true", boolv(true), false}, // .NET renders booleans "True"
		{"EQUALS", "a", mapping.Multi([]string{"a"}), false},
		{"EQUALS", "1/2/2024 3:04:05 AM", date, false},

		// NOT EQUALS: false on null/empty too.
		{"NOT EQUALS", "Sales", str("Marketing"), true},
		{"NOT EQUALS", "Sales", str("sales"), true},
		{"NOT EQUALS", "Sales", str("Sales"), false},
		{"NOT EQUALS", "Sales", null, false},
		{"NOT EQUALS", "Sales", empty, false},
		{"NOT EQUALS", "x", mapping.Multi([]string{"a"}), false},
		{"NOT EQUALS", "x", mapping.Multi(nil), false},

		// ENDS_WITH
		{"ENDS_WITH", "@contoso.com", str("ann@contoso.com"), true},
		{"ENDS_WITH", "@contoso.com", str("ann@CONTOSO.com"), false},
		{"ENDS_WITH", "@contoso.com", str("@contoso.com"), true},
		{"ENDS_WITH", "@contoso.com", str("ann@contoso.com.evil"), false},
		{"ENDS_WITH", "x", null, false},
		{"ENDS_WITH", "x", empty, false},
		{"ENDS_WITH", "2", intv(12), true},

		// Includes: attribute contains value, case-sensitive.
		{"Includes", "Sal", str("Inside Sales"), true},
		{"Includes", "sal", str("Inside Sales"), false},
		{"Includes", "x", null, false},
		{"Includes", "x", empty, false},
		{"Includes", "ru", boolv(true), true},

		// & / !&: the clause value contains the attribute's value.
		{"&", "Sales,Marketing", str("Sales"), true},
		{"&", "Sales,Marketing", str("Market"), true},
		{"&", "Sales,Marketing", str("sales"), false},
		{"&", "Sales", str("Inside Sales"), false},
		{"&", "Sales", null, false},
		{"&", "Sales", empty, false},
		{"!&", "Sales,Marketing", str("HR"), true},
		{"!&", "Sales,Marketing", str("Sales"), false},
		{"!&", "Sales,Marketing", str("sales"), true},
		{"!&", "Sales", null, false},
		{"!&", "Sales", empty, false},

		// Greater_Than / Greater_Than_OR_EQUALS: integers only.
		{"Greater_Than", "10", intv(11), true},
		{"Greater_Than", "10", intv(10), false},
		{"Greater_Than", "10", str("11"), true},
		{"Greater_Than", "10", str(" 11 "), true},
		{"Greater_Than", "10", str("9"), false},
		{"Greater_Than", "9", str("10"), true}, // numeric, not lexical
		{"Greater_Than", "-5", intv(-4), true},
		{"Greater_Than", "10", str("11.5"), false},
		{"Greater_Than", "10", str("eleven"), false},
		{"Greater_Than", "0", boolv(true), false},
		{"Greater_Than", "10", null, false},
		{"Greater_Than", "10", empty, false},
		{"Greater_Than", "10", str("99999999999999999999"), false}, // overflows int64
		{"Greater_Than_OR_EQUALS", "10", intv(10), true},
		{"Greater_Than_OR_EQUALS", "10", str("10"), true},
		{"Greater_Than_OR_EQUALS", "10", intv(9), false},
		{"Greater_Than_OR_EQUALS", "10", str("x"), false},
		{"Greater_Than_OR_EQUALS", "10", null, false},

		// IS TRUE / IS FALSE
		{"IS TRUE", "", boolv(true), true},
		{"IS TRUE", "", boolv(false), false},
		{"IS TRUE", "", str("True"), true},
		{"IS TRUE", "", str("TRUE"), true},
		{"IS TRUE", "", str(" true "), true},
		{"IS TRUE", "", str("yes"), false},
		{"IS TRUE", "", str("1"), false},
		{"IS TRUE", "", intv(1), false},
		{"IS TRUE", "", null, false},
		{"IS TRUE", "", empty, false},
		{"IS FALSE", "", boolv(false), true},
		{"IS FALSE", "", boolv(true), false},
		{"IS FALSE", "", str("False"), true},
		{"IS FALSE", "", str("false"), true},
		{"IS FALSE", "", str("no"), false},
		{"IS FALSE", "", intv(0), false},
		{"IS FALSE", "", null, false},
		{"IS FALSE", "", empty, false},

		// IS NULL / IS NOT NULL: null and empty are the same.
		{"IS NULL", "", null, true},
		{"IS NULL", "", empty, true},
		{"IS NULL", "", mapping.Multi(nil), true},
		{"IS NULL", "", str(" "), false},
		{"IS NULL", "", str("x"), false},
		{"IS NULL", "", boolv(false), false},
		{"IS NULL", "", intv(0), false},
		{"IS NULL", "", mapping.Multi([]string{"a"}), false},
		{"IS NOT NULL", "", null, false},
		{"IS NOT NULL", "", empty, false},
		{"IS NOT NULL", "", mapping.Multi(nil), false},
		{"IS NOT NULL", "", str("x"), true},
		{"IS NOT NULL", "", boolv(false), true},
		{"IS NOT NULL", "", intv(0), true},
		{"IS NOT NULL", "", date, true},
		{"IS NOT NULL", "", mapping.Multi([]string{"a"}), true},

		// REGEX MATCH: .NET-style unanchored IsMatch, case-sensitive.
		{"REGEX MATCH", `.*\@contoso.com`, str("ann@contoso.com"), true},
		{"REGEX MATCH", `.*\@contoso.com`, str("ann@CONTOSO.com"), false},
		{"REGEX MATCH", `(?i).*\@contoso.com`, str("ann@CONTOSO.com"), true},
		{"REGEX MATCH", `([1-9][0-9])`, str("x42y"), true}, // unanchored
		{"REGEX MATCH", `^([1-9][0-9])$`, str("x42y"), false},
		{"REGEX MATCH", `(1[0-9]{6})`, str("1234567"), true},
		{"REGEX MATCH", `(1[0-9]{6})`, intv(1234567), true},
		{"REGEX MATCH", `(?<dept>Sal)es`, str("Sales"), true},
		{"REGEX MATCH", `(?'dept'Sal)es`, str("Sales"), true},
		{"REGEX MATCH", `x*`, null, false},
		{"REGEX MATCH", `x*`, empty, false}, // would match "", but empty is false
		{"NOT REGEX MATCH", `.*\@contoso.com`, str("ann@fabrikam.com"), true},
		{"NOT REGEX MATCH", `.*\@contoso.com`, str("ann@contoso.com"), false},
		{"NOT REGEX MATCH", `.*\@contoso.com`, null, false},
		{"NOT REGEX MATCH", `.*\@contoso.com`, empty, false},
		{"NOT REGEX MATCH", `x`, mapping.Multi([]string{"a"}), false},
	}
	for _, tt := range tests {
		name := tt.op + " " + tt.value + " on " + tt.v.Kind().String() + " " + tt.v.String()
		t.Run(name, func(t *testing.T) {
			d := evalOne(t, tt.op, tt.value, tt.v)
			if d.InScope != tt.want {
				t.Fatalf("InScope = %v, want %v (reason: %s)", d.InScope, tt.want, d.Reason)
			}
		})
	}
}

func TestMissingAttributeIsNull(t *testing.T) {
	s := mustCompile(t, Filter{Clauses: []Clause{{Attribute: "dept", Operator: "IS NULL"}}})
	for _, attrs := range []mapping.Attributes{nil, mapping.AttributeMap{}, mapping.AttributeMap{"dept": null}} {
		if d := s.Evaluate(attrs); !d.InScope {
			t.Errorf("Evaluate(%v) out of scope: %s", attrs, d.Reason)
		}
	}
}

func TestOperatorSpellings(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"IS NOT NULL", "IS NOT NULL"},
		{"is_not_null", "IS NOT NULL"},
		{"  Is  Not_Null ", "IS NOT NULL"},
		{"Greater_Than", "Greater_Than"},
		{"GREATER THAN", "Greater_Than"},
		{"greater_than_or_equals", "Greater_Than_OR_EQUALS"},
		{"ends with", "ENDS_WITH"},
		{"includes", "Includes"},
		{"regex_match", "REGEX MATCH"},
		{"not regex match", "NOT REGEX MATCH"},
		{"Not_Equals", "NOT EQUALS"},
		{"&", "&"},
		{" !& ", "!&"},
	} {
		got, ok := CanonicalOperator(tt.in)
		if !ok || got != tt.want {
			t.Errorf("CanonicalOperator(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "LESS_THAN", "NOTEQUALS", "EQUAL", "!", "&&", "Not includes", "IS"} {
		if got, ok := CanonicalOperator(bad); ok {
			t.Errorf("CanonicalOperator(%q) = %q, want unknown", bad, got)
		}
	}
	if n := len(Operators()); n != 14 {
		t.Errorf("len(Operators()) = %d, want 14", n)
	}
	for _, u := range []string{"IS NULL", "is_true", "IS FALSE", "IS NOT NULL"} {
		if !IsUnaryOperator(u) {
			t.Errorf("IsUnaryOperator(%q) = false", u)
		}
	}
	if IsUnaryOperator("EQUALS") || IsUnaryOperator("nope") {
		t.Error("IsUnaryOperator reports a binary or unknown operator as unary")
	}
}

func mustCompile(t testing.TB, filters ...Filter) *Set {
	t.Helper()
	s, err := Compile(filters, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAndWithinOrAcross(t *testing.T) {
	sales := Filter{Title: "Sales only", Clauses: []Clause{
		{Attribute: "department", Operator: "EQUALS", Value: "Sales"},
		{Attribute: "country", Operator: "EQUALS", Value: "FR"},
	}}
	eng := Filter{Title: "Engineers", Clauses: []Clause{
		{Attribute: "jobTitle", Operator: "Includes", Value: "Engineer"},
	}}
	s := mustCompile(t, sales, eng)
	tests := []struct {
		name   string
		attrs  mapping.AttributeMap
		in     bool
		filter int
		clause int
		reason string
	}{
		{"both clauses of first", mapping.AttributeMap{"department": str("Sales"), "country": str("FR")},
			true, 0, -1, `passed filter "Sales only"`},
		{"second filter", mapping.AttributeMap{"department": str("Sales"), "country": str("DE"), "jobTitle": str("Software Engineer")},
			true, 1, -1, `passed filter "Engineers"`},
		{"first passes even if second would", mapping.AttributeMap{"department": str("Sales"), "country": str("FR"), "jobTitle": str("Engineer")},
			true, 0, -1, `passed filter "Sales only"`},
		{"AND fails on second clause", mapping.AttributeMap{"department": str("Sales"), "country": str("DE")},
			false, 0, 1, `no scoping filter passed: filter "Sales only" clause 2: country EQUALS "FR" is false (value "DE"); filter "Engineers" clause 1: jobTitle Includes "Engineer" is false (value is null)`},
		{"nothing", nil, false, 0, 0,
			`no scoping filter passed: filter "Sales only" clause 1: department EQUALS "Sales" is false (value is null); filter "Engineers" clause 1: jobTitle Includes "Engineer" is false (value is null)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attrs mapping.Attributes
			if tt.attrs != nil {
				attrs = tt.attrs
			}
			d := s.Evaluate(attrs)
			want := Decision{InScope: tt.in, Filter: tt.filter, Clause: tt.clause, Reason: tt.reason}
			if d != want {
				t.Errorf("Evaluate =\n %#v\nwant\n %#v", d, want)
			}
		})
	}
}

func TestDecisionReasons(t *testing.T) {
	tests := []struct {
		clause Clause
		attrs  mapping.AttributeMap
		reason string
	}{
		{Clause{"department", "EQUALS", "Sales"}, mapping.AttributeMap{"department": str("Marketing")},
			`filter "Sales only" clause 1: department EQUALS "Sales" is false (value "Marketing")`},
		{Clause{"department", "equals", "Sales"}, mapping.AttributeMap{"department": empty},
			`filter "Sales only" clause 1: department EQUALS "Sales" is false (value is empty)`},
		{Clause{"employeeId", "greater_than", "100"}, mapping.AttributeMap{"employeeId": str("A7")},
			`filter "Sales only" clause 1: employeeId Greater_Than "100" is false (value "A7" is not an integer)`},
		{Clause{"employeeId", "Greater_Than", "100"}, mapping.AttributeMap{"employeeId": intv(7)},
			`filter "Sales only" clause 1: employeeId Greater_Than "100" is false (value "7")`},
		{Clause{"flag", "is_true", ""}, mapping.AttributeMap{"flag": str("yes")},
			`filter "Sales only" clause 1: flag IS TRUE is false (value "yes" is not a boolean)`},
		{Clause{"flag", "IS TRUE", ""}, mapping.AttributeMap{"flag": boolv(false)},
			`filter "Sales only" clause 1: flag IS TRUE is false (value "False")`},
		{Clause{"department", "IS NULL", ""}, mapping.AttributeMap{"department": str("Sales")},
			`filter "Sales only" clause 1: department IS NULL is false (value "Sales")`},
		{Clause{"department", "IS NOT NULL", ""}, nil,
			`filter "Sales only" clause 1: department IS NOT NULL is false (value is null)`},
		{Clause{"proxyAddresses", "EQUALS", "x"}, mapping.AttributeMap{"proxyAddresses": mapping.Multi([]string{"x"})},
			`filter "Sales only" clause 1: proxyAddresses EQUALS "x" is false (value is multi-valued; scoping filters do not support multi-valued attributes)`},
		{Clause{"hired", "EQUALS", "x"}, mapping.AttributeMap{"hired": mapping.Date(time.Unix(0, 0))},
			`filter "Sales only" clause 1: hired EQUALS "x" is false (value is a date; scoping filters do not support dates)`},
		{Clause{"upn", "REGEX MATCH", `.*\@contoso.com`}, mapping.AttributeMap{"upn": str("a\"b@x")},
			`filter "Sales only" clause 1: upn REGEX MATCH ".*\\@contoso.com" is false (value "a\"b@x")`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			s := mustCompile(t, Filter{Title: "Sales only", Clauses: []Clause{tt.clause}})
			d := s.Evaluate(tt.attrs)
			if d.InScope || d.Filter != 0 || d.Clause != 0 || d.Reason != tt.reason {
				t.Errorf("Evaluate = %#v\nwant reason %s", d, tt.reason)
			}
		})
	}
}

func TestUntitledFilterAndEmptySet(t *testing.T) {
	s := mustCompile(t, Filter{Clauses: []Clause{{"a", "IS NOT NULL", ""}}}, Filter{Clauses: []Clause{{"b", "IS NOT NULL", ""}}})
	if d := s.Evaluate(mapping.AttributeMap{"b": str("x")}); !d.InScope || d.Filter != 1 || d.Reason != "passed filter 2" {
		t.Errorf("got %#v", d)
	}
	for _, e := range []*Set{nil, mustCompile(t)} {
		d := e.Evaluate(nil)
		want := Decision{InScope: true, Filter: -1, Clause: -1, Reason: ReasonNoFilters}
		if d != want {
			t.Errorf("empty set: got %#v, want %#v", d, want)
		}
		if e.Len() != 0 || len(e.Filters()) != 0 {
			t.Error("empty set has filters")
		}
	}
}

func TestFiltersCanonical(t *testing.T) {
	in := []Filter{{Title: "x", Clauses: []Clause{{" department ", "not_equals", "Sales"}, {"a", "is null", " "}}}}
	s, err := Compile(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Filters()
	want := []Filter{{Title: "x", Clauses: []Clause{{"department", "NOT EQUALS", "Sales"}, {"a", "IS NULL", ""}}}}
	if len(got) != 1 || len(got[0].Clauses) != 2 || got[0].Clauses[0] != want[0].Clauses[0] || got[0].Clauses[1] != want[0].Clauses[1] {
		t.Errorf("Filters() = %#v, want %#v", got, want)
	}
	got[0].Clauses[0].Value = "changed"
	if s.Filters()[0].Clauses[0].Value != "Sales" {
		t.Error("Filters() shares memory with the Set")
	}
	if s.Len() != 1 {
		t.Errorf("Len() = %d", s.Len())
	}
}

func TestConcurrentEvaluate(t *testing.T) {
	s := mustCompile(t, tenClauseFilter())
	user := typicalUser()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if d := s.Evaluate(user); !d.InScope {
					t.Errorf("out of scope: %s", d.Reason)
					return
				}
				if d := s.Evaluate(mapping.AttributeMap{}); d.InScope || !strings.Contains(d.Reason, "clause 1") {
					t.Errorf("unexpected %#v", d)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestInScopeDoesNotAllocate(t *testing.T) {
	s := mustCompile(t, tenClauseFilter())
	user := typicalUser()
	if n := testing.AllocsPerRun(100, func() { s.Evaluate(user) }); n != 0 {
		t.Errorf("Evaluate allocates %v times for an object in scope", n)
	}
}
