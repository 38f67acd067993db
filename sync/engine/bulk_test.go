package engine

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/scimclient/target"
	"github.com/scimsync/scimsync/store"
)

// The SCIM Bulk executor (bulk.go) against the in-process target with Bulk on: every write of a wave goes
// in Bulk requests, and every result is settled as a single request's. Each test checks the target
// afterwards against what the tenant says (computed here, not by the engine): every user once, with
// its values, linked; nothing duplicated.

const bulkUsers = 7

// newBulkHarness is newHarness with a target that offers Bulk, at most 3 operations a request, so
// seven creates take three requests (3, 3, 1): a fault can sit in the first, the middle or the last.
func newBulkHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: newDeltaDir(manyUsers("b", bulkUsers)...), now: t0, posts: map[string]int{}}
	h.srv = scimserver.New(scimserver.Options{Token: goodToken, Fault: h.inject, Bulk: &scimserver.Bulk{MaxOperations: 3}})
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	h.st = openStore(t)
	return h
}

// bulkEngine is the engine as cmd/scimsync wires it with target.bulk on.
func (h *harness) bulkEngine() *Engine {
	users, groups := target.WithBulk(h.client(goodToken))
	return New(h.dir, Target{Users: users, Groups: groups}, h.st, h.options())
}

// checkBulkTarget checks the target holds exactly the tenant's users, once each, with the titles want
// gives (default "Engineer"), every one linked to its account.
func checkBulkTarget(t *testing.T, h *harness, want map[string]string) {
	t.Helper()
	byName := map[string][]map[string]any{}
	for _, u := range h.srv.Users() {
		n := strings.ToLower(fmt.Sprint(u["userName"]))
		byName[n] = append(byName[n], u)
	}
	if len(byName) != bulkUsers {
		t.Errorf("target holds %d distinct users, want %d", len(byName), bulkUsers)
	}
	for i := 0; i < bulkUsers; i++ {
		id, upn := fmt.Sprintf("b%05d", i), fmt.Sprintf("b%05d@contoso.com", i)
		got := byName[upn]
		if len(got) != 1 {
			t.Errorf("%s: %d accounts in the target, want 1", upn, len(got))
			continue
		}
		title := "Engineer"
		if w, ok := want[id]; ok {
			title = w
		}
		if got[0]["title"] != title {
			t.Errorf("%s: title %v, want %s", upn, got[0]["title"], title)
		}
		if a := h.anchor(id); a.TargetID != got[0]["id"] || !a.Managed {
			t.Errorf("%s: link %+v, want the account %v", upn, a, got[0]["id"])
		}
	}
}

func TestBulkCreatesUpdatesAndDeletes(t *testing.T) {
	h := newBulkHarness(t)
	e := h.bulkEngine()
	res := h.mustRun(e, false)
	if res.Report.TotalFailed() != 0 {
		t.Fatalf("failures: %+v", res.Report.Failures)
	}
	checkBulkTarget(t, h, nil)
	req := h.srv.Requests()
	if req["POST /Users"] != 0 || req["POST /Bulk"] != 3 {
		t.Fatalf("requests %v: want the seven creates in three Bulk requests and no single POST", req)
	}

	// Two titles change: one Bulk request carries both PATCHes.
	h.srv.ResetCounters()
	h.dir.find(t, "b00001").Attributes["jobTitle"] = mapping.Str("Lead")
	h.dir.find(t, "b00005").Attributes["jobTitle"] = mapping.Str("Manager")
	h.dir.touch("b00001", "b00005")
	h.advance(40 * time.Minute)
	if res := h.mustRun(e, false); res.Report.TotalFailed() != 0 {
		t.Fatalf("failures: %+v", res.Report.Failures)
	}
	checkBulkTarget(t, h, map[string]string{"b00001": "Lead", "b00005": "Manager"})
	if req := h.srv.Requests(); req["POST /Bulk"] != 1 || req["PATCH /Users/{id}"] != 0 || req["GET /ServiceProviderConfig"] != 0 {
		t.Fatalf("requests %v: want one Bulk request, no single PATCH, and the target's Bulk support not asked again", req)
	}

	// A cycle with nothing to change sends nothing, not even the ServiceProviderConfig.
	h.srv.ResetCounters()
	h.advance(40 * time.Minute)
	h.mustRun(e, false)
	if n := h.srv.TotalRequests(); n != 0 {
		t.Fatalf("a no-change cycle sent %d requests: %v", n, h.srv.Requests())
	}
}

// A create in a Bulk request meets an account created by someone else since the lookup (a real 409
// in the operation's result): it is adopted, as after a single POST, wherever it sits in the wave.
func TestBulkConflictAdoptsAtEveryPosition(t *testing.T) {
	for _, pos := range []int{0, 3, 6} {
		t.Run(fmt.Sprintf("position %d", pos), func(t *testing.T) {
			h := newBulkHarness(t)
			e := h.bulkEngine()
			seeded := false
			h.setFault(func(r *http.Request, _ string) *scimserver.Fault {
				if strings.HasSuffix(r.URL.Path, "/Bulk") && !seeded {
					seeded = true
					upn := fmt.Sprintf("B%05d@Contoso.com", pos)
					if err := h.srv.Seed(scimclient.Resource{"id": "pre-existing", "userName": upn, "title": "Old", "active": true}); err != nil {
						t.Error(err)
					}
				}
				return nil
			})
			res := h.mustRun(e, false)
			if res.Report.TotalFailed() != 0 || len(h.escrows()) != 0 {
				t.Fatalf("the conflict failed instead of adopting: %+v, escrows %v", res.Report.Failures, h.escrows())
			}
			checkBulkTarget(t, h, nil)
			if a := h.anchor(fmt.Sprintf("b%05d", pos)); a.TargetID != "pre-existing" {
				t.Fatalf("link %+v, want the pre-existing account adopted", a)
			}
		})
	}
}

// A Bulk request answered 429 as a whole: its operations are escrowed like throttled single requests
// and sent in the next cycle; the other requests' creates stand. A Bulk request whose answer is lost
// after the target applied it: the next cycle finds those accounts (pending creates) instead of
// creating them again.
func TestBulkWholeRequestFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault scimserver.Fault
	}{
		{"throttled", scimserver.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"}},
		{"answer lost", scimserver.Fault{Status: http.StatusBadGateway, AfterHandling: true}},
		{"connection dropped after handling", scimserver.Fault{Drop: true, AfterHandling: true}},
	} {
		for _, nth := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s in request %d", tc.name, nth), func(t *testing.T) {
				h := newBulkHarness(t)
				e := h.bulkEngine()
				seen := 0
				h.setFault(func(r *http.Request, _ string) *scimserver.Fault {
					if !strings.HasSuffix(r.URL.Path, "/Bulk") {
						return nil
					}
					seen++
					if seen == nth {
						f := tc.fault
						return &f
					}
					return nil
				})
				h.run(e, false) //nolint:errcheck // the faulted cycle may end with failures
				h.setFault(nil)
				for i := 0; i < 3 && (len(h.escrows()) > 0 || len(h.srv.Users()) < bulkUsers); i++ {
					h.advance(2 * time.Hour)
					h.run(e, true) //nolint:errcheck // checked through the target below
				}
				checkBulkTarget(t, h, nil)
				if es := h.escrows(); len(es) != 0 {
					t.Errorf("escrows left: %v", es)
				}
				pending, err := h.st.Sets(store.SetPendingCreates)
				if err != nil || len(pending) != 0 {
					t.Errorf("pending creates left: %v %v", pending, err)
				}
			})
		}
	}
}

// A target that does not offer Bulk, with target.bulk on, gets exactly the single requests it would get
// with Bulk off, after one look at its ServiceProviderConfig.
func TestBulkOffByTheTarget(t *testing.T) {
	h := newHarness(t, manyUsers("b", bulkUsers)...)
	users, groups := target.WithBulk(h.client(goodToken))
	e := New(h.dir, Target{Users: users, Groups: groups}, h.st, h.options())
	if res := h.mustRun(e, false); res.Report.TotalFailed() != 0 {
		t.Fatalf("failures: %+v", res.Report.Failures)
	}
	checkBulkTarget(t, h, nil)
	req := h.srv.Requests()
	if req["POST /Users"] != bulkUsers || req["POST /Bulk"] != 0 || req["GET /ServiceProviderConfig"] != 1 {
		t.Fatalf("requests %v: want %d single POSTs after one look at the ServiceProviderConfig", req, bulkUsers)
	}
}
