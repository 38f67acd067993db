package scoping

import (
	"strings"
	"unicode"
)

// op is a scoping operator, resolved once at Compile so that Evaluate never compares names.
type op uint8

const (
	opInvalid op = iota
	opContainedIn
	opNotContainedIn
	opEndsWith
	opEquals
	opGreaterThan
	opGreaterThanOrEquals
	opIncludes
	opIsFalse
	opIsNotNull
	opIsNull
	opIsTrue
	opNotEquals
	opNotRegexMatch
	opRegexMatch
	opCount
)

// opNames are the documented spellings, used in every message so that logs read like the portal.
var opNames = [opCount]string{
	opInvalid:             "",
	opContainedIn:         "&",
	opNotContainedIn:      "!&",
	opEndsWith:            "ENDS_WITH",
	opEquals:              "EQUALS",
	opGreaterThan:         "Greater_Than",
	opGreaterThanOrEquals: "Greater_Than_OR_EQUALS",
	opIncludes:            "Includes",
	opIsFalse:             "IS FALSE",
	opIsNotNull:           "IS NOT NULL",
	opIsNull:              "IS NULL",
	opIsTrue:              "IS TRUE",
	opNotEquals:           "NOT EQUALS",
	opNotRegexMatch:       "NOT REGEX MATCH",
	opRegexMatch:          "REGEX MATCH",
}

func (o op) String() string {
	if o < opCount {
		return opNames[o]
	}
	return ""
}

// unary reports whether the operator takes no value.
func (o op) unary() bool {
	switch o {
	case opIsFalse, opIsNotNull, opIsNull, opIsTrue:
		return true
	}
	return false
}

// opByKey maps the normalised form of every documented name to its operator.
var opByKey = func() map[string]op {
	m := make(map[string]op, opCount)
	for o := opInvalid + 1; o < opCount; o++ {
		m[operatorKey(opNames[o])] = o
	}
	return m
}()

// operatorKey folds case and treats any run of underscores and white space as one separator, so that
// "IS NOT NULL", "is_not_null" and "Greater_Than" written as "GREATER THAN" all resolve.
func operatorKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for _, r := range strings.TrimSpace(name) {
		if r == '_' || unicode.IsSpace(r) {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte(' ')
		}
		sep = false
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func parseOperator(name string) op {
	return opByKey[operatorKey(name)]
}

// CanonicalOperator resolves an operator name the way Compile does (case-insensitive, underscores and
// spaces interchangeable) and returns its documented spelling, so that configuration tools and the
// on-demand view can show a filter exactly as the portal would.
func CanonicalOperator(name string) (canonical string, ok bool) {
	o := parseOperator(name)
	return o.String(), o != opInvalid
}

// Operators lists the documented operator names in the order of Microsoft's documentation, for help
// texts and error messages; it returns a fresh slice the caller may keep.
func Operators() []string {
	out := make([]string, 0, opCount-1)
	for o := opInvalid + 1; o < opCount; o++ {
		out = append(out, opNames[o])
	}
	return out
}

// IsUnaryOperator reports whether the named operator takes no value (IS NULL, IS NOT NULL, IS TRUE,
// IS FALSE), so that a configuration editor knows whether to ask for one. Unknown names are not unary.
func IsUnaryOperator(name string) bool {
	return parseOperator(name).unary()
}
