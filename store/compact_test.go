package store

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
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
	rec := encodeLog(nil, &e)
	key := logKey(e.Time, e.ID)
	var got LogEntry
	if err := decodeLog(key, rec, &got); err != nil || !reflect.DeepEqual(got, e) {
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
		if err := decodeLog(key, rec[:i], &e2); err == nil && i > 0 {
			t.Errorf("cut at %d decoded", i)
		}
		for _, b := range []byte{0, 0x7f, 0xff} {
			d := append([]byte(nil), rec...)
			d[i] = b
			_ = decodeLog(key, d, &e2)
		}
	}
	if err := decodeLog([]byte{1, 2}, rec, &got); err == nil {
		t.Error("a key without its time decoded")
	}
}

// TestSchema1RecordsStillRead opens a file written in schema 1 (a version 1 anchor and a JSON log
// entry) and reads both; a rewrite stores them in the compact form.
func TestSchema1RecordsStillRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	a := sampleAnchor(KindUser, 7)
	e := sampleLog(0)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		users, err := tx.Bucket(bktAnchors).CreateBucketIfNotExists([]byte(KindUser))
		if err != nil {
			return err
		}
		if err := users.Put([]byte(a.SourceID), encodeAnchor(nil, &a)); err != nil {
			return err
		}
		raw, _ := json.Marshal(e)
		return tx.Bucket(bktLog).Put(logKey(e.Time, e.ID), raw)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, ok, err := s.Anchor(KindUser, a.SourceID)
	if err != nil || !ok || !reflect.DeepEqual(got, a) {
		t.Fatalf("schema 1 anchor: %v %v\n got %+v\nwant %+v", ok, err, got, a)
	}
	logs, err := s.QueryLog(LogQuery{})
	if err != nil || len(logs) != 1 || !reflect.DeepEqual(logs[0], e) {
		t.Fatalf("schema 1 log entry: %v %+v", err, logs)
	}
	if err := s.PutAnchors(a); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Anchor(KindUser, a.SourceID); err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("rewritten anchor: %v %+v", err, got)
	}
}

func TestCompactAnchorSmaller(t *testing.T) {
	a := sampleAnchor(KindUser, 12345)
	a.TargetID, a.ManagerID = "b8ff4110-b7db-46c8-a840-e01df410dc74", "5b2b7d62-9c6a-4086-9dc9-37283feec619"
	v1, v2 := encodeAnchor(nil, &a), encodeAnchorAs(nil, &a, anchorRecordV2)
	var got Anchor
	if err := decodeAnchor(v2, &got); err != nil {
		t.Fatal(err)
	}
	got.Kind, got.SourceID = a.Kind, a.SourceID
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, a)
	}
	t.Logf("version 1 %d bytes, version 2 %d bytes", len(v1), len(v2))
	if len(v2) >= len(v1)*3/4 {
		t.Errorf("version 2 record of %d bytes is not a quarter smaller than version 1's %d", len(v2), len(v1))
	}
}

func TestTargetIndexValues(t *testing.T) {
	for _, src := range []string{"0f8fad5b-d9cb-469f-a165-70867728950e", "src-1", "0F8FAD5B-D9CB-469F-A165-70867728950E"} {
		v := indexValue([]byte(src))
		if got := string(indexSource(v)); got != src {
			t.Errorf("%q: read back %q", src, got)
		}
		if string(indexSource([]byte(src))) != src {
			t.Errorf("%q: a schema 1 value does not read as itself", src)
		}
	}
	if n := len(indexValue([]byte("0f8fad5b-d9cb-469f-a165-70867728950e"))); n != 17 {
		t.Errorf("a UUID source id takes %d bytes, want 17", n)
	}
}
