// Package builtin is the function library of the expression language and its evaluator.
package builtin

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"

	"github.com/scimsync/scimsync/mapping/internal/syntax"
	"github.com/scimsync/scimsync/mapping/internal/text"
	"github.com/scimsync/scimsync/mapping/internal/value"
)

// evalFunc is a function's evaluator. It receives the call node and evaluates its own arguments, so
// IIF, Switch and Coalesce only evaluate what they need.
type evalFunc func(st *evalState, n *syntax.Node) (value.Value, error)

// Functions is the library, keyed by the case-sensitive name.
var Functions map[string]*syntax.Func

func init() {
	specs := []*syntax.Func{
		{Name: "Append", Min: 2, Max: 2, Impl: evalFunc(fnAppend)},
		{Name: "AppRoleAssignmentsComplex", Min: 1, Max: 1, Impl: evalFunc(fnAppRoles)},
		{Name: "AssertiveAppRoleAssignmentsComplex", Min: 1, Max: 1, Impl: evalFunc(fnAppRoles)},
		{Name: "BitAnd", Min: 2, Max: 2, Impl: evalFunc(fnBitAnd)},
		{Name: "CBool", Min: 1, Max: 1, Impl: evalFunc(fnCBool)},
		{Name: "CDate", Min: 1, Max: 1, Impl: evalFunc(fnCDate)},
		{Name: "Coalesce", Min: 1, Max: -1, Impl: evalFunc(fnCoalesce)},
		{Name: "ConvertToBase64", Min: 1, Max: 1, Impl: evalFunc(fnBase64)},
		{Name: "ConvertToUTF8Hex", Min: 1, Max: 1, Impl: evalFunc(fnUTF8Hex)},
		{Name: "Count", Min: 1, Max: 1, Impl: evalFunc(fnCount)},
		{Name: "CStr", Min: 1, Max: 1, Impl: evalFunc(fnCStr)},
		{Name: "DateAdd", Min: 3, Max: 3, Check: checkInterval, Impl: evalFunc(fnDateAdd)},
		{Name: "DateDiff", Min: 3, Max: 3, Check: checkInterval, Impl: evalFunc(fnDateDiff)},
		{Name: "DateFromNum", Min: 1, Max: 1, Impl: evalFunc(fnDateFromNum)},
		{Name: "FormatDateTime", Min: 3, Max: 4, Check: checkFormatDateTime, Impl: evalFunc(fnFormatDateTime)},
		{Name: "Guid", Min: 0, Max: 0, Impl: evalFunc(fnGuid)},
		{Name: "IgnoreFlowIfNullOrEmpty", Min: 1, Max: 1, Impl: evalFunc(fnIgnoreFlow)},
		{Name: "IIF", Min: 3, Max: 3, Impl: evalFunc(fnIIF)},
		{Name: "InStr", Min: 2, Max: 4, Check: checkInStr, Impl: evalFunc(fnInStr)},
		{Name: "IsNull", Min: 1, Max: 1, Impl: evalFunc(fnIsNull)},
		{Name: "IsNullOrEmpty", Min: 1, Max: 1, Impl: evalFunc(fnIsNullOrEmpty)},
		{Name: "IsPresent", Min: 1, Max: 1, Impl: evalFunc(fnIsPresent)},
		{Name: "IsString", Min: 1, Max: 1, Impl: evalFunc(fnIsString)},
		{Name: "Item", Min: 2, Max: 2, Impl: evalFunc(fnItem)},
		{Name: "Join", Min: 2, Max: -1, Impl: evalFunc(fnJoin)},
		{Name: "Left", Min: 2, Max: 2, Impl: evalFunc(fnLeft)},
		{Name: "Mid", Min: 3, Max: 3, Impl: evalFunc(fnMid)},
		{Name: "NormalizeDiacritics", Min: 1, Max: 1, Impl: evalFunc(fnNormalizeDiacritics)},
		{Name: "Not", Min: 1, Max: 1, Impl: evalFunc(fnNot)},
		{Name: "Now", Min: 0, Max: 0, Impl: evalFunc(fnNow)},
		{Name: "NumFromDate", Min: 1, Max: 1, Impl: evalFunc(fnNumFromDate)},
		{Name: "PCase", Min: 1, Max: 2, Impl: evalFunc(fnPCase)},
		{Name: "RandomString", Min: 5, Max: 6, Impl: evalFunc(fnRandomString)},
		{Name: "Redact", Min: 1, Max: 1, Impl: evalFunc(fnRedact)},
		{Name: "RemoveDuplicates", Min: 1, Max: 1, Impl: evalFunc(fnRemoveDuplicates)},
		{Name: "Replace", Min: 5, Max: 7, Check: checkReplace, Impl: evalFunc(fnReplace)},
		{Name: "SelectUniqueValue", Min: 2, Max: -1, TopOnly: true, Impl: evalFunc(fnSelectUniqueValue)},
		{Name: "SingleAppRoleAssignment", Min: 1, Max: 1, Impl: evalFunc(fnSingleAppRole)},
		{Name: "Split", Min: 2, Max: 2, Impl: evalFunc(fnSplit)},
		{Name: "StripSpaces", Min: 1, Max: 1, Impl: evalFunc(fnStripSpaces)},
		{Name: "Switch", Min: 2, Max: -1, Check: checkSwitch, Impl: evalFunc(fnSwitch)},
		{Name: "ToLower", Min: 1, Max: 2, Check: checkCulture, Impl: evalFunc(fnToLower)},
		{Name: "ToUpper", Min: 1, Max: 2, Check: checkCulture, Impl: evalFunc(fnToUpper)},
		{Name: "Word", Min: 3, Max: 3, Impl: evalFunc(fnWord)},
	}
	Functions = make(map[string]*syntax.Func, len(specs))
	for _, s := range specs {
		Functions[s.Name] = s
	}
}

// FunctionNames lists the library's Functions, for config validation messages and documentation.
func FunctionNames() []string {
	out := make([]string, 0, len(Functions))
	for name := range Functions {
		out = append(out, name)
	}
	return out
}

// --- argument helpers ---

// intArg reads argument i as an integer; null is an error because every integer parameter of the
// library is required.
func (st *evalState) intArg(n *syntax.Node, i int, what string) (int64, error) {
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
func (st *evalState) strArg(n *syntax.Node, i int) (string, error) {
	v, err := st.arg(n, i)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// unary evaluates the single source argument of a string function; null propagates so that a missing
// attribute stays missing (and is not provisioned) rather than becoming "".
func unary(st *evalState, n *syntax.Node, f func(string) string) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	return value.Str(f(v.String())), nil
}

// --- Functions, alphabetically ---

func fnAppend(st *evalState, n *syntax.Node) (value.Value, error) {
	src, err := st.arg(n, 0)
	if err != nil || src.IsNull() {
		return src, err
	}
	suffix, err := st.strArg(n, 1)
	if err != nil {
		return value.Value{}, err
	}
	return value.Str(src.String() + suffix), nil
}

// fnAppRoles passes the computed appRoleAssignments attribute through as a deduplicated multi-valued
// value of role names; the engine turns it into SCIM roles with primary=false.
func fnAppRoles(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	return value.Multi(dedupe(v.Strings(), true)), nil
}

func fnBitAnd(st *evalState, n *syntax.Node) (value.Value, error) {
	a, err := st.intArg(n, 0, "value1")
	if err != nil {
		return value.Value{}, err
	}
	b, err := st.intArg(n, 1, "value2")
	if err != nil {
		return value.Value{}, err
	}
	return value.Int(a & b), nil
}

func fnCBool(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	if v.IsEmpty() {
		return value.Bool(false), nil
	}
	b, ok := v.AsBool()
	if !ok {
		return value.Value{}, st.fail(n, "cannot convert %q to a boolean", v.String())
	}
	return value.Bool(b), nil
}

// fnCoalesce returns the first argument that is neither null nor empty. When none is, it returns the
// last argument (the documented defaultValue), which may itself be null or "".
func fnCoalesce(st *evalState, n *syntax.Node) (value.Value, error) {
	var last value.Value
	for i := range n.Args {
		v, err := st.eval(n.Args[i])
		if err != nil {
			return value.Value{}, err
		}
		if !v.IsEmpty() {
			return v, nil
		}
		last = v
	}
	return last, nil
}

func fnBase64(st *evalState, n *syntax.Node) (value.Value, error) {
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

func fnUTF8Hex(st *evalState, n *syntax.Node) (value.Value, error) {
	return unary(st, n, func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) })
}

func fnCount(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	if v.IsEmpty() {
		return value.Int(0), nil
	}
	return value.Int(int64(len(v.Strings()))), nil
}

func fnCStr(st *evalState, n *syntax.Node) (value.Value, error) {
	return unary(st, n, func(s string) string { return s })
}

// compiledArg returns what Check precompiled from a constant argument, or compiles argument i now
// when it is computed per object.
func compiledArg[T any](st *evalState, n *syntax.Node, i int, pre *T, compile func(string) (*T, error)) (*T, error) {
	if pre != nil {
		return pre, nil
	}
	s, err := st.strArg(n, i)
	if err != nil {
		return nil, err
	}
	c, err := compile(s)
	if err != nil {
		return nil, st.wrap(n, err)
	}
	return c, nil
}

func fnGuid(st *evalState, n *syntax.Node) (value.Value, error) {
	u, err := uuid.NewRandomFromReader(st.env.rand())
	if err != nil {
		return value.Value{}, st.wrap(n, fmt.Errorf("generating a GUID: %w", err))
	}
	return value.Str(u.String()), nil
}

func fnIgnoreFlow(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	if v.IsEmpty() {
		st.noFlow = true
	}
	return v, nil
}

// fnIIF treats a condition whose value is null or empty as false (the documented "condition check
// fails"), and a comparison with a null or empty operand is false too (see compare), so the
// valueIfFalse branch is taken. Only the chosen branch is evaluated.
func fnIIF(st *evalState, n *syntax.Node) (value.Value, error) {
	c, err := st.arg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	cond := false
	if !c.IsEmpty() {
		b, ok := c.AsBool()
		if !ok {
			return value.Value{}, st.fail(n, "condition %q is not a boolean (compare with =, <>, >, >=, <, <=)", c.String())
		}
		cond = b
	}
	if cond {
		return st.arg(n, 1)
	}
	return st.arg(n, 2)
}

func checkInStr(n *syntax.Node) error {
	if v, ok := n.Constant(3); ok {
		if c, ok := v.AsInt(); !ok || (c != syntax.BinaryCompare && c != syntax.TextCompare) {
			return fmt.Errorf("compareType must be vbBinaryCompare or vbTextCompare, got %q", v.String())
		}
	}
	return nil
}

// fnInStr returns the 1-based character position of value2 in value1 from start, 0 when absent, like
// VB's InStr.
func fnInStr(st *evalState, n *syntax.Node) (value.Value, error) {
	hay, err := st.strArg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	needle, err := st.strArg(n, 1)
	if err != nil {
		return value.Value{}, err
	}
	start := int64(1)
	if !n.Omitted(2) {
		if start, err = st.intArg(n, 2, "start"); err != nil {
			return value.Value{}, err
		}
		if start < 1 {
			return value.Value{}, st.fail(n, "start must be 1 or more, got %d", start)
		}
	}
	mode := int64(syntax.BinaryCompare)
	if !n.Omitted(3) {
		if mode, err = st.intArg(n, 3, "compareType"); err != nil {
			return value.Value{}, err
		}
	}
	if hay == "" {
		return value.Int(0), nil
	}
	hr := []rune(hay)
	if start > int64(len(hr)) {
		return value.Int(0), nil
	}
	if needle == "" {
		return value.Int(start), nil
	}
	rest := string(hr[start-1:])
	var idx int
	if mode == syntax.TextCompare {
		idx = indexFold(rest, needle)
	} else {
		idx = strings.Index(rest, needle)
	}
	if idx < 0 {
		return value.Int(0), nil
	}
	return value.Int(start + int64(utf8.RuneCountInString(rest[:idx]))), nil
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

func fnIsNull(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	return value.Bool(v.IsNull()), err
}

func fnIsNullOrEmpty(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	return value.Bool(v.IsEmpty()), err
}

func fnIsPresent(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	return value.Bool(!v.IsEmpty()), err
}

// fnIsString is true for any single value (string, number, boolean, date): each "can be evaluated to a
// string". Null and multi-valued values are not strings.
func fnIsString(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	return value.Bool(!v.IsNull() && v.Kind() != value.KindMulti), err
}

// fnItem returns the index-th (1-based) item; an index outside 1..Count gives null, so nothing flows.
func fnItem(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	i, err := st.intArg(n, 1, "index")
	if err != nil {
		return value.Value{}, err
	}
	items := v.Strings()
	if i < 1 || i > int64(len(items)) {
		return value.Null(), nil
	}
	return value.Str(items[i-1]), nil
}

// fnJoin concatenates every non-empty value (all items of multi-valued ones) with the separator. It is
// null only when every source is null.
func fnJoin(st *evalState, n *syntax.Node) (value.Value, error) {
	sep, err := st.strArg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	var b strings.Builder
	sawValue := false
	first := true
	for _, a := range n.Args[1:] {
		v, err := st.eval(a)
		if err != nil {
			return value.Value{}, err
		}
		if v.IsNull() {
			continue
		}
		sawValue = true
		if v.Kind() == value.KindMulti {
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
		return value.Null(), nil
	}
	return value.Str(b.String()), nil
}

// fnLeft follows the documented rules: 0 characters gives "", a negative count the whole input, null "".
func fnLeft(st *evalState, n *syntax.Node) (value.Value, error) {
	s, err := st.strArg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	k, err := st.intArg(n, 1, "NumChars")
	if err != nil {
		return value.Value{}, err
	}
	if k < 0 {
		return value.Str(s), nil
	}
	return value.Str(prefixRunes(s, k)), nil
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
func fnMid(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	start, err := st.intArg(n, 1, "start")
	if err != nil {
		return value.Value{}, err
	}
	length, err := st.intArg(n, 2, "length")
	if err != nil {
		return value.Value{}, err
	}
	if start < 1 {
		return value.Value{}, st.fail(n, "start must be 1 or more, got %d", start)
	}
	if length < 0 {
		return value.Value{}, st.fail(n, "length cannot be negative, got %d", length)
	}
	s := v.String()
	var i int64 = 1
	for pos := range s {
		if i == start {
			return value.Str(prefixRunes(s[pos:], length)), nil
		}
		i++
	}
	return value.Str(""), nil
}

func fnNormalizeDiacritics(st *evalState, n *syntax.Node) (value.Value, error) {
	return unary(st, n, text.NormalizeDiacritics)
}

// fnNot is false only for a true boolean or the string "True" (any case, as .NET's Boolean.Parse);
// anything else, null included, gives true.
func fnNot(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	switch v.Kind() {
	case value.KindBool:
		b, _ := v.AsBool()
		return value.Bool(!b), nil
	case value.KindString:
		return value.Bool(!strings.EqualFold(strings.TrimSpace(v.String()), "true")), nil
	}
	return value.Bool(true), nil
}

func fnPCase(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	seps, err := st.strArg(n, 1)
	if err != nil {
		return value.Value{}, err
	}
	return value.Str(text.PCase(v.String(), seps)), nil
}

func fnRandomString(st *evalState, n *syntax.Node) (value.Value, error) {
	var k [5]int64
	for i, what := range []string{"Length", "MinimumNumbers", "MinimumSpecialCharacters", "MinimumCapital", "MinimumLowerCase"} {
		x, err := st.intArg(n, i, what)
		if err != nil {
			return value.Value{}, err
		}
		k[i] = x
	}
	avoid, err := st.strArg(n, 5)
	if err != nil {
		return value.Value{}, err
	}
	s, err := text.RandomString(st.env.rand(), k[0], k[1], k[2], k[3], k[4], avoid)
	if err != nil {
		return value.Value{}, st.wrap(n, err)
	}
	return value.Str(s), nil
}

func fnRedact(st *evalState, n *syntax.Node) (value.Value, error) {
	st.redacted = true
	return st.arg(n, 0)
}

func fnRemoveDuplicates(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.Kind() != value.KindMulti {
		return v, err
	}
	return value.Multi(dedupe(v.Strings(), false)), nil
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

// fnSelectUniqueValue returns the first non-empty candidate the target does not have yet. It asks the
// target through Env.ValueExists and evaluates candidates lazily, one query per candidate.
func fnSelectUniqueValue(st *evalState, n *syntax.Node) (value.Value, error) {
	if st.env == nil || st.env.ValueExists == nil {
		return value.Value{}, st.wrap(n, ErrNeedsTarget)
	}
	var tried []string
	for _, a := range n.Args {
		v, err := st.eval(a)
		if err != nil {
			return value.Value{}, err
		}
		if v.IsEmpty() {
			continue
		}
		exists, err := st.env.ValueExists(v.String())
		if err != nil {
			return value.Value{}, st.wrap(n, fmt.Errorf("checking %q in the target: %w", v.String(), err))
		}
		if !exists {
			return v, nil
		}
		tried = append(tried, v.String())
	}
	return value.Value{}, st.wrap(n, fmt.Errorf("%w: %q", ErrAllValuesExist, tried))
}

// fnSingleAppRole returns one role of the computed appRoleAssignments attribute: the first. The service
// documents that with several assignments there is "no guarantee which role" is sent.
func fnSingleAppRole(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsEmpty() {
		return value.Null(), err
	}
	for _, s := range v.Strings() {
		if s != "" {
			return value.Str(s), nil
		}
	}
	return value.Null(), nil
}

// fnSplit splits a string into a multi-valued value. Items are trimmed of surrounding white space and
// empty items are dropped, which is what the documented example ("a, b" -> ["a", "b"]) shows.
func fnSplit(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	delim, err := st.strArg(n, 1)
	if err != nil {
		return value.Value{}, err
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
	return value.Multi(out), nil
}

func fnStripSpaces(st *evalState, n *syntax.Node) (value.Value, error) {
	return unary(st, n, func(s string) string { return strings.ReplaceAll(s, " ", "") })
}

func checkSwitch(n *syntax.Node) error {
	if len(n.Args)%2 != 0 {
		return fmt.Errorf("takes source, defaultValue and then key/value pairs, got %d arguments (a key without a value)", len(n.Args))
	}
	return nil
}

// fnSwitch compares the source with each key case-sensitively; the key "" matches a null or empty
// source. No match gives defaultValue (null when omitted).
func fnSwitch(st *evalState, n *syntax.Node) (value.Value, error) {
	src, err := st.arg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	s := src.String()
	for i := 2; i+1 < len(n.Args); i += 2 {
		k, err := st.eval(n.Args[i])
		if err != nil {
			return value.Value{}, err
		}
		if k.IsNull() && n.Args[i].Kind != syntax.Omitted {
			// A null key (an absent attribute) matches nothing.
			continue
		}
		key := k.String()
		if key == "" && src.IsEmpty() || key != "" && !src.IsNull() && key == s {
			return st.eval(n.Args[i+1])
		}
	}
	return st.arg(n, 1)
}

// checkCulture validates a constant culture name of ToLower/ToUpper at load.
func checkCulture(n *syntax.Node) error {
	if v, ok := n.Constant(1); ok && v.String() != "" {
		tag, err := language.Parse(v.String())
		if err != nil {
			return fmt.Errorf("unknown culture %q: %w", v.String(), err)
		}
		n.Prep = tag
	}
	return nil
}

// caseMap applies the invariant mapping (strings.ToLower/ToUpper) without a culture, or the
// culture-aware mapping of golang.org/x/text/cases with one (e.g. Turkish dotted I). A Caser keeps
// state, so one is made per call rather than shared between goroutines.
func caseMap(st *evalState, n *syntax.Node, upper bool) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	s := v.String()
	tag, haveTag := n.Prep.(language.Tag)
	if !haveTag && !n.Omitted(1) {
		c, err := st.strArg(n, 1)
		if err != nil {
			return value.Value{}, err
		}
		if c != "" {
			if tag, err = language.Parse(c); err != nil {
				return value.Value{}, st.fail(n, "unknown culture %q", c)
			}
			haveTag = true
		}
	}
	switch {
	case !haveTag && upper:
		return value.Str(strings.ToUpper(s)), nil
	case !haveTag:
		return value.Str(strings.ToLower(s)), nil
	case upper:
		return value.Str(cases.Upper(tag).String(s)), nil
	}
	return value.Str(cases.Lower(tag).String(s)), nil
}

func fnToLower(st *evalState, n *syntax.Node) (value.Value, error) { return caseMap(st, n, false) }

func fnToUpper(st *evalState, n *syntax.Node) (value.Value, error) { return caseMap(st, n, true) }

func fnWord(st *evalState, n *syntax.Node) (value.Value, error) {
	s, err := st.strArg(n, 0)
	if err != nil {
		return value.Value{}, err
	}
	k, err := st.intArg(n, 1, "WordNumber")
	if err != nil {
		return value.Value{}, err
	}
	delims, err := st.strArg(n, 2)
	if err != nil {
		return value.Value{}, err
	}
	return value.Str(text.Word(s, k, delims)), nil
}
