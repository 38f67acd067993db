package mapping

import (
	"strings"
	"time"
)

// compare evaluates a comparison inside an argument (IIF's condition, CBool([a] = [b]),
// DateDiff(...) > 5). Following the service's "the condition check fails if the source attribute is
// null or empty", any comparison with a null or empty operand is false, for every operator including
// "<>". Two integers (or an integer and a numeric string, or two numeric strings under an ordering
// operator) compare as numbers; two dates (or a date and a date string) as instants; everything else as
// strings, ordinally and case-sensitively, as the service's Switch/EQUALS are.
func compare(op cmpOp, l, r Value) bool {
	if l.IsEmpty() || r.IsEmpty() {
		return false
	}
	c, ok := compareNumbers(op, l, r)
	if !ok {
		c, ok = compareDates(l, r)
	}
	if !ok {
		c = strings.Compare(l.String(), r.String())
	}
	switch op {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	}
	return false
}

func compareNumbers(op cmpOp, l, r Value) (int, bool) {
	if l.Kind() == KindBool || r.Kind() == KindBool {
		return 0, false
	}
	if l.Kind() != KindInt && r.Kind() != KindInt && (op == opEq || op == opNe) {
		return 0, false
	}
	a, ok1 := l.AsInt()
	b, ok2 := r.AsInt()
	if !ok1 || !ok2 {
		return 0, false
	}
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	}
	return 0, true
}

func compareDates(l, r Value) (int, bool) {
	if l.Kind() != KindDate && r.Kind() != KindDate {
		return 0, false
	}
	var a, b time.Time
	var err error
	if a, err = dateOf(l); err != nil {
		return 0, false
	}
	if b, err = dateOf(r); err != nil {
		return 0, false
	}
	return a.Compare(b), true
}
