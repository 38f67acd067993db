package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

func sampleAnchor(kind Kind, i int) Anchor {
	return Anchor{
		Kind:      kind,
		SourceID:  fmt.Sprintf("src-%d", i),
		TargetID:  fmt.Sprintf("tgt-%d", i),
		Managed:   true,
		Hash:      fmt.Sprintf("%064x", i),
		MatchedBy: "userName",
		Values: map[string]any{
			"userName":                     fmt.Sprintf("user%d@contoso.com", i),
			"active":                       true,
			"displayName":                  fmt.Sprintf("User %d", i),
			"name.givenName":               "Given",
			"name.familyName":              fmt.Sprintf("Family%d", i),
			`emails[type eq "work"].value`: fmt.Sprintf("user%d@contoso.com", i),
			"title":                        "Engineer",
			"department":                   "R&D",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": int64(i),
			"roles": []string{"a", "b"},
		},
		ManagerID: fmt.Sprintf("src-%d", i/10),
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		UpdatedAt: time.Date(2025, 2, 3, 4, 5, 6, 7, time.UTC),
	}
}

func TestValuesRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want any // nil means same as in
	}{
		{"string", "x", nil},
		{"empty string", "", nil},
		{"unicode", "Zoë 日本", nil},
		{"true", true, nil},
		{"false", false, nil},
		{"int64", int64(-42), nil},
		{"int64 max", int64(math.MaxInt64), nil},
		{"int64 min", int64(math.MinInt64), nil},
		{"int", 7, nil},
		{"int32", int32(5), int64(5)},
		{"uint8", uint8(5), int64(5)},
		{"uint64", uint64(9), int64(9)},
		{"float64", 2.5, nil},
		{"float64 integral stays float", float64(2), nil},
		{"float64 inf", math.Inf(1), nil},
		{"float32", float32(0.5), 0.5},
		{"[]string", []string{"a", "", "c"}, nil},
		{"[]string empty", []string{}, nil},
		{"[]string nil", []string(nil), nil},
		{"[]any strings", []any{"a", "b"}, []string{"a", "b"}},
		{"[]any mixed", []any{"a", 1, 2.5, true}, []any{"a", int64(1), 2.5, true}},
		{"[]any empty", []any{}, []string{}},
		{"json.Number int", json.Number("12"), int64(12)},
		{"json.Number float", json.Number("1.5"), 1.5},
		{"nil", nil, nil},
		{"map", map[string]any{"n": 1, "s": []any{"x"}}, map[string]any{"n": int64(1), "s": []string{"x"}}},
		{"[]int", []int{1, 2}, []any{int64(1), int64(2)}},
		{"struct", struct{ A string }{"v"}, map[string]any{"A": "v"}},
		{"unencodable", make(chan int), nil}, // checked separately below
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Anchor{Kind: KindUser, SourceID: "s", Values: map[string]any{"v": tc.in}}
			var got Anchor
			if err := decodeAnchor(encodeAnchor(nil, &a), &got); err != nil {
				t.Fatal(err)
			}
			if tc.name == "unencodable" {
				if _, ok := got.Values["v"].(string); !ok {
					t.Errorf("unencodable value should come back as a string, got %T", got.Values["v"])
				}
				return
			}
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if !reflect.DeepEqual(got.Values["v"], want) {
				t.Errorf("got %#v (%T), want %#v (%T)", got.Values["v"], got.Values["v"], want, want)
			}
		})
	}
}

func TestAnchorRecordRoundTrip(t *testing.T) {
	full := sampleAnchor(KindGroup, 3)
	full.Disabled = true
	full.Members = []string{"m1", "m2"}
	cases := []struct {
		name string
		a    Anchor
	}{
		{"full", full},
		{"zero", Anchor{}},
		{"empty collections", Anchor{Members: []string{}, Values: map[string]any{}}},
		{"local time", Anchor{CreatedAt: time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("X", 3600))}},
		{"pre-1970", Anchor{UpdatedAt: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := encodeAnchor(nil, &tc.a)
			var got Anchor
			if err := decodeAnchor(rec, &got); err != nil {
				t.Fatal(err)
			}
			got.Kind, got.SourceID = tc.a.Kind, tc.a.SourceID
			if !got.CreatedAt.Equal(tc.a.CreatedAt) || !got.UpdatedAt.Equal(tc.a.UpdatedAt) {
				t.Errorf("times: got %v %v, want %v %v", got.CreatedAt, got.UpdatedAt, tc.a.CreatedAt, tc.a.UpdatedAt)
			}
			got.CreatedAt, got.UpdatedAt = tc.a.CreatedAt, tc.a.UpdatedAt
			if !reflect.DeepEqual(got, tc.a) {
				t.Errorf("got %#v\nwant %#v", got, tc.a)
			}
			// Every truncation and a trailing byte must be an error, not a panic.
			for i := range rec {
				var x Anchor
				if err := decodeAnchor(rec[:i], &x); err == nil {
					t.Errorf("truncated to %d bytes: no error", i)
				}
			}
			var x Anchor
			if err := decodeAnchor(append(rec, 0), &x); err == nil {
				t.Error("trailing byte: no error")
			}
		})
	}
}

func FuzzDecodeAnchor(f *testing.F) {
	a := sampleAnchor(KindUser, 1)
	a.Members = []string{"x"}
	a.Values["j"] = []any{1, "x"}
	f.Add(encodeAnchor(nil, &a))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 9, 200})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var x Anchor
		_ = decodeAnchor(rec, &x)
		_, _, _ = decodeAnchorHead(rec)
	})
}

func TestAnchorsCRUD(t *testing.T) {
	s, _ := openTest(t)

	if _, ok, err := s.Anchor(KindUser, "nope"); ok || err != nil {
		t.Fatalf("missing anchor: ok=%v err=%v", ok, err)
	}
	if m, err := s.Anchors(KindGroup); err != nil || len(m) != 0 {
		t.Fatalf("empty Anchors = %v, %v", m, err)
	}
	if _, ok, err := s.AnchorByTarget(KindUser, "nope"); ok || err != nil {
		t.Fatalf("missing target: ok=%v err=%v", ok, err)
	}

	u1, u2 := sampleAnchor(KindUser, 1), sampleAnchor(KindUser, 2)
	g1 := sampleAnchor(KindGroup, 1) // same source id as u1, other kind
	g1.Members = []string{"src-1", "src-2"}
	g1.Values = map[string]any{"displayName": "G"}
	unmanaged := Anchor{Kind: KindUser, SourceID: "src-9", Managed: false}
	if err := s.PutAnchors(u1, u2, g1, unmanaged); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		kind   Kind
		source string
		want   Anchor
	}{
		{KindUser, "src-1", u1},
		{KindUser, "src-2", u2},
		{KindGroup, "src-1", g1},
	}
	for _, tc := range tests {
		got, ok, err := s.Anchor(tc.kind, tc.source)
		if err != nil || !ok {
			t.Fatalf("Anchor(%s,%s): ok=%v err=%v", tc.kind, tc.source, ok, err)
		}
		assertAnchor(t, got, tc.want)
		byT, ok, err := s.AnchorByTarget(tc.kind, tc.want.TargetID)
		if err != nil || !ok {
			t.Fatalf("AnchorByTarget(%s,%s): ok=%v err=%v", tc.kind, tc.want.TargetID, ok, err)
		}
		assertAnchor(t, byT, tc.want)
	}
	got, _, _ := s.Anchor(KindUser, "src-9")
	if got.Managed || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("unmanaged anchor: %+v (timestamps should be filled)", got)
	}
	if n, err := s.CountAnchors(KindUser); err != nil || n != 3 {
		t.Errorf("CountAnchors = %d, %v", n, err)
	}

	all, err := s.Anchors(KindUser)
	if err != nil || len(all) != 3 {
		t.Fatalf("Anchors(user) = %d, %v", len(all), err)
	}
	assertAnchor(t, all["src-2"], u2)

	// Re-target u1: the index moves, CreatedAt is kept when the update leaves it zero.
	moved := u1
	moved.TargetID = "tgt-new"
	moved.CreatedAt = time.Time{}
	moved.UpdatedAt = time.Time{}
	before := time.Now()
	if err := s.PutAnchors(moved); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Anchor(KindUser, "src-1")
	if !got.CreatedAt.Equal(u1.CreatedAt) {
		t.Errorf("CreatedAt not kept: %v", got.CreatedAt)
	}
	if got.UpdatedAt.Before(before.Add(-time.Second)) {
		t.Errorf("UpdatedAt not refreshed: %v", got.UpdatedAt)
	}
	if _, ok, _ := s.AnchorByTarget(KindUser, "tgt-1"); ok {
		t.Error("old target id still indexed")
	}
	if a, ok, _ := s.AnchorByTarget(KindUser, "tgt-new"); !ok || a.SourceID != "src-1" {
		t.Errorf("new target id: %v %v", a, ok)
	}

	// Another anchor takes over tgt-2: the index follows the last write and deleting src-2 keeps it.
	thief := Anchor{Kind: KindUser, SourceID: "src-3", TargetID: "tgt-2", Managed: true}
	if err := s.PutAnchors(thief); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAnchors(KindUser, "src-2", "never-existed"); err != nil {
		t.Fatal(err)
	}
	if a, ok, _ := s.AnchorByTarget(KindUser, "tgt-2"); !ok || a.SourceID != "src-3" {
		t.Errorf("AnchorByTarget after takeover = %v %v", a.SourceID, ok)
	}
	// Moving src-3 off tgt-2 removes the index entry it owns.
	thief.TargetID = ""
	if err := s.PutAnchors(thief); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.AnchorByTarget(KindUser, "tgt-2"); ok {
		t.Error("tgt-2 should be unindexed")
	}

	if _, ok, _ := s.Anchor(KindUser, "src-2"); ok {
		t.Error("src-2 not deleted")
	}
	if _, ok, _ := s.Anchor(KindGroup, "src-1"); !ok {
		t.Error("deleting a user removed the group with the same source id")
	}

	// Validation and no-ops.
	if err := s.PutAnchors(Anchor{Kind: KindUser}); err == nil {
		t.Error("empty source id: want error")
	}
	if err := s.PutAnchors(Anchor{SourceID: "x"}); err == nil {
		t.Error("empty kind: want error")
	}
	if err := s.PutAnchors(); err != nil {
		t.Error(err)
	}
	if err := s.DeleteAnchors(KindUser); err != nil {
		t.Error(err)
	}
	// A failing PutAnchors is atomic.
	if err := s.PutAnchors(sampleAnchor(KindUser, 50), Anchor{Kind: KindUser}); err == nil {
		t.Error("want error")
	}
	if _, ok, _ := s.Anchor(KindUser, "src-50"); ok {
		t.Error("partial PutAnchors committed")
	}

	if err := s.ClearAnchors(); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Anchors(KindGroup); len(m) != 0 {
		t.Error("ClearAnchors left groups")
	}
	if _, ok, _ := s.AnchorByTarget(KindUser, "tgt-new"); ok {
		t.Error("ClearAnchors left the index")
	}
}

func TestAnchorErrorContext(t *testing.T) {
	s, _ := openTest(t)
	err := s.PutAnchors(Anchor{Kind: KindUser, SourceID: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = s.PutAnchors(Anchor{Kind: KindUser, SourceID: "abc"})
	if err == nil || err.Error()[:20] != "put anchor user/abc:" {
		t.Errorf("err = %v", err)
	}
	if _, _, err := s.Anchor(KindUser, "abc"); err == nil {
		t.Error("read after close: want error")
	} else if errors.Is(err, ErrCorrupt) {
		t.Errorf("closed store is not corruption: %v", err)
	}
}

func assertAnchor(t *testing.T, got, want Anchor) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s times = %v %v, want %v %v", want, got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("anchor %s:\n got %#v\nwant %#v", want, got, want)
	}
}
