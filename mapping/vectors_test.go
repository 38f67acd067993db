package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

// TestDocumentedVectors has one case (or group of cases) per documented example of
// https://learn.microsoft.com/entra/identity/app-provisioning/functions-for-customizing-application-data; the row number is in every case name.
func TestDocumentedVectors(t *testing.T) {
	hire := func(d time.Duration) string { return fixedNow.Add(d).Format(time.RFC3339) }
	runEvalCases(t, []evalCase{
		{name: "row01_Append", expr: `Append([userPrincipalName], ".test")`,
			attrs: AttributeMap{"userPrincipalName": Str("John.Doe@contoso.com")}, want: Str("John.Doe@contoso.com.test")},
		{name: "row02_BitAnd_hex", expr: `BitAnd(&HF, &HF7)`, want: Int(7)},
		{name: "row03_CBool_same", expr: `CBool([attribute1] = [attribute2])`,
			attrs: AttributeMap{"attribute1": Str("x"), "attribute2": Str("x")}, want: Bool(true)},
		{name: "row03_CBool_different", expr: `CBool([attribute1] = [attribute2])`,
			attrs: AttributeMap{"attribute1": Str("x"), "attribute2": Str("X")}, want: Bool(false)},
		{name: "row03_CBool_both_null", expr: `CBool([attribute1] = [attribute2])`, want: Bool(false)},
		{name: "row04_CDate_offset_date", expr: `CDate([StatusHireDate])`,
			attrs: AttributeMap{"StatusHireDate": Str("2020-03-16-07:00")}, wantStr: strp("3/16/2020 7:00:00 AM")},
		{name: "row07_Coalesce", expr: `Coalesce([mail],[userPrincipalName])`,
			attrs: AttributeMap{"userPrincipalName": Str("John.Doe@contoso.com")}, want: Str("John.Doe@contoso.com")},
		{name: "row08_ConvertToBase64", expr: `ConvertToBase64("Hello world!")`, want: Str("SABlAGwAbABvACAAdwBvAHIAbABkACEA")},
		{name: "row09_ConvertToUTF8Hex", expr: `ConvertToUTF8Hex("Hello world!")`, want: Str("48656C6C6F20776F726C6421")},
		{name: "row10_CStr", expr: `CStr([dn])`, attrs: AttributeMap{"dn": Str("cn=Joe,dc=contoso,dc=com")}, want: Str("cn=Joe,dc=contoso,dc=com")},
		{name: "row11_DateAdd_d", expr: `DateAdd("d", 7, CDate([StatusHireDate]))`,
			attrs: AttributeMap{"StatusHireDate": Str("2012-03-16-07:00")}, wantStr: strp("3/23/2012 7:00:00 AM")},
		{name: "row13_DateAdd_ww", expr: `DateAdd("ww", 2, CDate([StatusHireDate]))`,
			attrs: AttributeMap{"StatusHireDate": Str("2012-03-16-07:00")}, wantStr: strp("3/30/2012 7:00:00 AM")},
		{name: "row15_DateAdd_yyyy", expr: `DateAdd("yyyy", 2, CDate([StatusHireDate]))`,
			attrs: AttributeMap{"StatusHireDate": Str("2012-03-16-07:00")}, wantStr: strp("3/16/2014 7:00:00 AM")},
		{name: "row16_DateDiff_d", expr: `DateDiff("d", [date1], [date2])`,
			attrs: AttributeMap{"date1": Str("2021-08-18+08:00"), "date2": Str("2021-08-31+08:00")}, want: Int(13)},
		{name: "row17_DateDiff_d_negative", expr: `DateDiff("d", [date1], [date2])`,
			attrs: AttributeMap{"date1": Str("8/25/2021 5:41:18 PM"), "date2": Str("2012-03-16-07:00")}, want: Int(-3449)},
		{name: "row21_DateDiff_d_same", expr: `DateDiff("d", [date1], [date2])`,
			attrs: AttributeMap{"date1": Str("2021-08-31+08:00"), "date2": Str("2021-08-31+08:00")}, want: Int(0)},
		{name: "row24_DateDiff_s", expr: `DateDiff("s", [date1], [date2])`,
			attrs: AttributeMap{"date1": Str("2021-08-24"), "date2": Str("2021-08-25")}, want: Int(86400)},
		{name: "row25_Switch_active1_hire_in_3_days", expr: row25,
			attrs: AttributeMap{"Active": Str("1"), "StatusHireDate": Str(hire(3 * 24 * time.Hour))}, want: Str("True")},
		{name: "row25_Switch_active1_hire_in_10_days", expr: row25,
			attrs: AttributeMap{"Active": Str("1"), "StatusHireDate": Str(hire(10 * 24 * time.Hour))}, want: Str("False")},
		{name: "row25_Switch_active0", expr: row25,
			attrs: AttributeMap{"Active": Str("0"), "StatusHireDate": Str(hire(3 * 24 * time.Hour))}, want: Str("False")},
		{name: "row25_Switch_other_gives_omitted_default", expr: row25,
			attrs: AttributeMap{"Active": Str("2")}, want: Null()},
		{name: "row26_DateFromNum", expr: `DateFromNum(129699324000000000)`,
			want: Date(time.Date(2012, 1, 1, 23, 0, 0, 0, time.UTC))},
		{name: "row27_FormatDateTime_literal_Z", expr: `FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")`,
			attrs: AttributeMap{"extensionAttribute1": Str("20150123105347.1Z")}, want: Str("2015-01-23")},
		{name: "row29_IgnoreFlow_null", expr: `IgnoreFlowIfNullOrEmpty([department])`, want: Null(), noFlow: true},
		{name: "row29_IgnoreFlow_empty", expr: `IgnoreFlowIfNullOrEmpty([department])`,
			attrs: AttributeMap{"department": Str("")}, want: Str(""), noFlow: true},
		{name: "row29_IgnoreFlow_value_flows", expr: `IgnoreFlowIfNullOrEmpty([department])`,
			attrs: AttributeMap{"department": Str("Sales")}, want: Str("Sales")},
		{name: "row30_IgnoreFlow_Switch_no_key", expr: row30, attrs: AttributeMap{"prefix": Str("9999")}, want: Str(""), noFlow: true},
		{name: "row30_IgnoreFlow_Switch_null", expr: row30, want: Str(""), noFlow: true},
		{name: "row30_IgnoreFlow_Switch_key", expr: row30, attrs: AttributeMap{"prefix": Str("3445")}, want: Str("Prof. Dr.")},
		{name: "row31_IIF_true", expr: `IIF([country]="USA",[country],[department])`,
			attrs: AttributeMap{"country": Str("USA"), "department": Str("Sales")}, want: Str("USA")},
		{name: "row31_IIF_false", expr: `IIF([country]="USA",[country],[department])`,
			attrs: AttributeMap{"country": Str("NZ"), "department": Str("Sales")}, want: Str("Sales")},
		{name: "row31_IIF_null_condition_fails", expr: `IIF([country]="USA",[country],[department])`,
			attrs: AttributeMap{"department": Str("Sales")}, want: Str("Sales")},
		{name: "row35_InStr", expr: `InStr("The quick brown fox","quick")`, want: Int(5)},
		{name: "row37_IsNull_absent", expr: `IsNull([displayName])`, want: Bool(true)},
		{name: "row37_IsNull_empty_is_not_null", expr: `IsNull([displayName])`, attrs: AttributeMap{"displayName": Str("")}, want: Bool(false)},
		{name: "row38_IsNullOrEmpty_absent", expr: `IsNullOrEmpty([displayName])`, want: Bool(true)},
		{name: "row38_IsNullOrEmpty_empty", expr: `IsNullOrEmpty([displayName])`, attrs: AttributeMap{"displayName": Str("")}, want: Bool(true)},
		{name: "row38_IsNullOrEmpty_value", expr: `IsNullOrEmpty([displayName])`, attrs: AttributeMap{"displayName": Str("Ann")}, want: Bool(false)},
		{name: "row39_Switch_IsPresent_only_direct", expr: row39, attrs: AttributeMap{"directManager": Str("m1")}, want: Str("m1")},
		{name: "row39_Switch_IsPresent_direct_and_director", expr: row39,
			attrs: AttributeMap{"directManager": Str("m1"), "director": Str("d1")}, want: Str("d1")},
		{name: "row39_Switch_IsPresent_none", expr: row39, want: Null()},
		{name: "row40_Item_first", expr: `Item([proxyAddresses], 1)`,
			attrs: AttributeMap{"proxyAddresses": Multi([]string{"SMTP:a@x", "smtp:b@x"})}, want: Str("SMTP:a@x")},
		{name: "row41_Left", expr: `Left("John Doe", 3)`, want: Str("Joh")},
		{name: "row42_NormalizeDiacritics", expr: `NormalizeDiacritics([givenName])`, attrs: AttributeMap{"givenName": Str("Zoë")}, want: Str("Zoe")},
		{name: "row43_Now", expr: `Now()`, wantStr: strp("7/2/2021 3:33:38 PM")},
		{name: "row44_NumFromDate_FormatDateTime_zzz", expr: row44,
			attrs: AttributeMap{"ContractEndDate": Str("2020-12-31-08:00")}, want: Int(fileTime(t, "2021-01-01T07:59:59Z"))},
		{name: "row45_NumFromDate_SuccessFactors", expr: row45,
			attrs: AttributeMap{"endDate": Str("1/15/2021 05:30:00 PM")}, want: Int(fileTime(t, "2021-01-16T07:59:59Z"))},
		{name: "row46_PCase", expr: `PCase([firstName])`, attrs: AttributeMap{"firstName": Str("PABLO GONSALVES (SECOND)")}, want: Str("Pablo Gonsalves (Second)")},
		{name: "row52_RemoveDuplicates", expr: `RemoveDuplicates([proxyAddresses])`,
			attrs: AttributeMap{"proxyAddresses": Multi([]string{"a", "b", "a", "c", "b"})}, want: Multi([]string{"a", "b", "c"})},
		{name: "row53_Replace_string", expr: `Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )`,
			attrs: AttributeMap{"BusinessTitle": Str("Product Developer")}, want: Str("Software Engineer")},
		{name: "row54_Replace_template", expr: `Replace([UserID],"<username>", , , , , "<username>@contoso.com")`,
			attrs: AttributeMap{"UserID": Str("jsmith")}, want: Str("jsmith@contoso.com")},
		{name: "row62_Split_trims", expr: `Split([extensionAttribute5], ",")`,
			attrs: AttributeMap{"extensionAttribute5": Str("PermissionSetOne, PermissionSetTwo")}, want: Multi([]string{"PermissionSetOne", "PermissionSetTwo"})},
		{name: "row66_ToLower_Join", expr: `ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [PreferredFirstName], [PreferredLastName]))), "contoso.com"))`,
			attrs: AttributeMap{"PreferredFirstName": Str("John"), "PreferredLastName": Str("Smith")}, want: Str("john.smith@contoso.com")},
		{name: "row69_Replace_remove_suffix", expr: `Replace([mail], "@contoso.com", , ,"", ,)`,
			attrs: AttributeMap{"mail": Str("john.doe@contoso.com")}, want: Str("john.doe")},
		{name: "row74_Switch_IsPresent_absent", expr: `Switch(IsPresent([jobTitle]), "DefaultValue", "True", [jobTitle])`, want: Str("DefaultValue")},
		{name: "row74_Switch_IsPresent_present", expr: `Switch(IsPresent([jobTitle]), "DefaultValue", "True", [jobTitle])`,
			attrs: AttributeMap{"jobTitle": Str("Engineer")}, want: Str("Engineer")},
	})
}

const (
	row25 = `Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), "0", "False")`
	row30 = `IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))`
	row39 = `Switch(IsPresent([directManager]),[directManager], IsPresent([skiplevelManager]),[skiplevelManager], IsPresent([director]),[director])`
	row44 = `NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))`
	row45 = `NumFromDate(Join("",FormatDateTime([endDate], ,"M/d/yyyy hh:mm:ss tt","yyyy-MM-dd")," 23:59:59-08:00"))`
	row61 = `SelectUniqueValue(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [PreferredFirstName], [PreferredLastName]))), "contoso.com"), Join("@", NormalizeDiacritics(StripSpaces(Join(".", Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"), Join("@", NormalizeDiacritics(StripSpaces(Join(".", Mid([PreferredFirstName], 1, 2), [PreferredLastName]))), "contoso.com"))`
)

// fileTime computes the expected AD FILETIME independently: seconds since 1601-01-01 times 10^7.
func fileTime(t *testing.T, rfc3339 string) int64 {
	t.Helper()
	d, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		t.Fatal(err)
	}
	return (d.Unix() + 11644473600) * 10000000
}

func TestVectorRow44Value(t *testing.T) {
	// Hand-computed: 2021-01-01T07:59:59Z is 1609487999 Unix seconds.
	if got := fileTime(t, "2021-01-01T07:59:59Z"); got != 132539615990000000 {
		t.Fatalf("fileTime = %d", got)
	}
}

func TestVectorRow28Guid(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	e := mustCompile(t, `Guid()`)
	a, err := e.Eval(nil, testEnv(7))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Eval(nil, testEnv(7))
	c, _ := e.Eval(nil, testEnv(8))
	if !re.MatchString(a.Value.String()) {
		t.Errorf("row28: %q is not a version-4 GUID", a.Value.String())
	}
	if a.Value.String() != b.Value.String() {
		t.Errorf("row28: same Env.Rand gave %q and %q", a.Value, b.Value)
	}
	if a.Value.String() == c.Value.String() {
		t.Errorf("row28: different Env.Rand gave the same GUID %q", a.Value)
	}
	// Two GUIDs in one evaluation come from the same stream and differ.
	r := mustEval(t, `Join(",", Guid(), Guid())`, nil, testEnv(9))
	if parts := strings.Split(r.Value.String(), ","); len(parts) != 2 || parts[0] == parts[1] {
		t.Errorf("row28: %q", r.Value)
	}
}

func TestVectorRows32And33BooleanEmulation(t *testing.T) {
	and := mustCompile(t, `IIF([country]="USA",IIF([state]="CA","True","False"),"False")`)
	or := mustCompile(t, `IIF([country]="USA","True",IIF([state]="CA","True","False"))`)
	for _, country := range []string{"USA", "NZ", ""} {
		for _, state := range []string{"CA", "WA", ""} {
			attrs := AttributeMap{}
			if country != "" {
				attrs["country"] = Str(country)
			}
			if state != "" {
				attrs["state"] = Str(state)
			}
			a, err := and.Eval(attrs, nil)
			if err != nil {
				t.Fatal(err)
			}
			o, err := or.Eval(attrs, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantAnd := fmt.Sprint(country == "USA" && state == "CA")
			wantOr := fmt.Sprint(country == "USA" || state == "CA")
			if !strings.EqualFold(a.Value.String(), wantAnd) {
				t.Errorf("row32 AND country=%q state=%q: got %s want %s", country, state, a.Value, wantAnd)
			}
			if !strings.EqualFold(o.Value.String(), wantOr) {
				t.Errorf("row33 OR country=%q state=%q: got %s want %s", country, state, o.Value, wantOr)
			}
		}
	}
}

func TestVectorRow34SwitchNullWorkaround(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "row34_empty", expr: `Switch([country],[country],"","Other")`, attrs: AttributeMap{"country": Str("")}, want: Str("Other")},
		{name: "row34_null", expr: `Switch([country],[country],"","Other")`, want: Str("Other")},
		{name: "row34_value", expr: `Switch([country],[country],"","Other")`, attrs: AttributeMap{"country": Str("NZ")}, want: Str("NZ")},
	})
}

func TestVectorRows49And50RandomString(t *testing.T) {
	count := func(s string, f func(rune) bool) int {
		n := 0
		for _, r := range s {
			if f(r) {
				n++
			}
		}
		return n
	}
	special := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
	e49 := mustCompile(t, `RandomString(6,3,0,0,3)`)
	e50 := mustCompile(t, `RandomString(10,2,2,2,1,"?,")`)
	for seed := range uint64(50) {
		env := testEnv(seed)
		r, err := e49.Eval(nil, env)
		if err != nil {
			t.Fatal(err)
		}
		s := r.Value.String()
		if len(s) != 6 || count(s, unicode.IsDigit) != 3 || count(s, unicode.IsLower) != 3 {
			t.Errorf("row49 seed %d: %q is not 3 digits + 3 lowercase", seed, s)
		}
		r, err = e50.Eval(nil, env)
		if err != nil {
			t.Fatal(err)
		}
		s = r.Value.String()
		if len(s) != 10 || count(s, unicode.IsDigit) < 2 || count(s, special) < 2 || count(s, unicode.IsUpper) < 2 ||
			count(s, unicode.IsLower) < 1 || strings.ContainsAny(s, "?,") {
			t.Errorf("row50 seed %d: %q breaks the rules", seed, s)
		}
	}
	// Deterministic given Env.Rand.
	a, _ := e50.Eval(nil, testEnv(3))
	b, _ := e50.Eval(nil, testEnv(3))
	if a.Value.String() != b.Value.String() {
		t.Errorf("row50: not deterministic under a fixed Env.Rand: %q vs %q", a.Value, b.Value)
	}
}

func TestVectorRow51Redact(t *testing.T) {
	attrs := AttributeMap{"userPrincipalName": Str("ann@contoso.com")}
	for _, tc := range []struct{ expr, want string }{
		{`Redact([userPrincipalName])`, "ann@contoso.com"},
		{`Redact("StringToBeRedacted")`, "StringToBeRedacted"},
		{`Redact(RandomString(6,3,0,0,3))`, ""},
	} {
		r := mustEval(t, tc.expr, attrs, testEnv(1))
		if !r.Redacted || !r.Flow {
			t.Errorf("row51 %s: Redacted=%v Flow=%v, want both true", tc.expr, r.Redacted, r.Flow)
		}
		if tc.want != "" && r.Value.String() != tc.want {
			t.Errorf("row51 %s: the value must still flow, got %q", tc.expr, r.Value)
		}
		if tc.want == "" && len(r.Value.String()) != 6 {
			t.Errorf("row51 %s: got %q", tc.expr, r.Value)
		}
	}
	if r := mustEval(t, `[userPrincipalName]`, attrs, nil); r.Redacted {
		t.Error("row51: an expression without Redact is not redacted")
	}
	// Through the mapping table, the target path is marked for the log.
	tab := Table{Mappings: []Mapping{{Target: "password", Kind: Expression, Expr: mustCompile(t, `Redact("s3cret")`)}}}
	d, err := tab.Evaluate(attrs, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Redacted["password"] || d.Values["password"].String() != "s3cret" {
		t.Errorf("row51 table: %+v", d)
	}
}

func TestVectorRow61SelectUniqueValue(t *testing.T) {
	e := mustCompile(t, row61)
	attrs := AttributeMap{"PreferredFirstName": Str("John"), "PreferredLastName": Str("Smith")}
	for _, tc := range []struct {
		taken []string
		want  string
	}{
		{nil, "John.Smith@contoso.com"},
		{[]string{"John.Smith@contoso.com"}, "J.Smith@contoso.com"},
		{[]string{"John.Smith@contoso.com", "J.Smith@contoso.com"}, "Jo.Smith@contoso.com"},
	} {
		var asked []string
		env := testEnv(1)
		env.ValueExists = func(v string) (bool, error) {
			asked = append(asked, v)
			for _, x := range tc.taken {
				if x == v {
					return true, nil
				}
			}
			return false, nil
		}
		r, err := e.Eval(attrs, env)
		if err != nil {
			t.Fatalf("row61 taken=%v: %v", tc.taken, err)
		}
		if r.Value.String() != tc.want {
			t.Errorf("row61 taken=%v: got %q want %q", tc.taken, r.Value, tc.want)
		}
		if len(asked) != len(tc.taken)+1 {
			t.Errorf("row61 taken=%v: asked the target %v, candidates must be tried lazily", tc.taken, asked)
		}
	}
	env := testEnv(1)
	env.ValueExists = func(string) (bool, error) { return true, nil }
	if _, err := e.Eval(attrs, env); !errors.Is(err, ErrAllValuesExist) {
		t.Errorf("row61 all taken: err = %v, want ErrAllValuesExist", err)
	}
	if _, err := e.Eval(attrs, nil); !errors.Is(err, ErrNeedsTarget) {
		t.Errorf("row61 without target: err = %v, want ErrNeedsTarget", err)
	}
	env.ValueExists = func(string) (bool, error) { return false, errors.New("boom") }
	if _, err := e.Eval(attrs, env); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("row61 target error: %v", err)
	}
	// Documented: only at the top level.
	if _, err := Compile(`ToLower(SelectUniqueValue("a", "b"))`, CompileOptions{}); err == nil {
		t.Error("row61: nested SelectUniqueValue must not compile")
	}
}

func TestVectorRow73SwitchVersusIIF(t *testing.T) {
	sw := `Switch([companyName], "External", "Company A", "A", "Company B", "B")`
	iif := `IIF([companyName] = "Company A", "A", IIF([companyName] = "Company B", "B", "External"))`
	for _, tc := range []struct {
		attrs AttributeMap
		want  string
	}{
		{AttributeMap{"companyName": Str("Company A")}, "A"},
		{AttributeMap{"companyName": Str("Company B")}, "B"},
		{AttributeMap{"companyName": Str("company a")}, "External"},
		{AttributeMap{"companyName": Str("Fabrikam")}, "External"},
		{nil, "External"},
	} {
		for _, src := range []string{sw, iif} {
			if r := mustEval(t, src, tc.attrs, nil); r.Value.String() != tc.want {
				t.Errorf("row73 %s with %v: got %q want %q", src, tc.attrs, r.Value, tc.want)
			}
		}
	}
}
