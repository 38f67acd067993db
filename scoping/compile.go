package scoping

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// Clause is one row of a scoping filter as configured (Graph's filterClause: sourceOperandName,
// operatorName, targetOperand). It is kept as plain strings so that configuration can be loaded
// before it is checked, and every problem reported at once by Compile.
type Clause struct {
	Attribute string
	Operator  string
	Value     string
}

// Filter is one scoping filter (a portal "scoping filter group"). Its clauses are ANDed; the Title
// exists so that logs and errors can name the filter the way the administrator named it.
type Filter struct {
	Title   string
	Clauses []Clause
}

// Options carries what Compile cannot know by itself: which attributes the source schema has.
type Options struct {
	// Validate returns an error for an attribute that is unknown or not supported in scoping filters
	// (multi-valued attributes, manager, appRoleAssignments, dates). Scoping itself is schema-agnostic,
	// so the configuration supplies it; nil accepts every non-empty attribute name.
	Validate func(attribute string) error
}

// Set is a compiled list of filters, ORed. It is immutable after Compile, so one Set may be shared by
// every worker of a cycle; a nil or empty Set puts every object in scope, as in Entra when no scoping
// filter is configured.
type Set struct {
	filters []filter
	source  []Filter
}

type filter struct {
	title   string
	label   string // `filter "Sales only"`, or `filter 2` when untitled
	passed  string // precomputed in-scope reason: Evaluate does not allocate for objects in scope
	clauses []clause
}

type clause struct {
	attr  string
	op    op
	value string
	n     int64          // the value of Greater_Than and Greater_Than_OR_EQUALS
	re    *regexp.Regexp // REGEX MATCH and NOT REGEX MATCH
	text  string         // `department EQUALS "Sales"`, for reasons
}

// Sentinel kinds of compile error, for errors.Is: configuration loaders decide from them whether a
// problem is the administrator's (show it) or the schema's (reload it), without matching strings.
var (
	ErrEmptyFilter     = errors.New("scoping filter has no clauses")
	ErrAttribute       = errors.New("attribute not usable in a scoping filter")
	ErrUnknownOperator = errors.New("unknown scoping operator")
	ErrMissingValue    = errors.New("scoping operator needs a value")
	ErrUnexpectedValue = errors.New("scoping operator takes no value")
	ErrNotInteger      = errors.New("scoping value is not an integer")
	ErrBadRegex        = errors.New("scoping regular expression does not compile")
)

// Error is a configuration mistake in one filter or clause. It carries indexes rather than only text
// so that a configuration editor can point at the offending row; the message itself names the filter
// by 1-based number and title, as an administrator counts them in the portal.
type Error struct {
	// Filter and Clause are 0-based indexes into the slice given to Compile; Clause is -1 when the
	// error concerns the whole filter.
	Filter int
	Clause int
	// Title is the filter's title, Attribute and Operator the clause's as written.
	Title     string
	Attribute string
	Operator  string
	// Msg says what is wrong, without the location.
	Msg string
	// Kind is one of the Err* sentinels; Err is the underlying cause (the validator's or the regular
	// expression compiler's error), or nil.
	Kind error
	Err  error
}

// Error renders the location (1-based) and the message, e.g.
// `scoping filter 1 "Sales only", clause 2 (department REGEX MATCH): ...`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("scoping filter ")
	b.WriteString(strconv.Itoa(e.Filter + 1))
	if e.Title != "" {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(e.Title))
	}
	if e.Clause >= 0 {
		b.WriteString(", clause ")
		b.WriteString(strconv.Itoa(e.Clause + 1))
		if e.Attribute != "" || e.Operator != "" {
			b.WriteString(" (")
			b.WriteString(strings.TrimSpace(e.Attribute + " " + e.Operator))
			b.WriteByte(')')
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the sentinel kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Compile checks every filter and clause and prepares them for Evaluate: operators are resolved,
// integers parsed and regular expressions compiled once, here. It reports every mistake, not only the
// first, so that an administrator fixes a configuration in one pass: the error is an *Error when there
// is one mistake and an errors.Join of *Error values when there are several (errors.As finds the first).
func Compile(filters []Filter, opts Options) (*Set, error) {
	s := &Set{filters: make([]filter, 0, len(filters)), source: make([]Filter, 0, len(filters))}
	var errs []error
	for fi, f := range filters {
		cf := filter{title: f.Title, label: filterLabel(fi, f.Title), clauses: make([]clause, 0, len(f.Clauses))}
		cf.passed = "passed " + cf.label
		src := Filter{Title: f.Title, Clauses: make([]Clause, 0, len(f.Clauses))}
		if len(f.Clauses) == 0 {
			errs = append(errs, &Error{Filter: fi, Clause: -1, Title: f.Title, Msg: "the filter has no clauses", Kind: ErrEmptyFilter})
		}
		for ci, c := range f.Clauses {
			cc, err := compileClause(c, opts)
			if err != nil {
				err.Filter, err.Clause, err.Title = fi, ci, f.Title
				err.Attribute, err.Operator = c.Attribute, c.Operator
				errs = append(errs, err)
				continue
			}
			cf.clauses = append(cf.clauses, cc)
			src.Clauses = append(src.Clauses, Clause{Attribute: cc.attr, Operator: cc.op.String(), Value: cc.value})
		}
		s.filters = append(s.filters, cf)
		s.source = append(s.source, src)
	}
	switch len(errs) {
	case 0:
		return s, nil
	case 1:
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

func filterLabel(i int, title string) string {
	if title == "" {
		return "filter " + strconv.Itoa(i+1)
	}
	return "filter " + strconv.Quote(title)
}

func compileClause(c Clause, opts Options) (clause, *Error) {
	cc := clause{attr: strings.TrimSpace(c.Attribute), value: c.Value}
	if cc.attr == "" {
		return cc, &Error{Msg: "the attribute name is empty", Kind: ErrAttribute}
	}
	if opts.Validate != nil {
		if err := opts.Validate(cc.attr); err != nil {
			return cc, &Error{Msg: "attribute " + strconv.Quote(cc.attr) + " cannot be used", Kind: ErrAttribute, Err: err}
		}
	}
	cc.op = parseOperator(c.Operator)
	if cc.op == opInvalid {
		return cc, &Error{
			Msg:  "unknown operator " + strconv.Quote(c.Operator) + " (known: " + strings.Join(Operators(), ", ") + ")",
			Kind: ErrUnknownOperator,
		}
	}
	if cc.op.unary() {
		// A blank value is no value: Graph sends targetOperand.values [""] for unary operators.
		if strings.TrimSpace(c.Value) != "" {
			return cc, &Error{Msg: "operator " + cc.op.String() + " takes no value, got " + strconv.Quote(c.Value), Kind: ErrUnexpectedValue}
		}
		cc.value = ""
		cc.text = cc.attr + " " + cc.op.String()
		return cc, nil
	}
	if c.Value == "" {
		return cc, &Error{Msg: "operator " + cc.op.String() + " needs a value", Kind: ErrMissingValue}
	}
	cc.text = cc.attr + " " + cc.op.String() + " " + strconv.Quote(c.Value)
	switch cc.op {
	case opGreaterThan, opGreaterThanOrEquals:
		n, err := strconv.ParseInt(strings.TrimSpace(c.Value), 10, 64)
		if err != nil {
			return cc, &Error{Msg: "operator " + cc.op.String() + " compares integers only, got " + strconv.Quote(c.Value), Kind: ErrNotInteger}
		}
		cc.n = n
	case opRegexMatch, opNotRegexMatch:
		re, err := compileRegex(c.Value)
		if err != nil {
			return cc, &Error{Msg: "regular expression " + strconv.Quote(c.Value) + " does not compile", Kind: ErrBadRegex, Err: err}
		}
		cc.re = re
	}
	return cc, nil
}

// Len reports how many filters the Set has; 0 means everything is in scope.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.filters)
}

// Filters returns the compiled filters with operators in their documented spelling, for the on-demand
// view ("{title} {attribute} {operator} {value}") and for writing configuration back in canonical
// form. The result is a copy the caller may modify.
func (s *Set) Filters() []Filter {
	if s == nil {
		return nil
	}
	out := make([]Filter, len(s.source))
	for i, f := range s.source {
		out[i] = Filter{Title: f.Title, Clauses: append([]Clause(nil), f.Clauses...)}
	}
	return out
}

// Attributes lists the attributes the filters read, so the source reader can select them alongside
// the mapped ones: a filter on an attribute that is not read would see null and fail every user.
func (s *Set) Attributes() []string {
	if s == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range s.Filters() {
		for _, c := range f.Clauses {
			if !seen[c.Attribute] {
				seen[c.Attribute] = true
				out = append(out, c.Attribute)
			}
		}
	}
	return out
}
