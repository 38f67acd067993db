package engine

import (
	"fmt"
	"net/http"
	"path"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/scimclient/target"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

const enterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// Planning and applying in parts (planChunk, applyChunk) decide and send what one part would: for every
// part size, one request per write and SCIM Bulk, a tenant with manager waves and a pre-existing account
// to match ends, cycle after cycle, with every user in the target once, linked, its manager set, and the
// target listed once for matching. With one request per write, the creates of the first, a middle and
// the last user of a wave fail in the first cycle (x7 manages x8, created without its manager then) and
// succeed in the next. (Bulk's own faults, per operation and per request, are in bulk_test.go.) What the
// target must hold is computed here from the tenant, not by the engine.
func TestPartsDecideAndSendAsOne(t *testing.T) {
	defer func(p, a int) { planChunk, applyChunk = p, a }(planChunk, applyChunk)
	// x0 manages x1..x7; x7 manages x8. Waves: x0; x1..x7; x8. x5 already has an account.
	manager := map[string]string{"x8": "x7"}
	for i := 1; i <= 7; i++ {
		manager[fmt.Sprintf("x%d", i)] = "x0"
	}
	for _, size := range []int{1, 2, 3, 4096} {
		for _, bulk := range []bool{false, true} {
			t.Run(fmt.Sprintf("part=%d/bulk=%v", size, bulk), func(t *testing.T) {
				failing := map[string]bool{"x1@contoso.com": true, "x4@contoso.com": true, "x7@contoso.com": true}
				if bulk {
					failing = nil
				}
				planChunk, applyChunk = size, size
				h := newPartsHarness(t, manager, bulk)
				h.setFault(func(_ *http.Request, userName string) *scimserver.Fault {
					if failing[userName] {
						return &scimserver.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0"}
					}
					return nil
				})
				e := h.partsEngine(bulk)
				res := h.mustRun(e, false)
				rep := res.Report
				if rep.Created != 8-len(failing) || rep.Adopted != 1 || rep.Failed != len(failing) {
					t.Fatalf("first cycle: created %d adopted %d failed %d (%+v), want %d, 1 and %d",
						rep.Created, rep.Adopted, rep.Failed, rep.Failures, 8-len(failing), len(failing))
				}
				if n := listings(h.srv); n != 1 {
					t.Errorf("first cycle listed the target %d times, want once", n)
				}
				checkParts(t, h, manager, failing)

				h.setFault(nil)
				h.advance(40 * time.Minute)
				res = h.mustRun(e, false)
				if res.Report.Created != len(failing) || res.Report.Failed != 0 {
					t.Fatalf("second cycle: %+v", res.Report)
				}
				checkParts(t, h, manager, nil)
			})
		}
	}
}

func newPartsHarness(t *testing.T, manager map[string]string, bulk bool) *harness {
	t.Helper()
	var users []directory.User
	for i := range 9 {
		id := fmt.Sprintf("x%d", i)
		users = append(users, user(id, id+"@contoso.com", "Engineer", manager[id], true))
	}
	h := &harness{t: t, dir: newDeltaDir(users...), now: t0, posts: map[string]int{}}
	o := scimserver.Options{Token: goodToken, Fault: h.inject}
	if bulk {
		o.Bulk = &scimserver.Bulk{MaxOperations: 3}
	}
	h.srv = scimserver.New(o)
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	h.st = openStore(t)
	if err := h.srv.Seed(scimclient.Resource{"id": "seeded-x5", "userName": "x5@contoso.com", "title": "Old", "active": true}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) partsEngine(bulk bool) *Engine {
	o := h.options()
	o.Users, o.ListThreshold, o.Concurrency = gongLikeTable(h.t), 2, 2
	c := h.client(goodToken)
	tgt := Target{Users: target.Users(c), Groups: target.Groups(c)}
	if bulk {
		tgt.Users, tgt.Groups = target.WithBulk(c)
	}
	return New(h.dir, tgt, h.st, o)
}

// listings counts the target's unfiltered GET /Users (the matching listing).
func listings(srv *scimserver.Server) int {
	n := 0
	for k, v := range srv.Requests() {
		if strings.HasPrefix(k, "GET /Users") && !strings.Contains(k, "filter") {
			n += int(v)
		}
	}
	return n
}

// checkParts checks the target: every user not failing holds exactly one account, linked, with its
// title, and its manager's account as manager when the manager has one; x5 kept its seeded account.
func checkParts(t *testing.T, h *harness, manager map[string]string, failing map[string]bool) {
	t.Helper()
	accounts := map[string][]scimclient.Resource{}
	for _, u := range h.srv.Users() {
		accounts[fmt.Sprint(u["userName"])] = append(accounts[fmt.Sprint(u["userName"])], u)
	}
	idOf := map[string]string{}
	for i := range 9 {
		id, upn := fmt.Sprintf("x%d", i), fmt.Sprintf("x%d@contoso.com", i)
		got := accounts[upn]
		if failing[upn] {
			if len(got) != 0 {
				t.Errorf("%s: %d accounts though every create failed", upn, len(got))
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: %d accounts, want 1", upn, len(got))
			continue
		}
		if a := h.anchor(id); a.TargetID != got[0]["id"] || !a.Managed {
			t.Errorf("%s: link %+v, want the account %v", upn, a, got[0]["id"])
		}
		if got[0]["title"] != "Engineer" {
			t.Errorf("%s: title %v", upn, got[0]["title"])
		}
		idOf[id] = fmt.Sprint(got[0]["id"])
	}
	if idOf["x5"] != "" && idOf["x5"] != "seeded-x5" {
		t.Errorf("x5 linked to %s, want its seeded account", idOf["x5"])
	}
	for id, m := range manager {
		acct, ok := idOf[id]
		if !ok || idOf[m] == "" {
			continue // the user or its manager has no account yet
		}
		ext, _ := h.srv.User(acct)[enterpriseUser].(map[string]any)
		mgr, _ := ext["manager"].(map[string]any)
		if mgr["value"] != idOf[m] {
			t.Errorf("%s: manager %v, want %s's account %s", id, ext["manager"], m, idOf[m])
		}
	}
}

// A credentials failure in a later part stops the cycle there: no part after it is sent, and the next
// cycle (run by hand, as the admin does after fixing the credentials) completes the tenant, each user once.
func TestPartsStopAtAFatalFailure(t *testing.T) {
	defer func(p, a int) { planChunk, applyChunk = p, a }(planChunk, applyChunk)
	planChunk, applyChunk = 2, 2
	manager := map[string]string{}
	h := newPartsHarness(t, manager, false)
	h.setFault(func(_ *http.Request, userName string) *scimserver.Fault {
		if userName == "x4@contoso.com" {
			return &scimserver.Fault{Status: http.StatusUnauthorized}
		}
		return nil
	})
	e := h.partsEngine(false)
	e.o.Concurrency = 1 // one write at a time: the parts after x4's are provably never sent
	res, _ := h.run(e, false)
	if res == nil || res.Report == nil || res.Report.Fatal == nil {
		t.Fatalf("a 401 did not stop the cycle: %+v", res)
	}
	for i := 5; i <= 8; i++ {
		if upn := fmt.Sprintf("x%d@contoso.com", i); i != 5 && h.postsFor(upn) != 0 {
			t.Errorf("%s was sent after the cycle stopped", upn)
		}
	}
	h.setFault(nil)
	h.advance(40 * time.Minute)
	h.mustRun(e, true)
	checkParts(t, h, manager, nil)
}

// A change of every user whose updates fail at the first, a middle and the last position of the
// cycle's changes (planned and sent two at a time, links read packed): the failing users keep their
// stored link whole and their account as it was, the others get the new title and a link that says
// so, no manager reference is sent, an account scimsync does not manage is left alone; the next cycle
// sends the three updates and nothing else, and the one after sends nothing.
func TestMassUpdateFailsAtEachPositionThenRecovers(t *testing.T) {
	defer func(p, a int) { planChunk, applyChunk = p, a }(planChunk, applyChunk)
	planChunk, applyChunk = 2, 2
	manager := map[string]string{"x8": "x7"}
	for i := 1; i <= 7; i++ {
		manager[fmt.Sprintf("x%d", i)] = "x0"
	}
	h := newPartsHarness(t, manager, false)
	e := h.partsEngine(false)
	h.mustRun(e, false)
	first := map[string]store.Link{}
	for i := range 9 {
		id := fmt.Sprintf("x%d", i)
		first[id] = h.anchor(id)
	}
	stranger := scimclient.Resource{"id": "stranger", "userName": "stranger@contoso.com", "title": "Visitor", "active": true}
	if err := h.srv.Seed(stranger); err != nil {
		t.Fatal(err)
	}
	strangerBefore := h.srv.User("stranger")
	var ids []string
	for i := range 9 {
		id := fmt.Sprintf("x%d", i)
		h.dir.find(t, id).Attributes["jobTitle"] = mapping.Str("Staff")
		ids = append(ids, id)
	}
	h.dir.touch(ids...)
	failing := map[string]bool{"x0": true, "x4": true, "x8": true}
	failingTarget := map[string]bool{}
	for id := range failing {
		failingTarget[first[id].TargetID] = true
	}
	var mu sync.Mutex
	patches := map[string]int{} // PATCHes per account, answered or not
	patchesFailing := func(fail bool) {
		h.setFault(func(r *http.Request, _ string) *scimserver.Fault {
			if r.Method != http.MethodPatch {
				return nil
			}
			mu.Lock()
			patches[path.Base(r.URL.Path)]++
			mu.Unlock()
			if fail && failingTarget[path.Base(r.URL.Path)] {
				return &scimserver.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0"}
			}
			return nil
		})
	}
	// sent checks how many PATCHes each account got: a manager reference sent again would be one more.
	sent := func(step string, want func(id string) (min, max int)) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for id, was := range first {
			lo, hi := want(id)
			if n := patches[was.TargetID]; n < lo || n > hi {
				t.Errorf("%s: %s got %d PATCHes, want %d to %d", step, id, n, lo, hi)
			}
		}
		clear(patches)
	}
	patchesFailing(true)
	before := h.srv.Requests()
	rep := h.mustRun(e, false).Report
	sent("mass change", func(id string) (int, int) {
		if failing[id] {
			return 2, 2 // the update and its one retry (the harness client's MaxRetries)
		}
		return 1, 1
	})
	if rep.Updated != 6 || rep.Failed != 3 || rep.Created != 0 {
		t.Fatalf("mass change: updated %d failed %d created %d (%+v)", rep.Updated, rep.Failed, rep.Created, rep.Failures)
	}
	checkMassUpdate(t, h, first, failing)
	if !reflect.DeepEqual(h.srv.User("stranger"), strangerBefore) {
		t.Errorf("an account scimsync does not manage changed: %v", h.srv.User("stranger"))
	}
	if n := h.srv.Requests()["POST /Users"] - before["POST /Users"]; n != 0 {
		t.Errorf("the mass change created %d accounts", n)
	}

	patchesFailing(false)
	h.advance(40 * time.Minute)
	rep = h.mustRun(e, false).Report
	if rep.Updated != 3 || rep.Failed != 0 || rep.Created != 0 {
		t.Fatalf("recovery: updated %d failed %d created %d (%+v)", rep.Updated, rep.Failed, rep.Created, rep.Failures)
	}
	sent("recovery", func(id string) (int, int) {
		if failing[id] {
			return 1, 1
		}
		return 0, 0
	})
	checkMassUpdate(t, h, first, nil)
	quiet := h.srv.Requests()
	h.advance(40 * time.Minute)
	h.mustRun(e, false)
	for _, k := range []string{"POST /Users", "PATCH /Users/{id}", "PUT /Users/{id}", "DELETE /Users/{id}"} {
		if n := h.srv.Requests()[k] - quiet[k]; n != 0 {
			t.Errorf("the cycle after recovery sent %d %s", n, k)
		}
	}
}

// checkMassUpdate checks every user's account and link after the title change: the failing users'
// exactly as the first cycle left them, the others with the new title and nothing else changed, each
// account's manager the one the first cycle set.
func checkMassUpdate(t *testing.T, h *harness, first map[string]store.Link, failing map[string]bool) {
	t.Helper()
	for id, was := range first {
		a, acct := h.anchor(id), h.srv.User(was.TargetID)
		want := was.Values
		title := "Staff"
		if failing[id] {
			title = "Engineer"
		} else {
			want = plan.Merged(was.Values, map[string]any{"title": "Staff"})
		}
		if acct["title"] != title {
			t.Errorf("%s: account title %v, want %s", id, acct["title"], title)
		}
		if a.TargetID != was.TargetID || !reflect.DeepEqual(a.Values, want) || a.Hash != plan.ValuesHash(want) || a.ManagerID != was.ManagerID {
			t.Errorf("%s: link %v (%s, manager %q), want %v (%s, manager %q)", id, a.Values, a.Hash, a.ManagerID,
				want, plan.ValuesHash(want), was.ManagerID)
		}
		if m := was.Values[enterpriseUser+":manager"]; m != nil {
			ext, _ := acct[enterpriseUser].(map[string]any)
			if got, _ := ext["manager"].(map[string]any); got["value"] != m {
				t.Errorf("%s: account manager %v, want %v", id, ext["manager"], m)
			}
		}
	}
}
