package record

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// TestEntryOfACreate spells out a created user's entry: its steps and its modified properties,
// sorted by name, a redacted one hidden.
func TestEntryOfACreate(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := plan.Change{Op: plan.Create, SourceID: "s1", Identity: "ada@x", InScope: true,
		Values:   map[string]any{"userName": "ada@x", "active": true, "externalId": int64(42), "password": "p", "ratio": 0.5, "roles": []string{"a", "b"}},
		Redacted: map[string]bool{"password": true}}
	got := Entry("c1", at, store.KindUser, c, nil, false)
	want := store.LogEntry{CycleID: "c1", Time: at, Kind: store.KindUser, SourceID: "s1", Identity: "ada@x",
		Action: "Create", Status: StatusSuccess,
		Steps: []store.Step{
			{Name: "import", Status: "success", Description: "Received user ada@x from Microsoft Graph"},
			{Name: "scoping", Status: "success", Description: "In scope: assigned and passed the scoping filters"},
			{Name: "matching", Status: "success", Description: "No matching user in the target"},
			{Name: "export", Status: "success", Description: "Create user in the target"},
		},
		Modified: []store.Property{{Name: "active", New: "true"}, {Name: "externalId", New: "42"}, {Name: "password", New: "[Redact]"},
			{Name: "ratio", New: "0.5"}, {Name: "roles", New: "[a b]"}, {Name: "userName", New: "ada@x"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entry:\n got %+v\nwant %+v", got, want)
	}
	failed := Entry("c1", at, store.KindUser, plan.Change{Op: plan.Update, SourceID: "s1", TargetID: "t1", Identity: "ada@x", InScope: true,
		Attrs: []plan.AttrChange{{Path: "title", Old: "a", New: nil}, {Path: "active", Old: true, New: false}}}, errors.New("boom"), false)
	wantMod := []store.Property{{Name: "active", Old: "true", New: "false"}, {Name: "title", Old: "a"}}
	if last := failed.Steps[len(failed.Steps)-1]; last.Status != "failure" || last.Description != "boom" || !reflect.DeepEqual(failed.Modified, wantMod) {
		t.Errorf("failed update: last step %+v, modified %+v", last, failed.Modified)
	}
}

// TestDisplayIsFmtSprint checks the fast cases of display against fmt.Sprint, the oracle.
func TestDisplayIsFmtSprint(t *testing.T) {
	for _, v := range []any{"", "x y", true, false, int64(-7), int64(1 << 62), 0, -3, 1.5, 1e21, []string{"a"}, []any{"a", 1.0}, map[string]any{"k": "v"}} {
		if got, want := display(v), fmt.Sprint(v); got != want {
			t.Errorf("display(%#v) = %q, want %q", v, got, want)
		}
	}
}

// BenchmarkEntryOfACreate is the log entry of a created Gong user, one per create.
func BenchmarkEntryOfACreate(b *testing.B) {
	c := plan.Change{Op: plan.Create, SourceID: "00000000-0000-0000-0000-000000000001", Identity: "ada@contoso.com", InScope: true,
		Values: map[string]any{"userName": "ada@contoso.com", "active": true, "externalId": "ada", "displayName": "Ada Lovelace",
			"name.givenName": "Ada", "name.familyName": "Lovelace", `emails[type eq "work"].value`: "ada@contoso.com",
			"title": "Engineer", `phoneNumbers[type eq "work"].value`: "+1 555", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
			"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country": "US", "preferredLanguage": "en-US"}}
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		_ = Entry("cycle", at, store.KindUser, c, nil, false)
	}
}
