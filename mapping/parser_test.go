package mapping

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/mapping/internal/builtin"
)

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string
		col  int
	}{
		{`Mid([givenName], 1 3)`, `expected ',' or ')' at column 20`, 20},
		{`Append([a], "x"`, `expected ',' or ')' at column 16`, 16},
		{`Append([a] "x")`, `expected ',' or ')' at column 12`, 12},
		{``, `expected a function call, [attribute], string or number at column 1`, 1},
		{`   `, `expected a function call, [attribute], string or number at column 4`, 4},
		{`Append([a], ".test") x`, `expected end of expression at column 22`, 22},
		{`[a] = [b]`, `expected end of expression (comparisons are only allowed inside function arguments) at column 5`, 5},
		{`Append("abc`, `expected closing '"' at column 12`, 12},
		{`Append([abc, "x")`, `expected ']' at column 18`, 18},
		{`Append([], "x")`, `expected an attribute name at column 9`, 9},
		{`Append([a[b]], "x")`, `expected ']' at column 10`, 10},
		{`Left("a", - 1)`, `expected a digit after '-' at column 12`, 12},
		{`Left("a", 1.5)`, `expected ',' or ')' at column 12`, 12},
		{`BitAnd(&HZ, 1)`, `expected a hexadecimal digit at column 10`, 10},
		{`BitAnd(&X1, 1)`, `expected 'H' after '&' (hexadecimal literal) at column 9`, 9},
		{`Left("a", 99999999999999999999)`, `expected an integer between -9223372036854775808 and 9223372036854775807 at column 11`, 11},
		{`Append`, `expected '(' after Append at column 7`, 7},
		{`IIF([a] = , 1, 2)`, `expected a function call, [attribute], string or number at column 11`, 11},
		{`IIF([a] = [b] = [c], 1, 2)`, `expected ',' or ')' at column 15`, 15},
		{`Append("Zoë", "x" "y")`, `expected ',' or ')' at column 19`, 19},
		{`Append(( "x")`, `expected a function call, [attribute], string or number at column 8`, 8},
	} {
		_, err := Compile(tc.expr, CompileOptions{})
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: got %v (%T), want *SyntaxError", tc.expr, err, err)
			continue
		}
		if se.Error() != tc.want || se.Column != tc.col {
			t.Errorf("%q:\n got %q (column %d)\nwant %q (column %d)", tc.expr, se.Error(), se.Column, tc.want, tc.col)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	known := func(name string) bool { return name != "bogus" }
	for _, tc := range []struct {
		expr       string
		kind       CompileErrorKind
		fn, attr   string
		col        int
		msgContain string
	}{
		{`Frobnicate([a])`, UnknownFunction, "Frobnicate", "", 1, `unknown function "Frobnicate"`},
		{`Append(mid([a], 1, 2), "x")`, UnknownFunction, "mid", "", 8, "did you mean Mid?"},
		{`Mid([a], 1)`, WrongArity, "Mid", "", 1, "Mid takes 3 arguments, got 2"},
		{`Append([a], Mid([a], 1, 2, 3))`, WrongArity, "Mid", "", 13, "Mid takes 3 arguments, got 4"},
		{`Now(1)`, WrongArity, "Now", "", 1, "Now takes no arguments, got 1"},
		{`Not()`, WrongArity, "Not", "", 1, "Not takes 1 argument, got 0"},
		{`Join(",")`, WrongArity, "Join", "", 1, "Join takes at least 2 arguments, got 1"},
		{`InStr("a")`, WrongArity, "InStr", "", 1, "InStr takes 2 to 4 arguments, got 1"},
		{`SelectUniqueValue("a")`, WrongArity, "SelectUniqueValue", "", 1, "at least 2"},
		{`Append([bogus], "x")`, UnknownAttribute, "", "bogus", 8, "unknown attribute [bogus]"},
		{`Append(givenName, "x")`, UnknownIdentifier, "", "", 8, `unknown identifier "givenName"`},
		{`Switch([a], "d", "k")`, InvalidArgument, "Switch", "", 1, "key without a value"},
		{`DateAdd("fortnight", 1, "2021-01-01")`, InvalidArgument, "DateAdd", "", 1, `unknown interval "fortnight"`},
		{`InStr("a", "b", 1, 7)`, InvalidArgument, "InStr", "", 1, "compareType"},
		{`ToLower("a", "xx-!!")`, InvalidArgument, "ToLower", "", 1, "unknown culture"},
		{`Join(",", SelectUniqueValue("a", "b"))`, InvalidArgument, "SelectUniqueValue", "", 11, "outermost"},
		{strings.Repeat(" ", MaxExpressionLength) + `"x"`, TooLong, "", "", MaxExpressionLength + 1, "limit is 10000"},
	} {
		_, err := Compile(tc.expr, CompileOptions{KnownAttribute: known})
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%.60q: got %v (%T), want *CompileError", tc.expr, err, err)
			continue
		}
		if ce.Kind != tc.kind || ce.Function != tc.fn || ce.Attribute != tc.attr || ce.Column != tc.col || !strings.Contains(ce.Error(), tc.msgContain) {
			t.Errorf("%.60q: got %+v (%q)", tc.expr, *ce, ce.Error())
		}
	}
}

func TestSyntaxAccepted(t *testing.T) {
	for _, src := range []string{
		`Replace([x], , "re", , "", , )`,
		`Replace( [x] , , "re" , , "" , , )`,
		"Join(\n\t\",\",\n\t[a],\n\t[b]\n)",
		`FormatDateTime([a], , "in", "out")`,
		`IIF([a]>=1, "y", "n")`, `IIF([a]<=1, "y", "n")`, `IIF([a]<>1, "y", "n")`, `IIF([a]<1, "y", "n")`, `IIF([a]>1, "y", "n")`,
		`IIF([a] = -1, "y", "n")`,
		`InStr("a", "b", 1, vbTextCompare)`,
		`BitAnd(&hff, &H0)`,
		`Append ([a], "x")`,
		`[extension_8ab3_employeeType]`,
		`[urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department]`,
		`"just a string"`,
		`Guid()`, `Guid( )`,
		`Not(Not(Not(Not(Not(Not(Not(Not(Not(Not([a]))))))))))`,
	} {
		if _, err := Compile(src, CompileOptions{}); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
	// Exactly at the limit is fine.
	if _, err := Compile(`"`+strings.Repeat("é", MaxExpressionLength-2)+`"`, CompileOptions{}); err != nil {
		t.Errorf("10,000 characters: %v", err)
	}
	// Deep nesting is fine too.
	deep := strings.Repeat("Not(", 1999) + "[a]" + strings.Repeat(")", 1999)
	r, err := mustCompile(t, deep).Eval(AttributeMap{"a": Str("True")}, nil)
	if err != nil || !r.Value.Equal(Bool(false)) {
		t.Errorf("deep nesting: %v %v", r.Value, err)
	}
}

func TestAttributesAndSource(t *testing.T) {
	src := `Join(" ", [givenName], IIF([country]="US", [surname], [givenName]), Coalesce([mail], [upn]), [country])`
	e := mustCompile(t, src)
	if got, want := e.Attributes(), []string{"givenName", "country", "surname", "mail", "upn"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Attributes() = %v, want %v", got, want)
	}
	if e.Source() != src {
		t.Errorf("Source() = %q", e.Source())
	}
	e.Attributes()[0] = "mutated"
	if e.Attributes()[0] != "givenName" {
		t.Error("Attributes() must return a copy")
	}
	if got := mustCompile(t, `Now()`).Attributes(); len(got) != 0 {
		t.Errorf("Now() attributes = %v", got)
	}
	var seen []string
	_, err := Compile(src, CompileOptions{KnownAttribute: func(n string) bool { seen = append(seen, n); return true }})
	if err != nil || len(seen) != 7 {
		t.Errorf("KnownAttribute called for %v (%v)", seen, err)
	}
}

func TestFunctionLibraryComplete(t *testing.T) {
	documented := strings.Fields(`Append AppRoleAssignmentsComplex BitAnd CBool CDate Coalesce ConvertToBase64 ConvertToUTF8Hex Count
		CStr DateAdd DateDiff DateFromNum FormatDateTime Guid IgnoreFlowIfNullOrEmpty IIF InStr IsNull IsNullOrEmpty IsPresent
		IsString Item Join Left Mid NormalizeDiacritics Not Now NumFromDate PCase RandomString Redact RemoveDuplicates Replace
		SelectUniqueValue SingleAppRoleAssignment Split StripSpaces Switch ToLower ToUpper Word`)
	for _, name := range documented {
		if _, ok := builtin.Functions[name]; !ok {
			t.Errorf("missing function %s", name)
		}
	}
	if len(FunctionNames()) != len(builtin.Functions) {
		t.Error("FunctionNames is incomplete")
	}
}

func TestPanicBecomesError(t *testing.T) {
	_, err := mustCompile(t, `[a]`).Eval(panicAttrs{}, nil)
	if !errors.Is(err, builtin.ErrInternal) {
		t.Errorf("a panic inside Eval must become an error, got %v", err)
	}
}

type panicAttrs struct{}

func (panicAttrs) Lookup(string) (Value, bool) { panic("boom") }

func TestEvalUncompiled(t *testing.T) {
	var e *Expr
	if _, err := e.Eval(nil, nil); err == nil {
		t.Error("a nil Expr must fail, not panic")
	}
	if _, err := (&Expr{}).Eval(nil, nil); err == nil {
		t.Error("a zero Expr must fail, not panic")
	}
}
