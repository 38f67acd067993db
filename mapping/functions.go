package mapping

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// funcSpec describes one function of the library: its arity, an optional compile-time check that
// validates and precomputes constant arguments, and its evaluator. Evaluators receive the call node and
// evaluate their own arguments, so IIF, Switch and Coalesce only evaluate what they need.
type funcSpec struct {
	name    string
	min     int
	max     int // -1: no upper bound
	topOnly bool
	check   func(n *node) error
	eval    func(st *evalState, n *node) (Value, error)
}

func (f *funcSpec) arity() string {
	plural := func(k int) string {
		if k == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", k)
	}
	switch {
	case f.max < 0:
		return "at least " + plural(f.min)
	case f.min == f.max && f.min == 0:
		return "no arguments"
	case f.min == f.max:
		return plural(f.min)
	}
	return fmt.Sprintf("%d to %d arguments", f.min, f.max)
}

// functions is the library, keyed by the case-sensitive name.
var functions map[string]*funcSpec

func init() {
	specs := []*funcSpec{
		{name: "Append", min: 2, max: 2, eval: fnAppend},
		{name: "AppRoleAssignmentsComplex", min: 1, max: 1, eval: fnAppRoles},
		{name: "AssertiveAppRoleAssignmentsComplex", min: 1, max: 1, eval: fnAppRoles},
		{name: "BitAnd", min: 2, max: 2, eval: fnBitAnd},
		{name: "CBool", min: 1, max: 1, eval: fnCBool},
		{name: "CDate", min: 1, max: 1, eval: fnCDate},
		{name: "Coalesce", min: 1, max: -1, eval: fnCoalesce},
		{name: "ConvertToBase64", min: 1, max: 1, eval: fnBase64},
		{name: "ConvertToUTF8Hex", min: 1, max: 1, eval: fnUTF8Hex},
		{name: "Count", min: 1, max: 1, eval: fnCount},
		{name: "CStr", min: 1, max: 1, eval: fnCStr},
		{name: "DateAdd", min: 3, max: 3, check: checkInterval, eval: fnDateAdd},
		{name: "DateDiff", min: 3, max: 3, check: checkInterval, eval: fnDateDiff},
		{name: "DateFromNum", min: 1, max: 1, eval: fnDateFromNum},
		{name: "FormatDateTime", min: 3, max: 4, check: checkFormatDateTime, eval: fnFormatDateTime},
		{name: "Guid", min: 0, max: 0, eval: fnGuid},
		{name: "IgnoreFlowIfNullOrEmpty", min: 1, max: 1, eval: fnIgnoreFlow},
		{name: "IIF", min: 3, max: 3, eval: fnIIF},
		{name: "InStr", min: 2, max: 4, check: checkInStr, eval: fnInStr},
		{name: "IsNull", min: 1, max: 1, eval: fnIsNull},
		{name: "IsNullOrEmpty", min: 1, max: 1, eval: fnIsNullOrEmpty},
		{name: "IsPresent", min: 1, max: 1, eval: fnIsPresent},
		{name: "IsString", min: 1, max: 1, eval: fnIsString},
		{name: "Item", min: 2, max: 2, eval: fnItem},
		{name: "Join", min: 2, max: -1, eval: fnJoin},
		{name: "Left", min: 2, max: 2, eval: fnLeft},
		{name: "Mid", min: 3, max: 3, eval: fnMid},
		{name: "NormalizeDiacritics", min: 1, max: 1, eval: fnNormalizeDiacritics},
		{name: "Not", min: 1, max: 1, eval: fnNot},
		{name: "Now", min: 0, max: 0, eval: fnNow},
		{name: "NumFromDate", min: 1, max: 1, eval: fnNumFromDate},
		{name: "PCase", min: 1, max: 2, eval: fnPCase},
		{name: "RandomString", min: 5, max: 6, eval: fnRandomString},
		{name: "Redact", min: 1, max: 1, eval: fnRedact},
		{name: "RemoveDuplicates", min: 1, max: 1, eval: fnRemoveDuplicates},
		{name: "Replace", min: 5, max: 7, check: checkReplace, eval: fnReplace},
		{name: "SelectUniqueValue", min: 2, max: -1, topOnly: true, eval: fnSelectUniqueValue},
		{name: "SingleAppRoleAssignment", min: 1, max: 1, eval: fnSingleAppRole},
		{name: "Split", min: 2, max: 2, eval: fnSplit},
		{name: "StripSpaces", min: 1, max: 1, eval: fnStripSpaces},
		{name: "Switch", min: 2, max: -1, check: checkSwitch, eval: fnSwitch},
		{name: "ToLower", min: 1, max: 2, check: checkCulture, eval: fnToLower},
		{name: "ToUpper", min: 1, max: 2, check: checkCulture, eval: fnToUpper},
		{name: "Word", min: 3, max: 3, eval: fnWord},
	}
	functions = make(map[string]*funcSpec, len(specs))
	for _, s := range specs {
		functions[s.name] = s
	}
}

// FunctionNames lists the library's functions, for config validation messages and documentation.
func FunctionNames() []string {
	out := make([]string, 0, len(functions))
	for name := range functions {
		out = append(out, name)
	}
	return out
}

// --- argument helpers ---

// intArg reads argument i as an integer; null is an error because every integer parameter of the
// library is required.
func (st *evalState) intArg(n *node, i int, what string) (int64, error) {
	v, err := st.arg(n, i)
	if err != nil {
		return 0, err
	}
	if v.IsNull() {
		return 0, st.fail(n, "%s is missing", what)
	}
	x, ok := v.AsInt()
	if !ok {
		return 0, st.fail(n, "%s %q is not an integer", what, v.String())
	}
	return x, nil
}

// strArg reads argument i as a string; null reads as "".
func (st *evalState) strArg(n *node, i int) (string, error) {
	v, err := st.arg(n, i)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// unary evaluates the single source argument of a string function; null propagates so that a missing
// attribute stays missing (and is not provisioned) rather than becoming "".
func unary(st *evalState, n *node, f func(string) string) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	return Str(f(v.String())), nil
}

// --- functions, alphabetically ---

func fnAppend(st *evalState, n *node) (Value, error) {
	src, err := st.arg(n, 0)
	if err != nil || src.IsNull() {
		return src, err
	}
	suffix, err := st.strArg(n, 1)
	if err != nil {
		return Value{}, err
	}
	return Str(src.String() + suffix), nil
}

// fnAppRoles passes the computed appRoleAssignments attribute through as a deduplicated multi-valued
// value of role names; the engine turns it into SCIM roles with primary=false.
func fnAppRoles(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	return Multi(dedupe(v.Strings(), true)), nil
}

func fnBitAnd(st *evalState, n *node) (Value, error) {
	a, err := st.intArg(n, 0, "value1")
	if err != nil {
		return Value{}, err
	}
	b, err := st.intArg(n, 1, "value2")
	if err != nil {
		return Value{}, err
	}
	return Int(a & b), nil
}

func fnCBool(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return Value{}, err
	}
	if v.IsEmpty() {
		return Bool(false), nil
	}
	b, ok := v.AsBool()
	if !ok {
		return Value{}, st.fail(n, "cannot convert %q to a boolean", v.String())
	}
	return Bool(b), nil
}

func fnCDate(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	t, err := dateOf(v)
	if err != nil {
		return Value{}, st.wrap(n, err)
	}
	return Date(t), nil
}

// fnCoalesce returns the first argument that is neither null nor empty. When none is, it returns the
// last argument (the documented defaultValue), which may itself be null or "".
func fnCoalesce(st *evalState, n *node) (Value, error) {
	var last Value
	for i := range n.args {
		v, err := st.eval(n.args[i])
		if err != nil {
			return Value{}, err
		}
		if !v.IsEmpty() {
			return v, nil
		}
		last = v
	}
	return last, nil
}

func fnBase64(st *evalState, n *node) (Value, error) {
	return unary(st, n, func(s string) string {
		u := utf16.Encode([]rune(s))
		b := make([]byte, 2*len(u))
		for i, c := range u {
			b[2*i] = byte(c)
			b[2*i+1] = byte(c >> 8)
		}
		return base64.StdEncoding.EncodeToString(b)
	})
}

func fnUTF8Hex(st *evalState, n *node) (Value, error) {
	return unary(st, n, func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) })
}

func fnCount(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return Value{}, err
	}
	if v.IsEmpty() {
		return Int(0), nil
	}
	return Int(int64(len(v.Strings()))), nil
}

func fnCStr(st *evalState, n *node) (Value, error) {
	return unary(st, n, func(s string) string { return s })
}

// checkInterval validates a constant interval of DateAdd/DateDiff at load and keeps its canonical form.
func checkInterval(n *node) error {
	if v, ok := n.constant(0); ok {
		iv, ok := normInterval(v.String())
		if !ok {
			return fmt.Errorf("unknown interval %q (expected %s)", v.String(), intervalList)
		}
		n.prep = iv
	}
	return nil
}

func (st *evalState) interval(n *node) (string, error) {
	if iv, ok := n.prep.(string); ok {
		return iv, nil
	}
	s, err := st.strArg(n, 0)
	if err != nil {
		return "", err
	}
	iv, ok := normInterval(s)
	if !ok {
		return "", st.fail(n, "unknown interval %q (expected %s)", s, intervalList)
	}
	return iv, nil
}

func fnDateAdd(st *evalState, n *node) (Value, error) {
	iv, err := st.interval(n)
	if err != nil {
		return Value{}, err
	}
	k, err := st.intArg(n, 1, "value")
	if err != nil {
		return Value{}, err
	}
	v, err := st.arg(n, 2)
	if err != nil || v.IsNull() {
		return v, err
	}
	t, err := dateOf(v)
	if err != nil {
		return Value{}, st.wrap(n, err)
	}
	r, err := dateAdd(iv, k, t)
	if err != nil {
		return Value{}, st.wrap(n, fmt.Errorf("adding %d %q to %s: %w", k, iv, t.Format(DateLayout), err))
	}
	return Date(r), nil
}

func fnDateDiff(st *evalState, n *node) (Value, error) {
	iv, err := st.interval(n)
	if err != nil {
		return Value{}, err
	}
	v1, err := st.arg(n, 1)
	if err != nil {
		return Value{}, err
	}
	v2, err := st.arg(n, 2)
	if err != nil {
		return Value{}, err
	}
	if v1.IsEmpty() || v2.IsEmpty() {
		return Null(), nil
	}
	d1, err := dateOf(v1)
	if err != nil {
		return Value{}, st.wrap(n, fmt.Errorf("date1: %w", err))
	}
	d2, err := dateOf(v2)
	if err != nil {
		return Value{}, st.wrap(n, fmt.Errorf("date2: %w", err))
	}
	d, err := dateDiff(iv, d1, d2)
	if err != nil {
		return Value{}, st.wrap(n, err)
	}
	return Int(d), nil
}

func fnDateFromNum(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsEmpty() {
		return Null(), err
	}
	x, ok := v.AsInt()
	if !ok {
		return Value{}, st.fail(n, "%q is not an integer", v.String())
	}
	t, err := fromFileTime(x)
	if err != nil {
		return Value{}, st.wrap(n, err)
	}
	return Date(t), nil
}

// fdtPrep is FormatDateTime's precompiled constant arguments.
type fdtPrep struct {
	styles     dateStyles
	stylesDone bool // styles is final (omitted or constant)
	in, out    *netFormat
	stylesIdx  int // -1 in the three-argument form
	inIdx      int
	outIdx     int
}

// FormatDateTime takes (source, dateTimeStyles, inputFormat, outputFormat), or the older three-argument
// form (source, inputFormat, outputFormat).
func checkFormatDateTime(n *node) error {
	p := &fdtPrep{stylesIdx: -1, inIdx: 1, outIdx: 2}
	if len(n.args) == 4 {
		p.stylesIdx, p.inIdx, p.outIdx = 1, 2, 3
	}
	if p.stylesIdx < 0 || n.omitted(p.stylesIdx) {
		p.styles, p.stylesDone = defaultStyles, true
	} else if v, ok := n.constant(p.stylesIdx); ok {
		s, err := parseStyles(v.String())
		if err != nil {
			return err
		}
		p.styles, p.stylesDone = s, true
	}
	if n.omitted(p.inIdx) || n.omitted(p.outIdx) {
		return errors.New("inputFormat and outputFormat are required")
	}
	for _, f := range []struct {
		idx int
		dst **netFormat
	}{{p.inIdx, &p.in}, {p.outIdx, &p.out}} {
		if v, ok := n.constant(f.idx); ok {
			nf, err := compileNetFormat(v.String())
			if err != nil {
				return err
			}
			*f.dst = nf
		}
	}
	n.prep = p
	return nil
}

func (st *evalState) netFormatArg(n *node, i int, pre *netFormat) (*netFormat, error) {
	if pre != nil {
		return pre, nil
	}
	s, err := st.strArg(n, i)
	if err != nil {
		return nil, err
	}
	nf, err := compileNetFormat(s)
	if err != nil {
		return nil, st.wrap(n, err)
	}
	return nf, nil
}

func fnFormatDateTime(st *evalState, n *node) (Value, error) {
	p, _ := n.prep.(*fdtPrep)
	if p == nil {
		return Value{}, st.fail(n, "not compiled")
	}
	v, err := st.arg(n, 0)
	if err != nil || v.IsEmpty() {
		return Null(), err
	}
	styles := p.styles
	if !p.stylesDone {
		s, err := st.strArg(n, p.stylesIdx)
		if err != nil {
			return Value{}, err
		}
		if styles, err = parseStyles(s); err != nil {
			return Value{}, st.wrap(n, err)
		}
	}
	out, err := st.netFormatArg(n, p.outIdx, p.out)
	if err != nil {
		return Value{}, err
	}
	if t, ok := v.AsTime(); ok {
		return Str(out.format(t, kindUTC)), nil
	}
	in, err := st.netFormatArg(n, p.inIdx, p.in)
	if err != nil {
		return Value{}, err
	}
	t, kind, err := in.parse(v.String(), styles, st.env.now())
	if err != nil {
		return Value{}, st.wrap(n, err)
	}
	return Str(out.format(t, kind)), nil
}

func fnGuid(st *evalState, n *node) (Value, error) {
	u, err := uuid.NewRandomFromReader(st.env.rand())
	if err != nil {
		return Value{}, st.wrap(n, fmt.Errorf("generating a GUID: %w", err))
	}
	return Str(u.String()), nil
}

func fnIgnoreFlow(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return Value{}, err
	}
	if v.IsEmpty() {
		st.noFlow = true
	}
	return v, nil
}

// fnIIF treats a condition whose value is null or empty as false (the documented "condition check
// fails"), and a comparison with a null or empty operand is false too (see compare), so the
// valueIfFalse branch is taken. Only the chosen branch is evaluated.
func fnIIF(st *evalState, n *node) (Value, error) {
	c, err := st.arg(n, 0)
	if err != nil {
		return Value{}, err
	}
	cond := false
	if !c.IsEmpty() {
		b, ok := c.AsBool()
		if !ok {
			return Value{}, st.fail(n, "condition %q is not a boolean (compare with =, <>, >, >=, <, <=)", c.String())
		}
		cond = b
	}
	if cond {
		return st.arg(n, 1)
	}
	return st.arg(n, 2)
}

// VB's compare modes, the values of vbBinaryCompare and vbTextCompare.
const (
	compareBinary = 0
	compareText   = 1
)

func checkInStr(n *node) error {
	if v, ok := n.constant(3); ok {
		if c, ok := v.AsInt(); !ok || (c != compareBinary && c != compareText) {
			return fmt.Errorf("compareType must be vbBinaryCompare or vbTextCompare, got %q", v.String())
		}
	}
	return nil
}

// fnInStr returns the 1-based character position of value2 in value1 from start, 0 when absent, like
// VB's InStr.
func fnInStr(st *evalState, n *node) (Value, error) {
	hay, err := st.strArg(n, 0)
	if err != nil {
		return Value{}, err
	}
	needle, err := st.strArg(n, 1)
	if err != nil {
		return Value{}, err
	}
	start := int64(1)
	if !n.omitted(2) {
		if start, err = st.intArg(n, 2, "start"); err != nil {
			return Value{}, err
		}
		if start < 1 {
			return Value{}, st.fail(n, "start must be 1 or more, got %d", start)
		}
	}
	mode := int64(compareBinary)
	if !n.omitted(3) {
		if mode, err = st.intArg(n, 3, "compareType"); err != nil {
			return Value{}, err
		}
	}
	if hay == "" {
		return Int(0), nil
	}
	hr := []rune(hay)
	if start > int64(len(hr)) {
		return Int(0), nil
	}
	if needle == "" {
		return Int(start), nil
	}
	rest := string(hr[start-1:])
	var idx int
	if mode == compareText {
		idx = indexFold(rest, needle)
	} else {
		idx = strings.Index(rest, needle)
	}
	if idx < 0 {
		return Int(0), nil
	}
	return Int(start + int64(utf8.RuneCountInString(rest[:idx]))), nil
}

// indexFold is a case-insensitive strings.Index (Unicode simple folding).
func indexFold(s, sub string) int {
	n := utf8.RuneCountInString(sub)
	for i := range s {
		j, k := i, 0
		for k < n && j < len(s) {
			_, w := utf8.DecodeRuneInString(s[j:])
			j += w
			k++
		}
		if k == n && strings.EqualFold(s[i:j], sub) {
			return i
		}
	}
	return -1
}

func fnIsNull(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	return Bool(v.IsNull()), err
}

func fnIsNullOrEmpty(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	return Bool(v.IsEmpty()), err
}

func fnIsPresent(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	return Bool(!v.IsEmpty()), err
}

// fnIsString is true for any single value (string, number, boolean, date): each "can be evaluated to a
// string". Null and multi-valued values are not strings.
func fnIsString(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	return Bool(!v.IsNull() && v.Kind() != KindMulti), err
}

// fnItem returns the index-th (1-based) item; an index outside 1..Count gives null, so nothing flows.
func fnItem(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return Value{}, err
	}
	i, err := st.intArg(n, 1, "index")
	if err != nil {
		return Value{}, err
	}
	items := v.Strings()
	if i < 1 || i > int64(len(items)) {
		return Null(), nil
	}
	return Str(items[i-1]), nil
}

// fnJoin concatenates every non-empty value (all items of multi-valued ones) with the separator. It is
// null only when every source is null.
func fnJoin(st *evalState, n *node) (Value, error) {
	sep, err := st.strArg(n, 0)
	if err != nil {
		return Value{}, err
	}
	var b strings.Builder
	sawValue := false
	first := true
	for _, a := range n.args[1:] {
		v, err := st.eval(a)
		if err != nil {
			return Value{}, err
		}
		if v.IsNull() {
			continue
		}
		sawValue = true
		if v.Kind() == KindMulti {
			for _, s := range v.Strings() {
				if s == "" {
					continue
				}
				if !first {
					b.WriteString(sep)
				}
				b.WriteString(s)
				first = false
			}
			continue
		}
		s := v.String()
		if s == "" {
			continue
		}
		if !first {
			b.WriteString(sep)
		}
		b.WriteString(s)
		first = false
	}
	if !sawValue {
		return Null(), nil
	}
	return Str(b.String()), nil
}

// fnLeft follows the documented rules: 0 characters gives "", a negative count the whole input, null "".
func fnLeft(st *evalState, n *node) (Value, error) {
	s, err := st.strArg(n, 0)
	if err != nil {
		return Value{}, err
	}
	k, err := st.intArg(n, 1, "NumChars")
	if err != nil {
		return Value{}, err
	}
	if k < 0 {
		return Str(s), nil
	}
	return Str(prefixRunes(s, k)), nil
}

func prefixRunes(s string, k int64) string {
	var i int64
	for pos := range s {
		if i == k {
			return s[:pos]
		}
		i++
	}
	return s
}

// fnMid takes length characters from the 1-based start; past the end it stops at the end. A start
// below 1 or a negative length is an error, as in VB.
func fnMid(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	start, err := st.intArg(n, 1, "start")
	if err != nil {
		return Value{}, err
	}
	length, err := st.intArg(n, 2, "length")
	if err != nil {
		return Value{}, err
	}
	if start < 1 {
		return Value{}, st.fail(n, "start must be 1 or more, got %d", start)
	}
	if length < 0 {
		return Value{}, st.fail(n, "length cannot be negative, got %d", length)
	}
	s := v.String()
	var i int64 = 1
	for pos := range s {
		if i == start {
			return Str(prefixRunes(s[pos:], length)), nil
		}
		i++
	}
	return Str(""), nil
}

func fnNormalizeDiacritics(st *evalState, n *node) (Value, error) {
	return unary(st, n, normalizeDiacritics)
}

// fnNot is false only for a true boolean or the string "True" (any case, as .NET's Boolean.Parse);
// anything else, null included, gives true.
func fnNot(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return Value{}, err
	}
	switch v.Kind() {
	case KindBool:
		b, _ := v.AsBool()
		return Bool(!b), nil
	case KindString:
		return Bool(!strings.EqualFold(strings.TrimSpace(v.String()), "true")), nil
	}
	return Bool(true), nil
}

func fnNow(st *evalState, _ *node) (Value, error) { return Date(st.env.now()), nil }

func fnNumFromDate(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsEmpty() {
		return Null(), err
	}
	t, err := dateOf(v)
	if err != nil {
		return Value{}, st.wrap(n, err)
	}
	x, err := toFileTime(t)
	if err != nil {
		return Value{}, st.wrap(n, err)
	}
	return Int(x), nil
}

func fnPCase(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	seps, err := st.strArg(n, 1)
	if err != nil {
		return Value{}, err
	}
	return Str(pcase(v.String(), seps)), nil
}

func fnRandomString(st *evalState, n *node) (Value, error) {
	var k [5]int64
	for i, what := range []string{"Length", "MinimumNumbers", "MinimumSpecialCharacters", "MinimumCapital", "MinimumLowerCase"} {
		x, err := st.intArg(n, i, what)
		if err != nil {
			return Value{}, err
		}
		k[i] = x
	}
	avoid, err := st.strArg(n, 5)
	if err != nil {
		return Value{}, err
	}
	s, err := randomString(st.env.rand(), k[0], k[1], k[2], k[3], k[4], avoid)
	if err != nil {
		return Value{}, st.wrap(n, err)
	}
	return Str(s), nil
}

func fnRedact(st *evalState, n *node) (Value, error) {
	st.redacted = true
	return st.arg(n, 0)
}

func fnRemoveDuplicates(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.Kind() != KindMulti {
		return v, err
	}
	return Multi(dedupe(v.Strings(), false)), nil
}

// dedupe keeps the first occurrence of each item (case-sensitive), optionally dropping empty items.
func dedupe(items []string, dropEmpty bool) []string {
	out := make([]string, 0, len(items))
	seen := make(map[string]struct{}, len(items))
	for _, s := range items {
		if dropEmpty && s == "" {
			continue
		}
		if _, ok := seen[s]; ok {
			continue
		}
		seen[s] = struct{}{}
		out = append(out, s)
	}
	return out
}

// Replace's modes, decided at compile time from which arguments are present.
const (
	replaceString        = iota + 1 // oldValue + replacementValue
	replaceTemplate                 // oldValue + template
	replaceRegex                    // regexPattern + replacementValue
	replaceRegexGroup               // regexPattern + regexGroupName + replacementValue
	replaceRegexFallback            // regexPattern + regexGroupName + replacementAttributeName
)

// Replace's argument positions.
const (
	rSource = iota
	rOld
	rPattern
	rGroup
	rValue
	rAttr
	rTemplate
)

type replacePrep struct {
	mode int
	re   *regexp.Regexp // set when the pattern is a constant
	repl string         // translated replacement, when constant
	fix  bool           // repl is set
}

func checkReplace(n *node) error {
	has := func(i int) bool { return !n.omitted(i) }
	p := &replacePrep{}
	switch {
	case has(rPattern) && has(rOld):
		return errors.New("give either oldValue or regexPattern, not both")
	case has(rPattern) && has(rGroup) && has(rValue):
		p.mode = replaceRegexGroup
	case has(rPattern) && has(rGroup) && has(rAttr):
		p.mode = replaceRegexFallback
	case has(rPattern) && has(rValue):
		p.mode = replaceRegex
	case has(rOld) && has(rValue):
		p.mode = replaceString
	case has(rOld) && has(rTemplate):
		p.mode = replaceTemplate
	default:
		return errors.New("needs oldValue with replacementValue or template, or regexPattern with replacementValue, or regexPattern and regexGroupName with replacementValue or replacementAttributeName")
	}
	if v, ok := n.constant(rPattern); ok {
		re, err := compileRegex(v.String())
		if err != nil {
			return err
		}
		p.re = re
	}
	if p.re != nil && has(rGroup) {
		if g, ok := n.constant(rGroup); ok && p.re.SubexpIndex(g.String()) < 0 {
			return fmt.Errorf("regular expression %q has no group named %q", p.re.String(), g.String())
		}
	}
	if v, ok := n.constant(rValue); ok && p.mode == replaceRegex {
		p.repl, p.fix = translateReplacement(v.String()), true
	}
	n.prep = p
	return nil
}

func (st *evalState) regexArg(n *node, p *replacePrep) (*regexp.Regexp, error) {
	if p.re != nil {
		return p.re, nil
	}
	s, err := st.strArg(n, rPattern)
	if err != nil {
		return nil, err
	}
	re, err := compileRegex(s)
	if err != nil {
		return nil, st.wrap(n, err)
	}
	return re, nil
}

func fnReplace(st *evalState, n *node) (Value, error) {
	p, _ := n.prep.(*replacePrep)
	if p == nil {
		return Value{}, st.fail(n, "not compiled")
	}
	src, err := st.arg(n, rSource)
	if err != nil {
		return Value{}, err
	}
	if p.mode == replaceRegexFallback {
		if !src.IsEmpty() {
			return src, nil
		}
		other, err := st.arg(n, rAttr)
		if err != nil || other.IsEmpty() {
			return Null(), err
		}
		re, err := st.regexArg(n, p)
		if err != nil {
			return Value{}, err
		}
		group, err := st.strArg(n, rGroup)
		if err != nil {
			return Value{}, err
		}
		gi := re.SubexpIndex(group)
		if gi < 0 {
			return Value{}, st.fail(n, "regular expression %q has no group named %q", re.String(), group)
		}
		m := re.FindStringSubmatch(other.String())
		if m == nil {
			return Null(), nil
		}
		return Str(m[gi]), nil
	}
	if src.IsNull() {
		return src, nil
	}
	s := src.String()
	switch p.mode {
	case replaceString:
		old, err := st.strArg(n, rOld)
		if err != nil {
			return Value{}, err
		}
		repl, err := st.strArg(n, rValue)
		if err != nil {
			return Value{}, err
		}
		if old == "" {
			return Str(s), nil
		}
		return Str(strings.ReplaceAll(s, old, repl)), nil
	case replaceTemplate:
		old, err := st.strArg(n, rOld)
		if err != nil {
			return Value{}, err
		}
		tmpl, err := st.strArg(n, rTemplate)
		if err != nil {
			return Value{}, err
		}
		if old == "" {
			return Str(tmpl), nil
		}
		return Str(strings.ReplaceAll(tmpl, old, s)), nil
	case replaceRegex:
		re, err := st.regexArg(n, p)
		if err != nil {
			return Value{}, err
		}
		repl := p.repl
		if !p.fix {
			r, err := st.strArg(n, rValue)
			if err != nil {
				return Value{}, err
			}
			repl = translateReplacement(r)
		}
		return Str(re.ReplaceAllString(s, repl)), nil
	case replaceRegexGroup:
		re, err := st.regexArg(n, p)
		if err != nil {
			return Value{}, err
		}
		group, err := st.strArg(n, rGroup)
		if err != nil {
			return Value{}, err
		}
		gi := re.SubexpIndex(group)
		if gi < 0 {
			return Value{}, st.fail(n, "regular expression %q has no group named %q", re.String(), group)
		}
		repl, err := st.strArg(n, rValue)
		if err != nil {
			return Value{}, err
		}
		return Str(replaceGroup(re, s, gi, repl)), nil
	}
	return Value{}, st.fail(n, "unknown mode")
}

// replaceGroup replaces, in every match of re, the text of group gi with repl.
func replaceGroup(re *regexp.Regexp, s string, gi int, repl string) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		gs, ge := m[2*gi], m[2*gi+1]
		if gs < 0 || gs < last {
			continue
		}
		b.WriteString(s[last:gs])
		b.WriteString(repl)
		last = ge
	}
	b.WriteString(s[last:])
	return b.String()
}

// fnSelectUniqueValue returns the first non-empty candidate the target does not have yet. It asks the
// target through Env.ValueExists and evaluates candidates lazily, one query per candidate.
func fnSelectUniqueValue(st *evalState, n *node) (Value, error) {
	if st.env == nil || st.env.ValueExists == nil {
		return Value{}, st.wrap(n, ErrNeedsTarget)
	}
	var tried []string
	for _, a := range n.args {
		v, err := st.eval(a)
		if err != nil {
			return Value{}, err
		}
		if v.IsEmpty() {
			continue
		}
		exists, err := st.env.ValueExists(v.String())
		if err != nil {
			return Value{}, st.wrap(n, fmt.Errorf("checking %q in the target: %w", v.String(), err))
		}
		if !exists {
			return v, nil
		}
		tried = append(tried, v.String())
	}
	return Value{}, st.wrap(n, fmt.Errorf("%w: %q", ErrAllValuesExist, tried))
}

// fnSingleAppRole returns one role of the computed appRoleAssignments attribute: the first. The service
// documents that with several assignments there is "no guarantee which role" is sent.
func fnSingleAppRole(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsEmpty() {
		return Null(), err
	}
	for _, s := range v.Strings() {
		if s != "" {
			return Str(s), nil
		}
	}
	return Null(), nil
}

// fnSplit splits a string into a multi-valued value. Items are trimmed of surrounding white space and
// empty items are dropped, which is what the documented example ("a, b" -> ["a", "b"]) shows.
func fnSplit(st *evalState, n *node) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	delim, err := st.strArg(n, 1)
	if err != nil {
		return Value{}, err
	}
	var parts []string
	if delim == "" {
		parts = []string{v.String()}
	} else {
		parts = strings.Split(v.String(), delim)
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return Multi(out), nil
}

func fnStripSpaces(st *evalState, n *node) (Value, error) {
	return unary(st, n, func(s string) string { return strings.ReplaceAll(s, " ", "") })
}

func checkSwitch(n *node) error {
	if len(n.args)%2 != 0 {
		return fmt.Errorf("takes source, defaultValue and then key/value pairs, got %d arguments (a key without a value)", len(n.args))
	}
	return nil
}

// fnSwitch compares the source with each key case-sensitively; the key "" matches a null or empty
// source. No match gives defaultValue (null when omitted).
func fnSwitch(st *evalState, n *node) (Value, error) {
	src, err := st.arg(n, 0)
	if err != nil {
		return Value{}, err
	}
	s := src.String()
	for i := 2; i+1 < len(n.args); i += 2 {
		k, err := st.eval(n.args[i])
		if err != nil {
			return Value{}, err
		}
		if k.IsNull() && n.args[i].kind != nOmitted {
			// A null key (an absent attribute) matches nothing.
			continue
		}
		key := k.String()
		if key == "" && src.IsEmpty() || key != "" && !src.IsNull() && key == s {
			return st.eval(n.args[i+1])
		}
	}
	return st.arg(n, 1)
}

// checkCulture validates a constant culture name of ToLower/ToUpper at load.
func checkCulture(n *node) error {
	if v, ok := n.constant(1); ok && v.String() != "" {
		tag, err := language.Parse(v.String())
		if err != nil {
			return fmt.Errorf("unknown culture %q: %w", v.String(), err)
		}
		n.prep = tag
	}
	return nil
}

// caseMap applies the invariant mapping (strings.ToLower/ToUpper) without a culture, or the
// culture-aware mapping of golang.org/x/text/cases with one (e.g. Turkish dotted I). A Caser keeps
// state, so one is made per call rather than shared between goroutines.
func caseMap(st *evalState, n *node, upper bool) (Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	s := v.String()
	tag, haveTag := n.prep.(language.Tag)
	if !haveTag && !n.omitted(1) {
		c, err := st.strArg(n, 1)
		if err != nil {
			return Value{}, err
		}
		if c != "" {
			if tag, err = language.Parse(c); err != nil {
				return Value{}, st.fail(n, "unknown culture %q", c)
			}
			haveTag = true
		}
	}
	switch {
	case !haveTag && upper:
		return Str(strings.ToUpper(s)), nil
	case !haveTag:
		return Str(strings.ToLower(s)), nil
	case upper:
		return Str(cases.Upper(tag).String(s)), nil
	}
	return Str(cases.Lower(tag).String(s)), nil
}

func fnToLower(st *evalState, n *node) (Value, error) { return caseMap(st, n, false) }
func fnToUpper(st *evalState, n *node) (Value, error) { return caseMap(st, n, true) }

func fnWord(st *evalState, n *node) (Value, error) {
	s, err := st.strArg(n, 0)
	if err != nil {
		return Value{}, err
	}
	k, err := st.intArg(n, 1, "WordNumber")
	if err != nil {
		return Value{}, err
	}
	delims, err := st.strArg(n, 2)
	if err != nil {
		return Value{}, err
	}
	return Str(word(s, k, delims)), nil
}
