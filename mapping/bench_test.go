package mapping

import (
	"fmt"
	"testing"
)

// gongTable builds the Gong preset's 12 user mappings: plain attributes as Direct mappings and
// Not([IsSoftDeleted]) as an expression, compiled once as at config load.
func gongTable(tb testing.TB) *Table {
	tb.Helper()
	direct := func(attr, target string) Mapping { return Mapping{Target: target, Kind: Direct, Attribute: attr} }
	return &Table{Mappings: []Mapping{
		{Target: "userName", Kind: Direct, Attribute: "userPrincipalName", Matching: 1},
		{Target: "active", Kind: Expression, Expr: mustCompile(tb, `Not([IsSoftDeleted])`), Type: TypeBoolean},
		direct("jobTitle", "title"),
		direct("mail", `emails[type eq "work"].value`),
		direct("givenName", "name.givenName"),
		direct("surname", "name.familyName"),
		direct("telephoneNumber", `phoneNumbers[type eq "work"].value`),
		direct("mailNickname", "externalId"),
		direct("preferredLanguage", "locale"),
		{Target: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", Kind: Direct, Attribute: "manager", Type: TypeReference},
		direct("state", "urn:ietf:params:scim:schemas:extension:Gong:2.0:User:stateOrProvince"),
		direct("country", "urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country"),
	}}
}

var typicalUser = AttributeMap{
	"userPrincipalName": Str("ann.lee@contoso.com"),
	"IsSoftDeleted":     Bool(false),
	"jobTitle":          Str("Account Executive"),
	"mail":              Str("ann.lee@contoso.com"),
	"givenName":         Str("Ann"),
	"surname":           Str("Lee"),
	"telephoneNumber":   Str("+1 425 555 0100"),
	"mailNickname":      Str("ann.lee"),
	"preferredLanguage": Str("en-US"),
	"manager":           Str("5f0c6e3a-8d0b-4c1e-9a57-0f3f2d6b1e11"),
	"state":             Str("WA"),
	"country":           Str("US"),
}

func TestGongPreset(t *testing.T) {
	tab := gongTable(t)
	d, err := tab.Evaluate(typicalUser, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Values) != 12 || !d.Values["active"].Equal(Bool(true)) || d.Values["userName"].String() != "ann.lee@contoso.com" {
		t.Errorf("unexpected desired values: %v", d.Values)
	}
	soft := AttributeMap{"IsSoftDeleted": Str("True")}
	if d, _ := tab.Evaluate(soft, nil, true); !d.Values["active"].Equal(Bool(false)) {
		t.Errorf("soft-deleted user: active = %v", d.Values["active"])
	}
}

// BenchmarkGongPreset measures one user through the whole Gong table per iteration.
func BenchmarkGongPreset(b *testing.B) {
	tab := gongTable(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tab.Evaluate(typicalUser, nil, false); err != nil {
			b.Fatal(err)
		}
	}
}

// EvaluateInto reuses the caller's map: a value of the object evaluated before must not stay in it.
func TestEvaluateIntoKeepsNothingOfTheObjectBefore(t *testing.T) {
	tab := gongTable(t)
	values := map[string]Value{"stale": Str("from elsewhere")}
	if _, err := tab.EvaluateInto(typicalUser, nil, false, values); err != nil {
		t.Fatal(err)
	}
	bare := AttributeMap{"userPrincipalName": Str("bo@contoso.com"), "IsSoftDeleted": Bool(true)}
	d, err := tab.EvaluateInto(bare, nil, false, values)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Value{"userName": Str("bo@contoso.com"), "active": Bool(false)}
	if len(d.Values) != len(want) || len(values) != len(want) {
		t.Fatalf("values %v, want %v", d.Values, want)
	}
	for k, v := range want {
		if !d.Values[k].Equal(v) {
			t.Errorf("%s = %v, want %v", k, d.Values[k], v)
		}
	}
	if d, err := tab.EvaluateInto(bare, nil, false, nil); err != nil || len(d.Values) != len(want) {
		t.Errorf("nil map: %v, %v", d.Values, err)
	}
}

// BenchmarkGongPresetInto is BenchmarkGongPreset evaluating into one reused map, as evaluation does.
func BenchmarkGongPresetInto(b *testing.B) {
	tab := gongTable(b)
	values := map[string]Value{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tab.EvaluateInto(typicalUser, nil, false, values); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGongExpressionOnly isolates the expression engine's share: Not([IsSoftDeleted]).
func BenchmarkGongExpressionOnly(b *testing.B) {
	e := mustCompile(b, `Not([IsSoftDeleted])`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Eval(typicalUser, nil); err != nil {
			b.Fatal(err)
		}
	}
}

const complexExpr = `IgnoreFlowIfNullOrEmpty(Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".", Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), Replace([domain], , "(?<d>[a-z]+)\\.local", "d", "contoso", , )))), "0", FormatDateTime([StatusHireDate], , "yyyy-MM-ddzzz", "yyyyMMdd")))`

// BenchmarkCompile measures compiling a complex expression (regex and date format precompiled).
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(complexExpr, CompileOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalComplex measures evaluating the same complex expression for one user.
func BenchmarkEvalComplex(b *testing.B) {
	e := mustCompile(b, complexExpr)
	attrs := AttributeMap{"Active": Str("1"), "StatusHireDate": Str("2021-07-01-07:00"), "PreferredFirstName": Str("Zoë"),
		"PreferredLastName": Str("Ångström"), "domain": Str("corp.local")}
	env := testEnv(1)
	r, err := e.Eval(attrs, env)
	if err != nil || r.Value.String() != "z.angstrom@contoso.local" {
		b.Fatalf("%v %v", r.Value, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Eval(attrs, env); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMatchOrder checks the matching values come in precedence order, ties in table order, and that
// an empty value is no matching value.
func TestMatchOrder(t *testing.T) {
	tab := &Table{Mappings: []Mapping{
		{Target: "c", Kind: Constant, Constant: "3", Matching: 2},
		{Target: "a", Kind: Constant, Constant: "1", Matching: 1},
		{Target: "e", Kind: Constant, Constant: "", Matching: 1},
		{Target: "d", Kind: Constant, Constant: "4", Matching: 2},
		{Target: "b", Kind: Constant, Constant: "2", Matching: 1},
	}}
	d, err := tab.Evaluate(AttributeMap{}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range d.Match {
		got = append(got, m.Target+"="+m.Value)
	}
	if want := []string{"a=1", "b=2", "c=3", "d=4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Match = %v, want %v", got, want)
	}
}
