package mapping

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNullVersusEmpty(t *testing.T) {
	null := AttributeMap{}
	empty := AttributeMap{"a": Str(""), "b": Str("")}
	cases := []struct {
		expr            string
		onNull, onEmpty Value
	}{
		{`IsNull([a])`, Bool(true), Bool(false)},
		{`IsNullOrEmpty([a])`, Bool(true), Bool(true)},
		{`IsPresent([a])`, Bool(false), Bool(false)},
		{`IsString([a])`, Bool(false), Bool(true)},
		{`Append([a], "x")`, Null(), Str("x")},
		{`ToUpper([a])`, Null(), Str("")},
		{`Mid([a], 1, 2)`, Null(), Str("")},
		{`Left([a], 2)`, Str(""), Str("")},
		{`Word([a], 1, " ")`, Str(""), Str("")},
		{`Coalesce([a], [b], "d")`, Str("d"), Str("d")},
		{`Coalesce([a], [b])`, Null(), Str("")},
		{`Join(",", [a], [b])`, Null(), Str("")},
		{`Join(",", [a], "x", [b], "y")`, Str("x,y"), Str("x,y")},
		{`Switch([a], "default", "", "empty")`, Str("empty"), Str("empty")},
		{`Switch([a], "default", "x", "X")`, Str("default"), Str("default")},
		{`IIF([a] = "", "yes", "no")`, Str("no"), Str("no")},
		{`IIF([a] <> "x", "yes", "no")`, Str("no"), Str("no")},
		{`Not([a])`, Bool(true), Bool(true)},
		{`CBool([a])`, Bool(false), Bool(false)},
		{`Count([a])`, Int(0), Int(0)},
		{`Split([a], ",")`, Null(), Multi([]string{})},
		{`CDate([a])`, Null(), Value{}},
		{`DateDiff("d", [a], "2021-01-01")`, Null(), Null()},
		{`Item([a], 1)`, Null(), Str("")},
		{`InStr([a], "x")`, Int(0), Int(0)},
	}
	for _, tc := range cases {
		r := mustEval(t, tc.expr, null, nil)
		if !r.Value.Equal(tc.onNull) {
			t.Errorf("%s with null: got %#v, want %#v", tc.expr, r.Value, tc.onNull)
		}
		if tc.expr == `CDate([a])` {
			if _, err := mustCompile(t, tc.expr).Eval(empty, nil); err == nil {
				t.Errorf("%s with \"\": want a parse error", tc.expr)
			}
			continue
		}
		r = mustEval(t, tc.expr, empty, nil)
		if !r.Value.Equal(tc.onEmpty) {
			t.Errorf("%s with \"\": got %#v, want %#v", tc.expr, r.Value, tc.onEmpty)
		}
	}
}

func TestMultiValued(t *testing.T) {
	attrs := AttributeMap{
		"proxy": Multi([]string{"SMTP:a@x", "", "smtp:b@x", "smtp:b@x"}),
		"none":  Multi(nil),
		"roles": Multi([]string{"Admin", "User", "Admin"}),
	}
	runEvalCases(t, []evalCase{
		{name: "Count", expr: `Count([proxy])`, attrs: attrs, want: Int(4)},
		{name: "Count_empty_multi", expr: `Count([none])`, attrs: attrs, want: Int(0)},
		{name: "Count_single", expr: `Count("x")`, want: Int(1)},
		{name: "Item_2", expr: `Item([proxy], 3)`, attrs: attrs, want: Str("smtp:b@x")},
		{name: "Item_0_is_null", expr: `Item([proxy], 0)`, attrs: attrs, want: Null()},
		{name: "Item_past_end_is_null", expr: `Item([proxy], 5)`, attrs: attrs, want: Null()},
		{name: "Join_all_items_skipping_empty", expr: `Join(";", [proxy], "z")`, attrs: attrs, want: Str("SMTP:a@x;smtp:b@x;smtp:b@x;z")},
		{name: "RemoveDuplicates", expr: `RemoveDuplicates([proxy])`, attrs: attrs, want: Multi([]string{"SMTP:a@x", "", "smtp:b@x"})},
		{name: "RemoveDuplicates_single_passthrough", expr: `RemoveDuplicates("x")`, want: Str("x")},
		{name: "Join_of_RemoveDuplicates", expr: `Join(",", RemoveDuplicates([roles]))`, attrs: attrs, want: Str("Admin,User")},
		{name: "string_function_reads_first_item", expr: `ToLower([proxy])`, attrs: attrs, want: Str("smtp:a@x")},
		{name: "IsNullOrEmpty_empty_multi", expr: `IsNullOrEmpty([none])`, attrs: attrs, want: Bool(true)},
		{name: "IsString_multi", expr: `IsString([proxy])`, attrs: attrs, want: Bool(false)},
		{name: "AppRoleAssignmentsComplex_dedupes", expr: `AppRoleAssignmentsComplex([roles])`, attrs: attrs, want: Multi([]string{"Admin", "User"})},
		{name: "AppRoleAssignmentsComplex_null", expr: `AppRoleAssignmentsComplex([missing])`, want: Null()},
		{name: "SingleAppRoleAssignment_first", expr: `SingleAppRoleAssignment([roles])`, attrs: attrs, want: Str("Admin")},
		{name: "SingleAppRoleAssignment_none", expr: `SingleAppRoleAssignment([none])`, attrs: attrs, want: Null()},
		{name: "Split_keeps_inner_spaces_drops_empty", expr: `Split(" a b ,, c ", ",")`, want: Multi([]string{"a b", "c"})},
		{name: "Split_no_delimiter_found", expr: `Split("abc", ";")`, want: Multi([]string{"abc"})},
		{name: "Split_then_Item", expr: `Item(Split("x|y|z", "|"), 2)`, want: Str("y")},
		{name: "Split_then_Count", expr: `Count(Split("x|y|z", "|"))`, want: Int(3)},
	})
}

func TestDateDiffRules(t *testing.T) {
	// §5.4: the pair of vector 17, every interval, and week-boundary cases.
	a17 := AttributeMap{"d1": Str("8/25/2021 5:41:18 PM"), "d2": Str("2012-03-16-07:00")}
	cases := []struct {
		name, interval, d1, d2 string
		want                   int64
	}{
		{"d_truncates_toward_zero", "d", "", "", -3449},
		{"m_counts_months", "m", "", "", -113},
		{"yyyy_counts_years", "yyyy", "", "", -9},
		{"ww_moves_to_sunday", "ww", "", "", -493},
		{"w_plain_weeks", "w", "", "", -492},
		{"q_quarters", "q", "", "", -38},
		{"h_hours", "h", "", "", -82786},
		{"interval_case_insensitive", "D", "", "", -3449},
		{"d_partial_day_truncates", "d", "2021-01-01T00:00:00Z", "2021-01-01T23:59:59Z", 0},
		{"d_negative_partial_day", "d", "2021-01-02T00:00:00Z", "2021-01-01T00:00:01Z", 0},
		{"m_across_year_one_day", "m", "2020-12-31", "2021-01-01", 1},
		{"yyyy_one_day", "yyyy", "2020-12-31", "2021-01-01", 1},
		{"q_one_day", "q", "2021-03-31", "2021-04-01", 1},
		{"ww_sat_to_sun", "ww", "2021-08-21", "2021-08-22", 1},
		{"ww_sun_to_sat", "ww", "2021-08-22", "2021-08-28", 0},
		{"w_sat_to_sun", "w", "2021-08-21", "2021-08-22", 0},
		{"n_minutes", "n", "2021-08-24T10:00:00Z", "2021-08-24T10:59:59Z", 59},
		{"s_with_offsets", "s", "2021-08-24T10:00:00+02:00", "2021-08-24T08:00:01Z", 1},
		{"centuries_apart", "s", "0001-01-01", "9999-12-31", 315537811200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			attrs := a17
			if tc.d1 != "" {
				attrs = AttributeMap{"d1": Str(tc.d1), "d2": Str(tc.d2)}
			}
			r := mustEval(t, `DateDiff("`+tc.interval+`", [d1], [d2])`, attrs, nil)
			if !r.Value.Equal(Int(tc.want)) {
				t.Errorf("got %s want %d", r.Value, tc.want)
			}
		})
	}
}

func TestDateAddAndParsing(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "DateAdd_m_clamps_month_end", expr: `DateAdd("m", 1, "2021-01-31")`, wantStr: strp("2/28/2021 12:00:00 AM")},
		{name: "DateAdd_yyyy_leap_day", expr: `DateAdd("yyyy", 1, "2020-02-29")`, wantStr: strp("2/28/2021 12:00:00 AM")},
		{name: "DateAdd_negative", expr: `DateAdd("d", -10, "2021-01-05T12:00:00Z")`, wantStr: strp("12/26/2020 12:00:00 PM")},
		{name: "DateAdd_q", expr: `DateAdd("q", 1, "2021-11-30")`, wantStr: strp("2/28/2022 12:00:00 AM")},
		{name: "DateAdd_hns", expr: `DateAdd("s", 30, DateAdd("n", 1, DateAdd("h", 2, "2021-08-24")))`, wantStr: strp("8/24/2021 2:01:30 AM")},
		{name: "DateAdd_service_format_input", expr: `DateAdd("d", 1, "8/25/2021 5:41:18 PM")`, wantStr: strp("8/26/2021 5:41:18 PM")},
		{name: "CDate_utc_midnight", expr: `CDate("2021-08-24")`, wantStr: strp("8/24/2021 12:00:00 AM")},
		{name: "CDate_plus_offset", expr: `CDate("2021-08-18+08:00")`, wantStr: strp("8/17/2021 4:00:00 PM")},
		{name: "CDate_rfc3339", expr: `CDate("2021-08-18T10:11:12.345-05:00")`, wantStr: strp("8/18/2021 3:11:12 PM")},
		{name: "CDate_roundtrip", expr: `CDate(CDate("2021-08-18T10:11:12Z"))`, wantStr: strp("8/18/2021 10:11:12 AM")},
		{name: "CStr_of_date", expr: `CStr(CDate("2021-08-18"))`, want: Str("8/18/2021 12:00:00 AM")},
		{name: "NumFromDate_DateFromNum_roundtrip", expr: `DateFromNum(NumFromDate("2021-08-18T10:11:12Z"))`, wantStr: strp("8/18/2021 10:11:12 AM")},
		{name: "Date_comparison", expr: `IIF(CDate("2021-01-01") < CDate("2021-01-02"), "earlier", "later")`, want: Str("earlier")},
		{name: "Int_comparison", expr: `IIF(DateDiff("d", "2021-01-01", "2021-01-10") >= 9, "y", "n")`, want: Str("y")},
		{name: "Numeric_string_ordering", expr: `IIF("10" > "9", "numeric", "string")`, want: Str("numeric")},
		{name: "String_equality_is_exact", expr: `IIF("007" = "7", "numeric", "string")`, want: Str("string")},
	})
	for _, bad := range []string{`CDate("not a date")`, `CDate("2021-13-01")`, `DateAdd("d", "x", "2021-01-01")`, `DateAdd("yyyy", 9000, "2021-01-01")`, `DateFromNum(-1)`, `NumFromDate("1500-01-01")`} {
		_, err := mustCompile(t, bad).Eval(nil, nil)
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Errorf("%s: err = %v, want *EvalError", bad, err)
			continue
		}
		if !strings.Contains(err.Error(), ee.Function) {
			t.Errorf("%s: message %q does not name the function", bad, err)
		}
	}
	_, err := mustCompile(t, `CDate([hire])`).Eval(AttributeMap{"hire": Str("31.12.2021")}, nil)
	if err == nil || !strings.Contains(err.Error(), `CDate (column 1)`) || !strings.Contains(err.Error(), `"31.12.2021"`) {
		t.Errorf("eval error must name function, column and value: %v", err)
	}
}

func TestFormatDateTimeSpecifiers(t *testing.T) {
	in := `"2021-08-05T07:04:09.1234567Z"`
	parse := `"yyyy-MM-ddTHH:mm:ss.fffffffK"`
	cases := []struct{ out, want string }{
		{"yyyy-MM-dd", "2021-08-05"},
		{"yy M d", "21 8 5"},
		{"MMM MMMM ddd dddd", "Aug August Thu Thursday"},
		{"h:mm:ss tt", "7:04:09 AM"},
		{"hh H HH m s t", "07 7 07 4 9 A"},
		{"f ff fff ffffff fffffff", "1 12 123 123456 1234567"},
		{"FFF", "123"},
		{"ss.FFFFFFF", "09.1234567"},
		{"%K", "Z"},
		{"K-K", "Z-Z"},
		{"zzz zz z", "+00:00 +00 +0"},
		{"'yyyy' \\d \"MM\"", "yyyy d MM"},
		{"%d", "5"},
		{"yyyyMMddHHmmss.0Z", "20210805070409.0Z"},
		{"o", "2021-08-05T07:04:09.1234567Z"},
		{"s", "2021-08-05T07:04:09"},
		{"u", "2021-08-05 07:04:09Z"},
		{"d", "08/05/2021"},
		{"yyyyy", "02021"},
	}
	for _, tc := range cases {
		t.Run(tc.out, func(t *testing.T) {
			expr := `FormatDateTime(` + in + `, , ` + parse + `, "` + strings.ReplaceAll(strings.ReplaceAll(tc.out, `\`, `\\`), `"`, `\"`) + `")`
			r := mustEval(t, expr, nil, nil)
			if r.Value.String() != tc.want {
				t.Errorf("%s: got %q want %q", expr, r.Value, tc.want)
			}
		})
	}
	runEvalCases(t, []evalCase{
		{name: "F_zero_drops_point", expr: `FormatDateTime("10:00:00", , "HH:mm:ss", "ss.FFF")`, want: Str("00")},
		{name: "three_argument_form", expr: `FormatDateTime("20150123105347.1Z", "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")`, want: Str("2015-01-23")},
		{name: "input_12h", expr: `FormatDateTime("8/25/2021 05:41:18 PM", , "M/d/yyyy hh:mm:ss tt", "yyyy-MM-ddTHH:mm:ss")`, want: Str("2021-08-25T17:41:18")},
		{name: "input_12am", expr: `FormatDateTime("8/25/2021 12:00:00 AM", , "M/d/yyyy hh:mm:ss tt", "HH")`, want: Str("00")},
		{name: "input_offset_to_utc", expr: `FormatDateTime("2020-12-31+08:00", , "yyyy-MM-ddzzz", "yyyy-MM-dd HH:mm K")`, want: Str("2020-12-30 16:00 +00:00")},
		{name: "AdjustToUniversal_K_is_Z", expr: `FormatDateTime("2020-12-31-08:00", "AdjustToUniversal", "yyyy-MM-ddzzz", "yyyy-MM-ddTHH:mmK")`, want: Str("2020-12-31T08:00Z")},
		{name: "no_zone_K_empty", expr: `FormatDateTime("2020-12-31", , "yyyy-MM-dd", "yyyyMMddK")`, want: Str("20201231")},
		{name: "month_names", expr: `FormatDateTime("05 Aug 2021", , "dd MMM yyyy", "MM/dd")`, want: Str("08/05")},
		{name: "two_digit_year", expr: `FormatDateTime("01/02/30", , "MM/dd/yy", "yyyy")`, want: Str("1930")},
		{name: "leading_trailing_white", expr: `FormatDateTime("  2021-08-05  ", , "yyyy-MM-dd", "dd")`, want: Str("05")},
		{name: "date_value_input", expr: `FormatDateTime(CDate("2021-08-05T01:02:03Z"), , "ignored", "yyyy-MM-ddTHH:mm:ssK")`, want: Str("2021-08-05T01:02:03Z")},
		{name: "null_source", expr: `FormatDateTime([missing], , "yyyy", "yyyy")`, want: Null()},
	})
	for _, bad := range []string{`"2021-8-05"`, `"2021-02-30"`, `"2021-08-05x"`} {
		if _, err := mustCompile(t, `FormatDateTime(`+bad+`, , "yyyy-MM-dd", "yyyy")`).Eval(nil, nil); err == nil ||
			!strings.Contains(err.Error(), "FormatDateTime") {
			t.Errorf("%s: want a FormatDateTime error, got %v", bad, err)
		}
	}
	for _, bad := range []string{
		`FormatDateTime("x", , "'yyyy", "yyyy")`,
		`FormatDateTime("x", , "yyyy", "ffffffff")`,
		`FormatDateTime("x", , "yyyy", "q")`,
		`FormatDateTime("x", "Sideways", "yyyy", "yyyy")`,
		`FormatDateTime("x", , , "yyyy")`,
	} {
		var ce *CompileError
		if _, err := Compile(bad, CompileOptions{}); !errors.As(err, &ce) || ce.Kind != InvalidArgument {
			t.Errorf("%s: want InvalidArgument CompileError, got %v", bad, err)
		}
	}
}

func TestReplaceModes(t *testing.T) {
	attrs := AttributeMap{"phone": Str("+1 (425) 555-0100"), "mail": Str("john.doe@contoso.com"), "nick": Str("john_doe72")}
	runEvalCases(t, []evalCase{
		{name: "string_all_occurrences", expr: `Replace("a-b-c", "-", , , "+", , )`, want: Str("a+b+c")},
		{name: "string_case_sensitive", expr: `Replace("Aa", "a", , , "x", , )`, want: Str("Ax")},
		{name: "string_five_args", expr: `Replace("a-b", "-", , , "")`, want: Str("ab")},
		{name: "template", expr: `Replace("jsmith", "<u>", , , , , "<u>@contoso.com (<u>)")`, want: Str("jsmith@contoso.com (jsmith)")},
		{name: "regex_remove", expr: `Replace([nick], , "[a-zA-Z_]*", , "", , )`, attrs: attrs, want: Str("72")},
		{name: "regex_named_groups", expr: `Replace([phone], , "\\+(?<isd>\\d+) \\((?<area>\\d+)\\) (?<num>.*)", , "${isd}-${area}-${num}", , )`, attrs: attrs, want: Str("1-425-555-0100")},
		{name: "regex_numbered_group_then_letter", expr: `Replace("ab", , "(a)", , "$1x", , )`, want: Str("axb")},
		{name: "regex_whole_match", expr: `Replace("ab", , "b", , "[$&]", , )`, want: Str("a[b]")},
		{name: "regex_dollar_literal", expr: `Replace("a", , "a", , "$$5", , )`, want: Str("$5")},
		{name: "regex_group_replacement", expr: `Replace([mail], , "(?<user>[^@]+)@(?<domain>.+)", "domain", "fabrikam.com", , )`, attrs: attrs, want: Str("john.doe@fabrikam.com")},
		{name: "regex_fallback_source_present", expr: `Replace([nick], , "(?<user>[^@]+)@.*", "user", , [mail], )`, attrs: attrs, want: Str("john_doe72")},
		{name: "regex_fallback_from_attribute", expr: `Replace([missing], , "(?<user>[^@]+)@.*", "user", , [mail], )`, attrs: attrs, want: Str("john.doe")},
		{name: "regex_fallback_no_match", expr: `Replace([missing], , "(?<user>[^@]+)@.*", "user", , "nomail", )`, want: Null()},
		{name: "null_source", expr: `Replace([missing], "a", , , "b", , )`, want: Null()},
		{name: "dynamic_pattern", expr: `Replace("a1b2", , [pat], , "#", , )`, attrs: AttributeMap{"pat": Str(`\d`)}, want: Str("a#b#")},
	})
	for _, bad := range []string{
		`Replace("a", , , , , , )`,
		`Replace("a", "x", "y", , "z", , )`,
		`Replace("a", , "(", , "z", , )`,
		`Replace("a", , "(?<=a)b", , "z", , )`,
		`Replace("a", , "(?<g>a)", "h", "z", , )`,
		`Replace("a", "x", , , , , )`,
	} {
		var ce *CompileError
		if _, err := Compile(bad, CompileOptions{}); !errors.As(err, &ce) || ce.Kind != InvalidArgument || ce.Function != "Replace" {
			t.Errorf("%s: want InvalidArgument CompileError for Replace, got %v", bad, err)
		}
	}
	if _, err := mustCompile(t, `Replace("a", , [p], , "z", , )`).Eval(AttributeMap{"p": Str("(")}, nil); err == nil {
		t.Error("a bad dynamic pattern must fail evaluation")
	}
}

func TestStringFunctions(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "PCase_basic", expr: `PCase("hello WORLD")`, want: Str("Hello World")},
		{name: "PCase_punctuation", expr: `PCase("jean-luc o'neil (jr.)")`, want: Str("Jean-Luc O'neil (Jr.)")},
		{name: "PCase_unicode", expr: `PCase("élodie ÅSE")`, want: Str("Élodie Åse")},
		{name: "PCase_separators_only", expr: `PCase("jean-luc picard", "-")`, want: Str("Jean-Luc picard")},
		{name: "PCase_digits", expr: `PCase("3RD street")`, want: Str("3rd Street")},
		{name: "Word_3", expr: `Word("The quick brown fox", 3, " ")`, want: Str("brown")},
		{name: "Word_many_delims", expr: `Word("This,string!has&many separators", 3, ",!&#")`, want: Str("has")},
		{name: "Word_runs_of_delims", expr: `Word("a,,b", 2, ",")`, want: Str("b")},
		{name: "Word_zero", expr: `Word("a b", 0, " ")`, want: Str("")},
		{name: "Word_too_few", expr: `Word("a b", 3, " ")`, want: Str("")},
		{name: "Word_null", expr: `Word([x], 1, " ")`, want: Str("")},
		{name: "Left_zero", expr: `Left("John", 0)`, want: Str("")},
		{name: "Left_negative_is_input", expr: `Left("John", -1)`, want: Str("John")},
		{name: "Left_longer", expr: `Left("John", 10)`, want: Str("John")},
		{name: "Left_runes", expr: `Left("Zoë Ä", 3)`, want: Str("Zoë")},
		{name: "Mid_basic", expr: `Mid("John Doe", 6, 3)`, want: Str("Doe")},
		{name: "Mid_past_end", expr: `Mid("John", 3, 10)`, want: Str("hn")},
		{name: "Mid_start_past_end", expr: `Mid("John", 9, 1)`, want: Str("")},
		{name: "Mid_zero_length", expr: `Mid("John", 1, 0)`, want: Str("")},
		{name: "Mid_runes", expr: `Mid("Zoë", 3, 1)`, want: Str("ë")},
		{name: "InStr_start", expr: `InStr("abcabc", "c", 4)`, want: Int(6)},
		{name: "InStr_binary_case", expr: `InStr("ABC", "b", 1, vbBinaryCompare)`, want: Int(0)},
		{name: "InStr_text_case", expr: `InStr("ABC", "b", 1, vbTextCompare)`, want: Int(2)},
		{name: "InStr_runes", expr: `InStr("ëëx", "x")`, want: Int(3)},
		{name: "InStr_missing", expr: `InStr("abc", "z")`, want: Int(0)},
		{name: "InStr_omitted_start", expr: `InStr("ABC", "c", , vbTextCompare)`, want: Int(3)},
		{name: "NormalizeDiacritics_table", expr: `NormalizeDiacritics("Ærøskøbing Straße Łódź Čapek Ångström")`, want: Str("AEroeskoebing Strasse Lodz Capek Angstrom")},
		{name: "StripSpaces", expr: `StripSpaces(" a b  c ")`, want: Str("abc")},
		{name: "StripSpaces_only_spaces", expr: "StripSpaces(\"a\tb\")", want: Str("a\tb")},
		{name: "ToUpper_invariant_simple_mapping", expr: `ToUpper("straße")`, want: Str("STRAßE")},
		{name: "ToLower_turkish", expr: `ToLower("İSTANBUL", "tr-TR")`, want: Str("istanbul")},
		{name: "ToUpper_turkish", expr: `ToUpper("istanbul", "tr-TR")`, want: Str("İSTANBUL")},
		{name: "ToLower_dynamic_culture", expr: `ToLower("ABC", [c])`, attrs: AttributeMap{"c": Str("en-US")}, want: Str("abc")},
		{name: "Not_bool", expr: `Not(IsNull([x]))`, want: Bool(false)},
		{name: "Not_string_true_any_case", expr: `Not("true")`, want: Bool(false)},
		{name: "Not_other", expr: `Not("yes")`, want: Bool(true)},
		{name: "Not_False", expr: `Not("False")`, want: Bool(true)},
		{name: "CBool_nonzero", expr: `CBool(5)`, want: Bool(true)},
		{name: "CBool_zero_string", expr: `CBool("0")`, want: Bool(false)},
		{name: "CBool_true_string", expr: `CBool("True")`, want: Bool(true)},
		{name: "CStr_bool", expr: `CStr(IsNull([x]))`, want: Str("True")},
		{name: "CStr_int", expr: `CStr(-42)`, want: Str("-42")},
		{name: "Join_ints", expr: `Join("", 1000, "-", &H10)`, want: Str("1000-16")},
		{name: "Append_constant", expr: `Append("a", [missing])`, want: Str("a")},
		{name: "escapes", expr: `"Company name: \"Contoso\" \\ \d"`, want: Str(`Company name: "Contoso" \ \d`)},
		{name: "bare_attribute", expr: `  [mail]  `, attrs: AttributeMap{"mail": Str("m")}, want: Str("m")},
		{name: "bare_int", expr: `-7`, want: Int(-7)},
		{name: "BitAnd_strings", expr: `BitAnd("12", 10)`, want: Int(8)},
		{name: "IIF_bool_condition", expr: `IIF(IsPresent([x]), "y", "n")`, attrs: AttributeMap{"x": Str("1")}, want: Str("y")},
		{name: "Switch_case_sensitive", expr: `Switch("a", "none", "A", "upper", "a", "lower")`, want: Str("lower")},
		{name: "Coalesce_skips_empty", expr: `Coalesce("", [x], "z")`, want: Str("z")},
		{name: "ConvertToBase64_non_bmp", expr: `ConvertToBase64("é😀")`, want: Str("6QA92ADe")},
	})
}

func TestEvalErrors(t *testing.T) {
	for _, tc := range []struct{ expr, fn, want string }{
		{`Mid("abc", 0, 1)`, "Mid", "start must be 1 or more"},
		{`Mid("abc", 1, -1)`, "Mid", "length cannot be negative"},
		{`Left("abc", "x")`, "Left", `NumChars "x" is not an integer`},
		{`BitAnd([a], 1)`, "BitAnd", "value1 is missing"},
		{`IIF("maybe", 1, 2)`, "IIF", `condition "maybe" is not a boolean`},
		{`CBool("maybe")`, "CBool", `"maybe"`},
		{`RandomString(300, 0, 0, 0, 0)`, "RandomString", "between 1 and 256"},
		{`RandomString(3, 2, 2, 0, 0)`, "RandomString", "more than the length"},
		{`RandomString(3, 1, 0, 0, 0, "0123456789")`, "RandomString", "removes every character"},
		{`DateAdd([i], 1, "2021-01-01")`, "DateAdd", `unknown interval "x"`},
		{`ToLower("a", [c])`, "ToLower", `unknown culture`},
		{`InStr("a", "a", 0)`, "InStr", "start must be 1 or more"},
		{`FormatDateTime("2021", , [f], "yyyy")`, "FormatDateTime", "unterminated"},
	} {
		_, err := mustCompile(t, tc.expr).Eval(AttributeMap{"i": Str("x"), "c": Str("not a culture!"), "f": Str("'yyyy")}, testEnv(1))
		var ee *EvalError
		if !errors.As(err, &ee) || ee.Function != tc.fn || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want *EvalError from %s containing %q", tc.expr, err, tc.fn, tc.want)
		}
	}
	// A broken random source is an error, not a panic or a hang.
	_, err := mustCompile(t, `Guid()`).Eval(nil, &Env{Rand: strings.NewReader("short")})
	if err == nil {
		t.Error("Guid with an exhausted Env.Rand must fail")
	}
	if _, err := mustCompile(t, `RandomString(8,1,1,1,1)`).Eval(nil, &Env{Rand: strings.NewReader("")}); err == nil {
		t.Error("RandomString with an exhausted Env.Rand must fail")
	}
	// A constant reader (every draw rejected) must not hang.
	if _, err := mustCompile(t, `RandomString(8,1,1,1,1)`).Eval(nil, &Env{Rand: constReader(0xff)}); err != nil {
		t.Error(err)
	}
}

type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestEnvDefaults(t *testing.T) {
	r := mustEval(t, `Now()`, nil, nil)
	now, _ := r.Value.AsTime()
	if d := time.Since(now); d < 0 || d > time.Minute {
		t.Errorf("Now() with nil Env = %v", now)
	}
	if r := mustEval(t, `Guid()`, nil, &Env{}); len(r.Value.String()) != 36 {
		t.Errorf("Guid() with crypto/rand = %q", r.Value)
	}
}

func TestConcurrentEval(t *testing.T) {
	e := mustCompile(t, `Join(" ", PCase([g]), ToUpper([s]), Replace([m], , "(?<u>[^@]+)@.*", "u", "x", , ), FormatDateTime([d], , "yyyy-MM-dd", "dd/MM/yyyy"), ToLower([s], "tr-TR"))`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attrs := AttributeMap{"g": Str("ann"), "s": Str("lee"), "m": Str("a@b"), "d": Str("2021-08-0" + string(rune('1'+i)))}
			for range 200 {
				r, err := e.Eval(attrs, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if want := "Ann LEE x@b 0" + string(rune('1'+i)) + "/08/2021 lee"; r.Value.String() != want {
					t.Errorf("got %q want %q", r.Value, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
