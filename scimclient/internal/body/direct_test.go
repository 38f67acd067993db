package body

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// directPaths are the paths the random value sets draw from: the Gong preset's, case variants and
// collisions, filters on the attribute they set, the manager and its neighbours, extensions, a path
// that does not parse and one to "schemas".
var directPaths = []string{
	"userName", "UserName", "active", "externalId", "displayName", "title", "preferredLanguage", "name.givenName",
	"name.familyName", "name.formatted", "name", `emails[type eq "work"].value`, `emails[type eq "work"]`, `emails[type eq "home"].value`,
	`emails[Type eq "work"].value`, `Emails[type eq "work"].display`, `emails[type eq "work"].type`, `emails[type eq "work"].primary`,
	`emails[primary eq "x"].value`, `emails[kind eq "x"].type`, `emails[kind eq "work"].value`, `phoneNumbers[type eq "work"].value`, `phoneNumbers[type eq "mobile"].value`,
	`addresses[type eq "work"].country`, `addresses[type eq "work"].locality`, `addresses[type eq "work"].formatted`,
	SchemaEnterprise + ":department", SchemaEnterprise + ":manager", SchemaEnterprise + ":Manager.value", SchemaEnterprise + ":manager.displayName",
	SchemaEnterprise + ":employeeNumber", SchemaGong + ":country", SchemaGong + ":manager", "urn:ietf:params:scim:schemas:extension:Other:2.0:User:x",
	"urn:ietf:params:scim:schemas:core:2.0:User:userName", "urn:ietf:params:scim:schemas:core:2.0:User:nickName", "schemas", "bad path!", "",
}

// directValues are the values: every type a mapping yields, escapes, lists of each length, and
// what AppendUser leaves to BuildUser (other types, NaN).
var directValues = []any{
	nil, "", "a@x", "<&>\"\\\u2028\xff", true, false, int64(-3), 7, int32(9), 1.5, 1e21, math.NaN(), []string{}, []string{"a"},
	[]string{"a", "b"}, []any{"x"}, map[string]any{"k": "v"}, uint(3),
}

// TestAppendUserIsBuildUser compares AppendUser with AppendJSON(BuildUser(values)), the oracle, on
// the Gong preset's values and on random value sets; where AppendUser declines, the caller's
// fallback is that oracle itself, so only its answers are compared.
func TestAppendUserIsBuildUser(t *testing.T) {
	sets := []map[string]any{gongValues(0), gongValues(1), {},
		{SchemaEnterprise + ":manager": "m1", SchemaEnterprise + ":Manager.value": "m2"},
		{SchemaEnterprise + ":manager": "m1", SchemaEnterprise + ":manager.displayName": "M"},
		{SchemaEnterprise + ":manager": 7, SchemaEnterprise + ":department": "d"},
		{`emails[kind eq "work"].value`: "a", `emails[type eq "work"].value`: []string{"b", "c"}, `emails[type eq "work"].display`: "d"},
		{`emails[kind eq "x"].type`: "work", `emails[type eq "work"].value`: "v"},
	}
	rnd := rand.New(rand.NewPCG(11, 13))
	for range 20000 {
		m := map[string]any{}
		for range rnd.IntN(12) {
			m[directPaths[rnd.IntN(len(directPaths))]] = directValues[rnd.IntN(len(directValues))]
		}
		sets = append(sets, m)
	}
	taken := 0
	for i, values := range sets {
		if compareAppendUser(t, values) {
			taken++
		} else if i < 2 {
			t.Errorf("AppendUser declined the Gong preset's values %v", values)
		}
	}
	t.Logf("AppendUser took %d of %d value sets", taken, len(sets))
	if taken < len(sets)/5 {
		t.Errorf("AppendUser took %d of %d value sets; the fast path hardly applies", taken, len(sets))
	}
}

func compareAppendUser(t *testing.T, values map[string]any) bool {
	t.Helper()
	got, ok := AppendUser([]byte("prefix"), values)
	if !ok {
		if string(got) != "prefix" {
			t.Errorf("%v: declined, but changed dst to %s", values, got)
		}
		return false
	}
	want, wok := AppendJSON([]byte("prefix"), BuildUser(values))
	if !wok {
		w, _ := json.Marshal(BuildUser(values))
		want = append([]byte("prefix"), w...)
	}
	if string(got) != string(want) {
		t.Errorf("%#v:\n got %s\nwant %s", values, got, want)
	}
	return true
}

func FuzzAppendUser(f *testing.F) {
	f.Add(uint64(1), uint64(2), 5)
	f.Fuzz(func(t *testing.T, a, b uint64, n int) {
		rnd := rand.New(rand.NewPCG(a, b))
		m := map[string]any{}
		for range n % 12 {
			m[directPaths[rnd.IntN(len(directPaths))]] = directValues[rnd.IntN(len(directValues))]
		}
		compareAppendUser(t, m)
	})
}

// BenchmarkAppendUser is the create body from flat values: through BuildUser's maps and AppendJSON,
// and straight from the values.
func BenchmarkAppendUser(b *testing.B) {
	v := gongValues(0)
	b.Run("BuildUser+AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = AppendJSON(make([]byte, 0, 1024), BuildUser(v))
		}
	})
	b.Run("AppendUser", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = AppendUser(make([]byte, 0, 1024), v)
		}
	})
}
