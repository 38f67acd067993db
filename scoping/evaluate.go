package scoping

import (
	"strconv"
	"strings"

	"github.com/scimsync/scimsync/mapping"
)

// Decision is the outcome of evaluating a Set for one object. It says what decided, not only the
// verdict, because the provisioning log's "Determine if in scope" step and on-demand provisioning show
// administrators which clause kept a user out.
type Decision struct {
	InScope bool
	// Filter is the 0-based index of the filter that passed (in scope) or of the first filter whose
	// failure is reported (out of scope); -1 when the Set is empty.
	Filter int
	// Clause is the 0-based index, within Filter, of the first clause that was false; -1 when the
	// object is in scope.
	Clause int
	// Reason is one human sentence, e.g. `filter "Sales only" clause 2: department EQUALS "Sales" is
	// false (value "Marketing")` or `passed filter "Sales only"`. Clause numbers in it are 1-based.
	// When several filters all fail, it lists the first false clause of each, separated by "; ".
	Reason string
}

// ReasonNoFilters is the Reason of every Decision of an empty Set, exported so that callers can tell
// "no filters configured" from "passed a filter" without parsing text.
const ReasonNoFilters = "no scoping filters: every object is in scope"

// outcome is why a clause was true or false; it lets Evaluate defer building text until it knows the
// object is out of scope.
type outcome uint8

const (
	pass outcome = iota
	failCompare
	failNull
	failEmpty
	failNotInt
	failNotBool
	failMulti
	failDate
)

// Evaluate decides whether the object with attrs is in scope: it is when every clause of at least one
// filter is true. Filters are tried in order and each stops at its first false clause. A nil attrs is
// an object without attributes. Evaluate never panics and does not allocate for an object in scope.
func (s *Set) Evaluate(attrs mapping.Attributes) Decision {
	if s == nil || len(s.filters) == 0 {
		return Decision{InScope: true, Filter: -1, Clause: -1, Reason: ReasonNoFilters}
	}
	var buf [8]int
	failed := buf[:0]
	for fi := range s.filters {
		f := &s.filters[fi]
		at := -1
		for ci := range f.clauses {
			c := &f.clauses[ci]
			v := lookup(attrs, c.attr)
			if c.eval(&v) != pass {
				at = ci
				break
			}
		}
		if at < 0 {
			return Decision{InScope: true, Filter: fi, Clause: -1, Reason: f.passed}
		}
		failed = append(failed, at)
	}
	return Decision{InScope: false, Filter: 0, Clause: failed[0], Reason: s.outOfScopeReason(attrs, failed)}
}

func lookup(attrs mapping.Attributes, name string) mapping.Value {
	if attrs == nil {
		return mapping.Null()
	}
	v, ok := attrs.Lookup(name)
	if !ok {
		return mapping.Null()
	}
	return v
}

func (s *Set) outOfScopeReason(attrs mapping.Attributes, failed []int) string {
	var b strings.Builder
	if len(failed) > 1 {
		b.WriteString("no scoping filter passed: ")
	}
	for fi, ci := range failed {
		if fi > 0 {
			b.WriteString("; ")
		}
		f := &s.filters[fi]
		c := &f.clauses[ci]
		v := lookup(attrs, c.attr)
		b.WriteString(f.label)
		b.WriteString(" clause ")
		b.WriteString(strconv.Itoa(ci + 1))
		b.WriteString(": ")
		b.WriteString(c.text)
		b.WriteString(" is false (")
		switch c.eval(&v) {
		case failNull:
			b.WriteString("value is null")
		case failEmpty:
			b.WriteString("value is empty")
		case failNotInt:
			b.WriteString("value " + strconv.Quote(v.String()) + " is not an integer")
		case failNotBool:
			b.WriteString("value " + strconv.Quote(v.String()) + " is not a boolean")
		case failMulti:
			b.WriteString("value is multi-valued; scoping filters do not support multi-valued attributes")
		case failDate:
			b.WriteString("value is a date; scoping filters do not support dates")
		default:
			// failCompare, or pass if attrs answered differently the second time.
			b.WriteString("value " + strconv.Quote(v.String()))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// eval applies one clause to one value. Null-ness is decided first because, per Microsoft, scoping
// filters return false on a null or empty value whatever the operator, IS NULL being the exception by
// definition.
func (c *clause) eval(v *mapping.Value) outcome {
	switch c.op {
	case opIsNull:
		if v.IsEmpty() {
			return pass
		}
		return failCompare
	case opIsNotNull:
		return emptiness(v)
	}
	if o := emptiness(v); o != pass {
		return o
	}
	switch v.Kind() {
	case mapping.KindMulti:
		return failMulti
	case mapping.KindDate:
		return failDate
	}
	switch c.op {
	case opIsTrue, opIsFalse:
		b, ok := asBool(v)
		if !ok {
			return failNotBool
		}
		return verdict(b == (c.op == opIsTrue))
	case opGreaterThan, opGreaterThanOrEquals:
		n, ok := asInt(v)
		if !ok {
			return failNotInt
		}
		if c.op == opGreaterThan {
			return verdict(n > c.n)
		}
		return verdict(n >= c.n)
	}
	s := v.String()
	switch c.op {
	case opContainedIn:
		return verdict(strings.Contains(c.value, s))
	case opNotContainedIn:
		return verdict(!strings.Contains(c.value, s))
	case opEndsWith:
		return verdict(strings.HasSuffix(s, c.value))
	case opEquals:
		return verdict(s == c.value)
	case opNotEquals:
		return verdict(s != c.value)
	case opIncludes:
		return verdict(strings.Contains(s, c.value))
	case opRegexMatch:
		return verdict(c.re != nil && c.re.MatchString(s))
	case opNotRegexMatch:
		return verdict(c.re != nil && !c.re.MatchString(s))
	}
	return failCompare
}

func emptiness(v *mapping.Value) outcome {
	switch {
	case v.IsNull():
		return failNull
	case v.IsEmpty():
		return failEmpty
	}
	return pass
}

func verdict(ok bool) outcome {
	if ok {
		return pass
	}
	return failCompare
}

// asBool accepts a boolean, or the strings "True"/"False" in any case and with surrounding blanks,
// which is how booleans reach us from Graph extension attributes and .NET's Boolean.ToString.
// Integers are not booleans here: Microsoft documents IS TRUE/IS FALSE for Boolean attributes only.
func asBool(v *mapping.Value) (bool, bool) {
	switch v.Kind() {
	case mapping.KindBool:
		return v.AsBool()
	case mapping.KindString:
		s := strings.TrimSpace(v.String())
		switch {
		case strings.EqualFold(s, "true"):
			return true, true
		case strings.EqualFold(s, "false"):
			return false, true
		}
	}
	return false, false
}

// asInt accepts an integer, or a string of decimal digits with an optional sign and surrounding
// blanks. Booleans are not integers here, unlike mapping.Value.AsInt.
func asInt(v *mapping.Value) (int64, bool) {
	switch v.Kind() {
	case mapping.KindInt, mapping.KindString:
		return v.AsInt()
	}
	return 0, false
}
