package store

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

func sampleLog(i int) LogEntry {
	id := "alice.example@contoso.example"
	return LogEntry{ID: "0123456789abcdef", CycleID: "c0ffee", Time: time.Date(2026, 1, 2, 3, 4, 5, 6+i, time.UTC),
		Kind: KindUser, SourceID: "16e785d7-923c-42d2-819a-77fcaf6f08c3", TargetID: "T-1", Identity: id,
		Action: "Create", Status: "Success",
		Steps: []Step{{Name: "import", Status: "success", Description: "Received user " + id + " from Microsoft Graph"}}}
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
	a := sampleLink(KindUser, 7)
	e := sampleLog(0)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		users, err := tx.Bucket(layout.Links).CreateBucketIfNotExists([]byte(KindUser))
		if err != nil {
			return err
		}
		if err := users.Put([]byte(a.SourceID), EncodeLink(&a)); err != nil {
			return err
		}
		raw, _ := json.Marshal(e)
		return tx.Bucket(layout.Log).Put(codec.LogKey(e.Time, e.ID), raw)
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
	got, ok, err := s.Link(KindUser, a.SourceID)
	if err != nil || !ok || !reflect.DeepEqual(got, a) {
		t.Fatalf("schema 1 anchor: %v %v\n got %+v\nwant %+v", ok, err, got, a)
	}
	logs, err := s.QueryLog(LogQuery{})
	if err != nil || len(logs) != 1 || !reflect.DeepEqual(logs[0], e) {
		t.Fatalf("schema 1 log entry: %v %+v", err, logs)
	}
	if err := s.PutLinks(a); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Link(KindUser, a.SourceID); err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("rewritten anchor: %v %+v", err, got)
	}
}

func TestCompactLinkSmaller(t *testing.T) {
	a := sampleLink(KindUser, 12345)
	a.TargetID, a.ManagerID = "b8ff4110-b7db-46c8-a840-e01df410dc74", "5b2b7d62-9c6a-4086-9dc9-37283feec619"
	v1, v2 := EncodeLink(&a), codec.AppendLink(nil, &a, codec.LinkV2)
	var got Link
	if err := codec.DecodeLink(v2, &got); err != nil {
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
