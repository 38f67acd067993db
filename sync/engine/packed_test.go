package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// A change whose packed values do not decode (plan.Change.Packed; a bug, never input) fails alone, with
// nothing sent for it, through one request per write and through SCIM Bulk alike; the others are
// created with their values.
func TestDamagedPackedValuesFailOnlyTheirWrite(t *testing.T) {
	for _, bulk := range []bool{false, true} {
		t.Run(fmt.Sprint("bulk=", bulk), func(t *testing.T) {
			var h *harness
			var e *Engine
			if bulk {
				h = newBulkHarness(t)
				e = h.bulkEngine()
			} else {
				h = newHarness(t)
				e = h.engine(goodToken, nil)
			}
			var changes []plan.Change
			for i := range 5 {
				name := fmt.Sprintf("p%d@contoso.com", i)
				packed := store.PackValues(map[string]any{"userName": name, "active": true, "title": "Packed"})
				if i == 2 {
					packed = []byte{2, 0xff}
				}
				changes = append(changes, plan.Change{Op: plan.Create, SourceID: fmt.Sprintf("p%d", i), Identity: name, Packed: packed})
			}
			rep := &Report{}
			if _, err := e.apply(context.Background(), e.users, rep, &rep.Counts, changes, nil, map[string]store.Link{}); err != nil {
				t.Fatal(err)
			}
			if len(rep.Failures) != 1 || rep.Failures[0].SourceID != "p2" || !strings.Contains(rep.Failures[0].Err, "unpack values") {
				t.Errorf("failures %+v, want p2's alone", rep.Failures)
			}
			got := map[string]string{}
			for _, u := range h.srv.Users() {
				got[fmt.Sprint(u["userName"])] = fmt.Sprint(u["title"])
			}
			if len(got) != 4 || got["p2@contoso.com"] != "" {
				t.Errorf("target holds %v, want the four other users", got)
			}
			for i := range 5 {
				if name := fmt.Sprintf("p%d@contoso.com", i); i != 2 && got[name] != "Packed" {
					t.Errorf("%s: title %q, want Packed", name, got[name])
				}
			}
		})
	}
}
