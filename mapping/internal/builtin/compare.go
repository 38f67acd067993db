package builtin

import (
	"strings"
	"time"

	"github.com/scimsync/scimsync/mapping/internal/syntax"
	"github.com/scimsync/scimsync/mapping/internal/value"
)

// compare evaluates a comparison inside an argument (IIF's condition, CBool([a] = [b]),
// DateDiff(...) > 5). Following the service's "the condition check fails if the source attribute is
// null or empty", any comparison with a null or empty operand is false, for every operator including
// "<>". Two integers (or an integer and a numeric string, or two numeric strings under an ordering
// operator) compare as numbers; two dates (or a date and a date string) as instants; everything else as
// strings, ordinally and case-sensitively, as the service's Switch/EQUALS are.
func compare(op syntax.CmpOp, l, r value.Value) bool {
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
	case syntax.Eq:
		return c == 0
	case syntax.Ne:
		return c != 0
	case syntax.Gt:
		return c > 0
	case syntax.Ge:
		return c >= 0
	case syntax.Lt:
		return c < 0
	case syntax.Le:
		return c <= 0
	}
	return false
}

func compareNumbers(op syntax.CmpOp, l, r value.Value) (int, bool) {
	if l.Kind() == value.KindBool || r.Kind() == value.KindBool {
		return 0, false
	}
	if l.Kind() != value.KindInt && r.Kind() != value.KindInt && (op == syntax.Eq || op == syntax.Ne) {
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

func compareDates(l, r value.Value) (int, bool) {
	if l.Kind() != value.KindDate && r.Kind() != value.KindDate {
		return 0, false
	}
	var a, b time.Time
	var err error
	if a, err = value.DateOf(l); err != nil {
		return 0, false
	}
	if b, err = value.DateOf(r); err != nil {
		return 0, false
	}
	return a.Compare(b), true
}
