package scoping

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/mapping"
)

// parseFuzzSpec reads filters from lines "attribute|operator|value"; a blank line starts a new filter,
// an operator "#n" picks the n-th documented operator so that mutations reach every operator often.
func parseFuzzSpec(spec string) []Filter {
	var filters []Filter
	cur := Filter{}
	for i, line := range strings.Split(spec, "\n") {
		if line == "" {
			if len(cur.Clauses) > 0 || i > 0 {
				filters = append(filters, cur)
			}
			cur = Filter{Title: "f" + strconv.Itoa(len(filters)+1)}
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		if n, ok := strings.CutPrefix(parts[1], "#"); ok {
			k, _ := strconv.Atoi(n)
			ops := Operators()
			parts[1] = ops[((k%len(ops))+len(ops))%len(ops)]
		}
		cur.Clauses = append(cur.Clauses, Clause{Attribute: parts[0], Operator: parts[1], Value: parts[2]})
	}
	if len(cur.Clauses) > 0 {
		filters = append(filters, cur)
	}
	return filters
}

// parseFuzzAttrs reads lines "name|kind|value" with kind s(tring), b(ool), i(nt), n(ull), m(ulti,
// comma-separated), d(ate, Unix seconds).
func parseFuzzAttrs(src string) mapping.AttributeMap {
	m := mapping.AttributeMap{}
	for _, line := range strings.Split(src, "\n") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) < 3 {
			continue
		}
		var v mapping.Value
		switch parts[1] {
		case "b":
			v = mapping.Bool(parts[2] == "1" || strings.EqualFold(parts[2], "true"))
		case "i":
			n, _ := strconv.ParseInt(parts[2], 10, 64)
			v = mapping.Int(n)
		case "n":
			v = mapping.Null()
		case "m":
			if parts[2] == "" {
				v = mapping.Multi(nil)
			} else {
				v = mapping.Multi(strings.Split(parts[2], ","))
			}
		case "d":
			n, _ := strconv.ParseInt(parts[2], 10, 64)
			v = mapping.Date(time.Unix(n%1e11, 0))
		default:
			v = mapping.Str(parts[2])
		}
		m[parts[0]] = v
	}
	return m
}

func FuzzEvaluate(f *testing.F) {
	f.Add("department|EQUALS|Sales\ncountry|NOT EQUALS|DE\n\njobTitle|Includes|Engineer", "department|s|Sales\ncountry|s|FR")
	f.Add("upn|REGEX MATCH|(?<user>.*)\\@contoso.com\nupn|NOT REGEX MATCH|^admin", "upn|s|ann@contoso.com")
	f.Add("n|Greater_Than|10\nn|greater_than_or_equals|11", "n|i|11")
	f.Add("flag|is_true|\n\nflag|IS FALSE|", "flag|b|1")
	f.Add("a|IS NULL|\nb|IS NOT NULL|", "a|n|\nb|m|x,y")
	f.Add("c|&|Contoso Ltd,Contoso SAS\nc|!&|Fabrikam", "c|s|Contoso SAS")
	f.Add("x|#2|y\nx|#7|\nx|#13|[a-z]+", "x|d|86400")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, spec, attrSrc string) {
		filters := parseFuzzSpec(spec)
		attrs := parseFuzzAttrs(attrSrc)
		s, err := Compile(filters, Options{})
		if err != nil {
			var e *Error
			if s != nil || !errors.As(err, &e) || err.Error() == "" {
				t.Fatalf("Compile error %T %v with set %v", err, err, s)
			}
			if e.Filter < 0 || e.Filter >= len(filters) || e.Clause >= len(filters[e.Filter].Clauses) {
				t.Fatalf("error location out of range: %#v", e)
			}
			return
		}
		d := s.Evaluate(attrs)
		if d2 := s.Evaluate(attrs); d2 != d {
			t.Fatalf("Evaluate not deterministic: %#v vs %#v", d, d2)
		}
		if d.Reason == "" {
			t.Fatalf("empty reason: %#v", d)
		}
		if s.Len() == 0 {
			if !d.InScope || d.Filter != -1 || d.Clause != -1 {
				t.Fatalf("empty set: %#v", d)
			}
			return
		}
		// Oracle: each clause alone, combined by AND within and OR across.
		first := -1
		for fi, fl := range filters {
			failAt := -1
			for ci, c := range fl.Clauses {
				one, err := Compile([]Filter{{Title: fl.Title, Clauses: []Clause{c}}}, Options{})
				if err != nil {
					t.Fatalf("clause compiled in a set but not alone: %v", err)
				}
				if !one.Evaluate(attrs).InScope {
					failAt = ci
					break
				}
			}
			if failAt < 0 && first < 0 {
				first = fi
			}
			if fi == 0 && failAt >= 0 && !d.InScope && d.Clause != failAt {
				t.Fatalf("reported clause %d, first false clause of filter 0 is %d", d.Clause, failAt)
			}
		}
		if d.InScope != (first >= 0) || (d.InScope && (d.Filter != first || d.Clause != -1)) {
			t.Fatalf("Evaluate = %#v, oracle says first passing filter %d", d, first)
		}
		if !d.InScope && (d.Filter != 0 || !strings.Contains(d.Reason, " is false (")) {
			t.Fatalf("out-of-scope decision %#v", d)
		}
		// Trimming ".*" never changes whether a regular expression matches.
		for _, fl := range s.filters {
			for _, c := range fl.clauses {
				if c.re == nil {
					continue
				}
				plain := regexp.MustCompile(mapping.TranslateDotNetRegex(c.value))
				for name, v := range attrs {
					if got, want := c.re.MatchString(v.String()), plain.MatchString(v.String()); got != want {
						t.Fatalf("regex %q (as %q) on %s=%q: %v, untrimmed %v", c.value, c.re, name, v.String(), got, want)
					}
				}
			}
		}
		// The canonical form compiles to an equivalent Set.
		again, err := Compile(s.Filters(), Options{})
		if err != nil {
			t.Fatalf("canonical filters do not compile: %v", err)
		}
		if d2 := again.Evaluate(attrs); d2 != d {
			t.Fatalf("canonical form decides %#v, original %#v", d2, d)
		}
	})
}
