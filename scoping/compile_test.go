package scoping

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/mapping"
)

func TestCompileErrors(t *testing.T) {
	errUnsupported := errors.New("multi-valued attributes are not supported in scoping")
	validate := func(attr string) error {
		switch attr {
		case "proxyAddresses":
			return errUnsupported
		case "nope":
			return fmt.Errorf("unknown attribute %q", attr)
		}
		return nil
	}
	tests := []struct {
		name    string
		filter  Filter
		kind    error
		clause  int
		message string
	}{
		{"unknown operator", Filter{Title: "F", Clauses: []Clause{{"a", "EQUALS", "x"}, {"a", "LESS_THAN", "3"}}},
			ErrUnknownOperator, 1, `scoping filter 1 "F", clause 2 (a LESS_THAN): unknown operator "LESS_THAN" (known: &, !&, ENDS_WITH, EQUALS, Greater_Than, Greater_Than_OR_EQUALS, Includes, IS FALSE, IS NOT NULL, IS NULL, IS TRUE, NOT EQUALS, NOT REGEX MATCH, REGEX MATCH)`},
		{"empty operator", Filter{Clauses: []Clause{{"a", "", "3"}}}, ErrUnknownOperator, 0, ""},
		{"unary with value", Filter{Title: "F", Clauses: []Clause{{"a", "is_null", "x"}}},
			ErrUnexpectedValue, 0, `scoping filter 1 "F", clause 1 (a is_null): operator IS NULL takes no value, got "x"`},
		{"IS TRUE with value", Filter{Clauses: []Clause{{"a", "IS TRUE", "true"}}}, ErrUnexpectedValue, 0, ""},
		{"binary without value", Filter{Title: "F", Clauses: []Clause{{"a", "EQUALS", ""}}},
			ErrMissingValue, 0, `scoping filter 1 "F", clause 1 (a EQUALS): operator EQUALS needs a value`},
		{"& without value", Filter{Clauses: []Clause{{"a", "&", ""}}}, ErrMissingValue, 0, ""},
		{"regex without value", Filter{Clauses: []Clause{{"a", "REGEX MATCH", ""}}}, ErrMissingValue, 0, ""},
		{"non-integer Greater_Than", Filter{Title: "F", Clauses: []Clause{{"a", "Greater_Than", "1.5"}}},
			ErrNotInteger, 0, `scoping filter 1 "F", clause 1 (a Greater_Than): operator Greater_Than compares integers only, got "1.5"`},
		{"non-integer Greater_Than_OR_EQUALS", Filter{Clauses: []Clause{{"a", "Greater_Than_OR_EQUALS", "ten"}}}, ErrNotInteger, 0, ""},
		{"bad regex", Filter{Title: "F", Clauses: []Clause{{"a", "REGEX MATCH", "(abc"}}}, ErrBadRegex, 0, ""},
		{"lookahead", Filter{Clauses: []Clause{{"a", "NOT REGEX MATCH", "foo(?=bar)"}}}, ErrBadRegex, 0, ""},
		{"lookbehind", Filter{Clauses: []Clause{{"a", "REGEX MATCH", "(?<=a)b"}}}, ErrBadRegex, 0, ""},
		{"backreference", Filter{Clauses: []Clause{{"a", "REGEX MATCH", `(a)\1`}}}, ErrBadRegex, 0, ""},
		{"empty attribute", Filter{Clauses: []Clause{{" ", "IS NULL", ""}}}, ErrAttribute, 0, ""},
		{"unsupported attribute", Filter{Title: "F", Clauses: []Clause{{"proxyAddresses", "EQUALS", "x"}}},
			ErrAttribute, 0, `scoping filter 1 "F", clause 1 (proxyAddresses EQUALS): attribute "proxyAddresses" cannot be used: multi-valued attributes are not supported in scoping`},
		{"unknown attribute", Filter{Clauses: []Clause{{"nope", "EQUALS", "x"}}}, ErrAttribute, 0, ""},
		{"no clauses", Filter{Title: "F"}, ErrEmptyFilter, -1, `scoping filter 1 "F": the filter has no clauses`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := Filter{Title: "ok", Clauses: []Clause{{"a", "IS NOT NULL", ""}}}
			s, err := Compile([]Filter{ok, tt.filter}, Options{Validate: validate})
			if err == nil {
				t.Fatalf("Compile succeeded: %#v", s)
			}
			if s != nil {
				t.Error("Compile returned a Set with an error")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.Filter != 1 || e.Clause != tt.clause || e.Title != tt.filter.Title {
				t.Errorf("location = filter %d %q clause %d, want filter 1 %q clause %d", e.Filter, e.Title, e.Clause, tt.filter.Title, tt.clause)
			}
			wantMsg := strings.ReplaceAll(tt.message, "scoping filter 1 ", "scoping filter 2 ")
			if tt.message != "" && err.Error() != wantMsg {
				t.Errorf("message\n %s\nwant\n %s", err.Error(), wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "scoping filter 2") {
				t.Errorf("message %q does not name filter 2", err.Error())
			}
		})
	}
}

func TestCompileErrorCauses(t *testing.T) {
	cause := errors.New("manager is not supported in scoping")
	_, err := Compile([]Filter{{Clauses: []Clause{{"manager", "IS NOT NULL", ""}}}}, Options{Validate: func(string) error { return cause }})
	if !errors.Is(err, cause) || !errors.Is(err, ErrAttribute) {
		t.Errorf("error %v should wrap both the validator's error and ErrAttribute", err)
	}
	_, err = Compile([]Filter{{Title: "R", Clauses: []Clause{{"a", "REGEX MATCH", "[z-a]"}}}}, Options{})
	var e *Error
	if !errors.As(err, &e) || e.Err == nil || !strings.Contains(err.Error(), `regular expression "[z-a]" does not compile`) {
		t.Errorf("bad regex error = %v", err)
	}
}

func TestCompileReportsEveryError(t *testing.T) {
	_, err := Compile([]Filter{
		{Title: "A", Clauses: []Clause{{"a", "BOGUS", "x"}, {"b", "EQUALS", ""}}},
		{Title: "B"},
	}, Options{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`scoping filter 1 "A", clause 1`, `scoping filter 1 "A", clause 2`, `scoping filter 2 "B": the filter has no clauses`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for _, k := range []error{ErrUnknownOperator, ErrMissingValue, ErrEmptyFilter} {
		if !errors.Is(err, k) {
			t.Errorf("joined error is not %v", k)
		}
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, c := range []Clause{
		{"a", "IS NULL", " "},                      // a blank value is no value
		{"a", "EQUALS", " "},                       // a blank value is a value for binary operators
		{"a", "Greater_Than", " 12 "},              // integer with blanks
		{"a", "Greater_Than", "-3"},                // negative integers are accepted
		{"a", "REGEX MATCH", `(?<year>\d{4})`},     // .NET named group
		{"a", "REGEX MATCH", `(?'year'\d{4})`},     // .NET quote-named group
		{"a", "REGEX MATCH", `[(?<]x`},             // "(?<" inside a class is literal
		{"a", "REGEX MATCH", `\(?<x`},              // escaped parenthesis
		{"a", "NOT REGEX MATCH", `.*\@domain.com`}, // documented example
	} {
		if _, err := Compile([]Filter{{Clauses: []Clause{c}}}, Options{}); err != nil {
			t.Errorf("Compile(%v): %v", c, err)
		}
	}
}

func TestTranslateRegex(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`abc`, `abc`},
		{`(?<n>a)`, `(?P<n>a)`},
		{`(?'n'a)`, `(?P<n>a)`},
		{`(?<=a)b`, `(?<=a)b`},
		{`(?<!a)b`, `(?<!a)b`},
		{`\(?<n>a`, `\(?<n>a`},
		{`[(?<n>]`, `[(?<n>]`},
		{`[]](?<n>a)`, `[]](?P<n>a)`},
		{`[^]](?<n>a)`, `[^]](?P<n>a)`},
		{`(?'unterminated`, `(?'unterminated`},
		{`(?<`, `(?<`},
		{`x\`, `x\`},
	} {
		if got := mapping.TranslateDotNetRegex(tt.in); got != tt.want {
			t.Errorf("mapping.TranslateDotNetRegex(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTrimDotStars(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`.*\@contoso\.com`, `@contoso\.com`},
		{`.*@contoso\.com$`, `(?-m:@contoso\.com$)`},
		{`^a.*`, `\Aa`},
		{`.*?a.*.*`, `a`},
		{`.*`, `.*`},
		{`(?s).*a`, `a`},
		{`.*a|b`, `.*a|b`}, // not top-level concatenation
		{`(.*)a`, `(.*)a`}, // a capture is kept as written
		{`.+a`, `.+a`},
		{`a`, `a`},
	} {
		if got := trimDotStars(tt.in); got != tt.want {
			t.Errorf("trimDotStars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTrimDotStarsSameMatches(t *testing.T) {
	patterns := []string{`.*\@contoso\.com`, `.*@c.*`, `^.*x$`, `(?m).*^b`, `(?s).*a.*`, `.*?a?`, `.*(?i)ab.*`, `.*\n`, `.*$`, `\A.*z`}
	inputs := []string{"", "a", "ab", "AB", "x", "b\nx", "a\nb", "\n", "ann@contoso.com", "ann@contoso.com\n", "zz", "@c\n"}
	for _, p := range patterns {
		trimmed, err := compileRegex(p)
		if err != nil {
			t.Fatal(err)
		}
		plain := regexp.MustCompile(p)
		for _, in := range inputs {
			if trimmed.MatchString(in) != plain.MatchString(in) {
				t.Errorf("pattern %q (trimmed %q) on %q: %v vs %v", p, trimmed, in, trimmed.MatchString(in), plain.MatchString(in))
			}
		}
	}
}

func TestSetAttributes(t *testing.T) {
	s, err := Compile([]Filter{
		{Clauses: []Clause{{Attribute: "department", Operator: "EQUALS", Value: "Sales"}, {Attribute: "country", Operator: "IS NOT NULL"}}},
		{Clauses: []Clause{{Attribute: "department", Operator: "ENDS_WITH", Value: "ing"}}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Attributes()
	if len(got) != 2 || got[0] != "department" || got[1] != "country" {
		t.Fatalf("Attributes() = %v", got)
	}
	var none *Set
	if none.Attributes() != nil {
		t.Fatal("nil set has attributes")
	}
}
