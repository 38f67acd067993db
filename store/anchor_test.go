package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

func sampleLink(kind Kind, i int) Link {
	return Link{
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
			a := Link{Kind: KindUser, SourceID: "s", Values: map[string]any{"v": tc.in}}
			var got Link
			if err := codec.DecodeLink(EncodeLink(&a), &got); err != nil {
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

func TestLinkRecordRoundTrip(t *testing.T) {
	full := sampleLink(KindGroup, 3)
	full.Disabled = true
	full.Members = []string{"m1", "m2"}
	cases := []struct {
		name string
		a    Link
	}{
		{"full", full},
		{"zero", Link{}},
		{"empty collections", Link{Members: []string{}, Values: map[string]any{}}},
		{"local time", Link{CreatedAt: time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("X", 3600))}},
		{"pre-1970", Link{UpdatedAt: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := EncodeLink(&tc.a)
			var got Link
			if err := codec.DecodeLink(rec, &got); err != nil {
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
				var x Link
				if err := codec.DecodeLink(rec[:i], &x); err == nil {
					t.Errorf("truncated to %d bytes: no error", i)
				}
			}
			var x Link
			if err := codec.DecodeLink(append(rec, 0), &x); err == nil {
				t.Error("trailing byte: no error")
			}
		})
	}
}

func FuzzDecodeLink(f *testing.F) {
	a := sampleLink(KindUser, 1)
	a.Members = []string{"x"}
	a.Values["j"] = []any{1, "x"}
	f.Add(EncodeLink(&a))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 9, 200})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var x Link
		_ = codec.DecodeLink(rec, &x)
		_, _, _ = codec.DecodeLinkHead(rec)
	})
}

// LinksPacked decodes no value into Values, LinkValue reads them from the record, and UnpackLink gives
// back exactly what Links reads;
// a damaged record fails the read as in Links.
func TestLinksPackedUnpackToWhatLinksReads(t *testing.T) {
	s, _ := openTest(t)
	for i := range 50 {
		if err := s.PutLinks(sampleLink(KindUser, i)); err != nil {
			t.Fatal(err)
		}
	}
	whole, err := s.Links(KindUser)
	if err != nil {
		t.Fatal(err)
	}
	packed, err := s.LinksPacked(KindUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(packed) != len(whole) {
		t.Fatalf("LinksPacked: %d links, want %d", len(packed), len(whole))
	}
	for id, w := range whole {
		p := packed[id]
		if name, _ := LinkValue(p, "userName"); p.Packed == "" || p.Values != nil || name != w.Values["userName"] {
			t.Fatalf("%s packed: values %v, userName %v, packed %d bytes", id, p.Values, name, len(p.Packed))
		}
		if err := UnpackLink(&p); err != nil {
			t.Fatal(err)
		}
		if p.Packed != "" || !reflect.DeepEqual(p, w) {
			t.Fatalf("%s unpacked:\n got %#v\nwant %#v", id, p, w)
		}
	}
	some, err := s.LinksPackedOf(KindUser, []string{"src-7", "", "nobody", "src-7", "src-42"})
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := LinkValue(some["src-42"], "userName"); len(some) != 2 || some["src-7"].Packed == "" || name != whole["src-42"].Values["userName"] {
		t.Fatalf("LinksPackedOf: %v", some)
	}
	if a := some["src-7"]; UnpackLink(&a) != nil || !reflect.DeepEqual(a, whole["src-7"]) {
		t.Errorf("LinksPackedOf src-7 unpacked: %#v", a)
	}
	if err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(layout.Links).Bucket([]byte(KindUser)).Put([]byte("src-3"), []byte{codec.LinkV2, 0xff})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LinksPacked(KindUser); !errors.Is(err, ErrCorrupt) {
		t.Errorf("LinksPacked of a damaged record: %v, want ErrCorrupt", err)
	}
	if _, err := s.LinksPackedOf(KindUser, []string{"src-3"}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("LinksPackedOf of a damaged record: %v, want ErrCorrupt", err)
	}
}

// LinkValue reads from a link's record what DecodeLink puts in its Values, key by key, for both record
// versions; a missing path is absent, and a damaged record an error, never a panic.
func TestLinkValueReadsWhatDecodeLinkDoes(t *testing.T) {
	a := sampleLink(KindUser, 7)
	a.Values["nothing"] = nil
	a.Values["count"] = 3
	a.Members = []string{"m1", "m2"}
	for _, version := range []byte{codec.LinkV1, codec.LinkV2} {
		rec := codec.AppendLink(nil, &a, version)
		var whole Link
		if err := codec.DecodeLink(rec, &whole); err != nil {
			t.Fatal(err)
		}
		for k, want := range whole.Values {
			got, ok, err := codec.LinkValue(string(rec), k)
			if err != nil || !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("v%d %s: %#v %v %v, want %#v", version, k, got, ok, err, want)
			}
			packed := Link{Packed: string(rec)}
			if got, ok := LinkValue(packed, k); !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("v%d store.LinkValue %s: %#v %v, want %#v", version, k, got, ok, want)
			}
		}
		if got, ok, err := codec.LinkValue(string(rec), "absent"); ok || got != nil || err != nil {
			t.Errorf("v%d absent path: %#v %v %v", version, got, ok, err)
		}
		for i := range rec {
			if _, _, err := codec.LinkValue(string(rec[:i]), "zzz-not-there"); err == nil {
				t.Errorf("v%d record cut at %d: no error", version, i)
			}
		}
	}
	// Values win over the record; a link that is not packed reads its Values alone.
	if got, ok := LinkValue(Link{Values: map[string]any{"userName": "v"}, Packed: "not a record"}, "userName"); !ok || got != "v" {
		t.Errorf("Values first: %v %v", got, ok)
	}
	if got, ok := LinkValue(Link{Values: map[string]any{}}, "userName"); ok || got != nil {
		t.Errorf("unpacked link without the path: %v %v", got, ok)
	}
	if got, ok := LinkValue(Link{Packed: "\x02\xff"}, "userName"); ok || got != nil {
		t.Errorf("damaged record: %v %v", got, ok)
	}
}
