package body

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAppendJSONMatchesEncodingJSON compares the fast encoder with json.Marshal, the oracle, on
// request bodies and on strings of every byte and tricky rune.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	var all strings.Builder
	for c := range 256 {
		all.WriteByte(byte(c))
	}
	values := []any{
		nil, true, false, 0, -7, int64(math.MaxInt64), int32(-3), 0.0, 1.5, -2.25, 1e-7, 1.5e-7, 1e21, 123456789.0, 1e20, 5e-324,
		"", "plain", all.String(), "a\u2028b\u2029c", "<tag>&amp;", "\xff\xfe", "é中🙂", "\x7f",
		[]any{}, []any(nil), []string(nil), []string{"a", "b"}, map[string]any(nil), map[string]string{"z": "1", "a": "2"},
		BuildUser(map[string]any{"userName": "a<b>@x", "active": true, `emails[type eq "work"].value`: "a@x",
			"name.givenName": "Ä", SchemaGong + ":country": "US", SchemaEnterprise + ":manager": "m-1"}),
		PatchBody([]PatchOp{{Op: "add", Path: "members", Value: []map[string]string{{"value": "u1"}}},
			{Op: "replace", Value: map[string]any{"active": false}}, {Op: "remove", Path: `members[value eq "x"]`}}),
		[]map[string]any{{"value": "x", "primary": true}},
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, rnd.IntN(12))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		values = append(values, string(b), rnd.NormFloat64()*math.Pow(10, float64(rnd.IntN(50)-25)))
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := AppendJSON(nil, v)
		if !ok || string(got) != string(want) {
			t.Errorf("%#v:\n got %s (ok %v)\nwant %s", v, got, ok, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), struct{}{}, map[string]any{"x": []any{math.Inf(-1)}}, uint(3)} {
		if _, ok := AppendJSON(nil, v); ok {
			t.Errorf("%#v: encoded, want the json.Marshal fallback", v)
		}
	}
}

func BenchmarkEncodeCreateBody(b *testing.B) {
	u := BuildUser(map[string]any{"userName": "henrietta.becker9683@contoso.example", "active": true, "title": "Accountant",
		"externalId": "henrietta.becker9683", "locale": "fr-FR", "name.givenName": "Henrietta", "name.familyName": "Becker",
		`emails[type eq "work"].value`: "henrietta.becker9683@contoso.example", `phoneNumbers[type eq "work"].value`: "+33 1 55 55 2752",
		SchemaGong + ":country": "France", SchemaGong + ":stateOrProvince": "IDF", SchemaEnterprise + ":manager": "a3c43a4a-1b06-4449-83bd-7bf5bbcbcfde"})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(u)
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = AppendJSON(make([]byte, 0, 1024), u)
		}
	})
}

// gongValues are the flat values of a Gong preset create, as the engine hands them to BuildUser.
func gongValues(i int) map[string]any {
	name := "user" + strings.Repeat("x", i%3) + "@contoso.com"
	return map[string]any{"userName": name, "active": true, "externalId": name, "displayName": "Ada Lovelace",
		"name.givenName": "Ada", "name.familyName": "Lovelace", `emails[type eq "work"].value`: name, "title": "Engineer",
		`phoneNumbers[type eq "work"].value`: "+1 555 0100", `phoneNumbers[type eq "mobile"].value`: "+1 555 0101",
		`addresses[type eq "work"].country`: "US", SchemaEnterprise + ":department": "R&D", SchemaEnterprise + ":manager": "m-1",
		SchemaGong + ":country": "US", "preferredLanguage": "en-US"}
}

// BenchmarkBuildUser builds a Gong create body from flat values, once per create.
func BenchmarkBuildUser(b *testing.B) {
	v := gongValues(0)
	b.ReportAllocs()
	for b.Loop() {
		_ = BuildUser(v)
	}
}

// TestParsePathCachedIsParsePath asks twice, so the second answer comes from the cache.
func TestParsePathCachedIsParsePath(t *testing.T) {
	for _, s := range []string{"userName", `emails[type eq "work"].value`, SchemaEnterprise + ":manager", "bad path", `x[type eq "a"`, ""} {
		want, wantErr := ParsePath(s)
		for range 2 {
			got, err := parsePathCached(s)
			if got != want || (err == nil) != (wantErr == nil) {
				t.Errorf("%q: got %+v, %v; want %+v, %v", s, got, err, want, wantErr)
			}
		}
	}
}
