// Package value is the value model of the expression language, shared by the parser, the function
// library and package mapping, which re-exports it.
package value

import (
	"strconv"
	"strings"
	"time"

	"github.com/scimsync/scimsync/mapping/internal/dates"
)

// Kind tells which shape a Value has. The provisioning service works with strings, booleans, integers,
// dates and multi-valued strings, and keeps null apart from the empty string: the two behave differently
// in IsNull, IsPresent, Coalesce and scoping filters.
type Kind uint8

// The shapes a Value can take.
const (
	KindNull Kind = iota
	KindString
	KindBool
	KindInt
	KindDate
	KindMulti
)

// String names the kind for error messages.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindString:
		return "string"
	case KindBool:
		return "boolean"
	case KindInt:
		return "integer"
	case KindDate:
		return "date"
	case KindMulti:
		return "multi-valued"
	}
	return "unknown"
}

// Value is one attribute value as it flows from the directory through expressions to the target. It is
// a small immutable value type so that evaluating a mapping allocates little on the hot path.
type Value struct {
	kind  Kind
	s     string
	b     bool
	i     int64
	t     time.Time
	multi []string
}

// Null is the absent value: an attribute the source does not have.
func Null() Value { return Value{} }

// Str makes a single string value. The empty string is a value, not null.
func Str(s string) Value { return Value{kind: KindString, s: s} }

// Bool makes a boolean value.
func Bool(b bool) Value { return Value{kind: KindBool, b: b} }

// Int makes an integer value.
func Int(i int64) Value { return Value{kind: KindInt, i: i} }

// Date makes a date value; it is kept in UTC because the service renders every date in UTC.
func Date(t time.Time) Value { return Value{kind: KindDate, t: t.UTC()} }

// Multi makes a multi-valued value. A nil or empty slice is still a (multi-valued) value with no items.
func Multi(items []string) Value { return Value{kind: KindMulti, multi: items} }

// Kind reports the shape of v.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is absent.
func (v Value) IsNull() bool { return v.kind == KindNull }

// IsEmpty reports whether v is null, the empty string or a multi-valued value with no items: the
// service's "null or empty", which makes scoping clauses false and IgnoreFlowIfNullOrEmpty drop a flow.
func (v Value) IsEmpty() bool {
	switch v.kind {
	case KindNull:
		return true
	case KindString:
		return v.s == ""
	case KindMulti:
		return len(v.multi) == 0
	}
	return false
}

// DateLayout is the service's rendering of dates, .NET's invariant "M/d/yyyy h:mm:ss tt", in UTC.
const DateLayout = "1/2/2006 3:04:05 PM"

// String renders v the way the service turns any value into a string: booleans as "True"/"False" (.NET),
// dates in DateLayout, multi-valued values as their first item, null as "".
func (v Value) String() string {
	switch v.kind {
	case KindString:
		return v.s
	case KindBool:
		if v.b {
			return "True"
		}
		return "False"
	case KindInt:
		return strconv.FormatInt(v.i, 10)
	case KindDate:
		return v.t.Format(DateLayout)
	case KindMulti:
		if len(v.multi) > 0 {
			return v.multi[0]
		}
	}
	return ""
}

// Strings returns every item of v: the items of a multi-valued value, one item for any other non-null
// value, none for null.
func (v Value) Strings() []string {
	switch v.kind {
	case KindNull:
		return nil
	case KindMulti:
		return v.multi
	}
	return []string{v.String()}
}

// AsBool reads v as a boolean the way .NET's Convert.ToBoolean reads the service's values: a boolean as
// itself, "True"/"False" in any case, a non-zero integer as true. ok is false when v is none of these.
func (v Value) AsBool() (b bool, ok bool) {
	switch v.kind {
	case KindBool:
		return v.b, true
	case KindInt:
		return v.i != 0, true
	case KindString:
		switch strings.ToLower(strings.TrimSpace(v.s)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64); err == nil {
			return n != 0, true
		}
	}
	return false, false
}

// AsInt reads v as an integer: an integer as itself, a string of decimal digits (with an optional sign)
// as its number. ok is false otherwise.
func (v Value) AsInt() (int64, bool) {
	switch v.kind {
	case KindInt:
		return v.i, true
	case KindString:
		n, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64)
		return n, err == nil
	case KindBool:
		if v.b {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// AsTime returns the time held by a date value.
func (v Value) AsTime() (time.Time, bool) {
	if v.kind == KindDate {
		return v.t, true
	}
	return time.Time{}, false
}

// Equal reports whether a and b are the same value of the same kind.
func (v Value) Equal(o Value) bool {
	if v.kind != o.kind {
		return false
	}
	switch v.kind {
	case KindNull:
		return true
	case KindString:
		return v.s == o.s
	case KindBool:
		return v.b == o.b
	case KindInt:
		return v.i == o.i
	case KindDate:
		return v.t.Equal(o.t)
	case KindMulti:
		if len(v.multi) != len(o.multi) {
			return false
		}
		for i := range v.multi {
			if v.multi[i] != o.multi[i] {
				return false
			}
		}
		return true
	}
	return false
}

// Attributes gives the values of one source object's attributes by their Entra names. Lookup reports
// ok=false (or a null Value) for an attribute the object does not have.
type Attributes interface {
	Lookup(name string) (Value, bool)
}

// AttributeMap is the plain map form of Attributes, used by tests, the eval command and the directory.
type AttributeMap map[string]Value

// Lookup implements Attributes.
func (m AttributeMap) Lookup(name string) (Value, bool) {
	v, ok := m[name]
	return v, ok
}

// DateOf reads a function argument as a date: a date value as itself, a string through dates.Parse.
func DateOf(v Value) (time.Time, error) {
	if t, ok := v.AsTime(); ok {
		return t, nil
	}
	return dates.Parse(v.String())
}
