package codec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCompactStrings(t *testing.T) {
	const ident = "Alice@Contoso.com"
	for _, tc := range []struct {
		s, ident string
		maxLen   int // bytes the compact form may take
	}{
		{"", "", 1},
		{"import", "", 1},
		{"fc55019d970577c695f6c538d52baf6c", "", 17},
		{"12", "", 2},
		{"123", "", 4},
		{"FC55", "", 5},
		{"userName", "", 2}, // index 32 and up take two bytes
		{"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country", "", 2},
		{"0f8fad5b-d9cb-469f-a165-70867728950e", "", 17},
		{"0F8FAD5B-D9CB-469F-A165-70867728950E", "", 38}, // upper case stays literal: it must come back as is
		{"0f8fad5b-d9cb-469f-a165-70867728950", "", 37},
		{"0f8fad5b-d9cb-469f-a165-70867728950g", "", 38},
		{"0f8fad5bxd9cb-469f-a165-70867728950e", "", 38},
		{"Received user Alice@Contoso.com from Microsoft Graph", ident, 3},
		{ident, ident, 3},
		{"x" + ident + ident, ident, 4 + len(ident)},
		{"Received user Alice@Contoso.com from Microsoft Graph", "", 60},
		{strings.Repeat("é", 100), ident, 202},
	} {
		enc := appendStr(nil, tc.s, tc.ident)
		if len(enc) > tc.maxLen {
			t.Errorf("%q: %d bytes, want at most %d", tc.s, len(enc), tc.maxLen)
		}
		d := decoder{b: string(enc)}
		if got := d.str(tc.ident); got != tc.s || d.err != nil || d.b != "" {
			t.Errorf("%q: decoded %q (err %v, %d left)", tc.s, got, d.err, len(d.b))
		}
	}
}

func sampleLog(i int) LogEntry {
	id := "alice.example@contoso.example"
	return LogEntry{ID: "0123456789abcdef", CycleID: "c0ffee", Time: time.Date(2026, 1, 2, 3, 4, 5, 6+i, time.UTC),
		Kind: KindUser, SourceID: "16e785d7-923c-42d2-819a-77fcaf6f08c3", TargetID: "T-1", Identity: id,
		Action: "Create", Status: "Success",
		Steps: []Step{{Name: "import", Status: "success", Description: "Received user " + id + " from Microsoft Graph"},
			{Name: "export", Status: "failure", Description: "POST /Users: 409", Details: `{"a":1}`}},
		Modified: []Property{{Name: "userName", New: id}, {Name: "title", Old: "Engineer", New: "Lead"},
			{Name: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", New: "1eb19214-5dc4-42a2-a42b-f9b99b9e3388"}},
		ErrorCode: "EntryConflict", Error: "conflict for " + id, DurationMs: -3}
}

func TestLogRecordRoundTripAndDamage(t *testing.T) {
	e := sampleLog(0)
	rec := AppendLog(nil, &e)
	key := LogKey(e.Time, e.ID)
	var got LogEntry
	if err := DecodeLog(key, rec, &got); err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, e)
	}
	js, _ := json.Marshal(e)
	t.Logf("compact %d bytes, JSON %d bytes", len(rec), len(js))
	if len(rec) >= len(js)/2 {
		t.Errorf("compact record of %d bytes is not half the %d bytes of JSON", len(rec), len(js))
	}
	// Every cut and every flipped byte is an error or a different entry, never a panic.
	for i := range rec {
		var e2 LogEntry
		if err := DecodeLog(key, rec[:i], &e2); err == nil && i > 0 {
			t.Errorf("cut at %d decoded", i)
		}
		for _, b := range []byte{0, 0x7f, 0xff} {
			d := append([]byte(nil), rec...)
			d[i] = b
			_ = DecodeLog(key, d, &e2)
		}
	}
	if err := DecodeLog([]byte{1, 2}, rec, &got); err == nil {
		t.Error("a key without its time decoded")
	}
}

func TestTargetIndexValues(t *testing.T) {
	for _, src := range []string{"0f8fad5b-d9cb-469f-a165-70867728950e", "src-1", "0F8FAD5B-D9CB-469F-A165-70867728950E"} {
		v := IndexValue([]byte(src))
		if got := string(IndexSource(v)); got != src {
			t.Errorf("%q: read back %q", src, got)
		}
		if string(IndexSource([]byte(src))) != src {
			t.Errorf("%q: a schema 1 value does not read as itself", src)
		}
	}
	if n := len(IndexValue([]byte("0f8fad5b-d9cb-469f-a165-70867728950e"))); n != 17 {
		t.Errorf("a UUID source id takes %d bytes, want 17", n)
	}
}
