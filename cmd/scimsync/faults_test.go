package main

// Fault scenarios of the issue "Correct under faults" for groups and memberships, against SCIMMY: a
// failure is put at each position (group create, member change, every request after the k-th, a lost
// state file, a process killed mid-change), then clean cycles run, and the target is checked directly:
// every group once with exactly the expected members, no member twice, the unmanaged group untouched.
// The expected members come from the tenant (grpInitialGroups), never from scimsync's state.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/sync/engine"
)

// throttled is a failure the client gives up on at once (a Retry-After beyond what it waits), so a
// fault that lasts a whole cycle costs one request per object, not a retry series.
func throttled() proxyFault {
	return proxyFault{Status: http.StatusServiceUnavailable, RetryAfter: "3600"}
}

// cycleAllowingFailures runs one cycle that is expected to fail in part.
func (e *grpEnv) cycleAllowingFailures(what string) (*engine.Report, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 3*time.Minute)
	defer cancel()
	rep, err := e.job.Cycle(ctx, false)
	e.t.Logf("%s: err %v, failed %d", what, err, rep.TotalFailed())
	return rep, err
}

// noDuplicateMembers fails on a member value held twice by a group.
func (e *grpEnv) noDuplicateMembers(what string) {
	e.t.Helper()
	_, groups := e.dump()
	for name, g := range groups {
		seen := map[string]bool{}
		for _, m := range grpMembers(g) {
			if seen[m] {
				e.t.Errorf("%s: group %q holds member %s twice", what, name, m)
			}
			seen[m] = true
		}
	}
}

// A group whose create fails (early or late, throttled or 5xx) is retried by the next, incremental
// cycle, and gets its members then; the cycle that failed reports the failure.
func TestFaultGroupCreateIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault proxyFault
	}{
		{"503 throttled", throttled()},
		{"429 throttled", proxyFault{Status: http.StatusTooManyRequests, RetryAfter: "3600"}},
		{"late 500: created but the answer lost", proxyFault{Status: http.StatusInternalServerError, Late: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGrpEnv(t, grpOptions{salesOnly: true})
			e.rec.setFault(func(r scimRequest) proxyFault {
				if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/Groups") && strings.Contains(string(r.Body), "Deal Desk") {
					return tc.fault
				}
				return proxyFault{}
			})
			rep, _ := e.cycleAllowingFailures("group create fails")
			if rep.TotalFailed() == 0 && !tc.fault.Late {
				t.Errorf("the cycle whose group create failed reports no failure")
			}
			e.rec.setFault(nil)
			e.cycle("retry")
			e.expectGroups("after the retry", grpInitialGroups)
			e.noDuplicateMembers("after the retry")
			_, reqs := e.cycle("quiet")
			if w := grpWrites(reqs); len(w) != 0 {
				t.Errorf("the cycle after the retry still writes:%s", describe(w))
			}
			e.checkLegacy()
		})
	}
}

// The target fails every request after the k-th, for a whole cycle, then recovers: the next cycles
// bring every user and group in, once, with exactly their members.
func TestFaultTargetFailsAfterK(t *testing.T) {
	for _, k := range []int{3, 8, 12, 16} {
		t.Run(fmt.Sprint("k=", k), func(t *testing.T) {
			e := newGrpEnv(t, grpOptions{salesOnly: true})
			var mu sync.Mutex
			n := 0
			e.rec.setFault(func(r scimRequest) proxyFault {
				mu.Lock()
				defer mu.Unlock()
				if n++; n > k {
					return throttled()
				}
				return proxyFault{}
			})
			e.cycleAllowingFailures("the target fails")
			e.rec.setFault(nil)
			for i := 0; i < 2; i++ {
				e.cycleAllowingFailures(fmt.Sprint("recovery ", i+1))
			}
			_, reqs := e.cycle("converged")
			if w := grpWrites(reqs); len(w) != 0 {
				t.Errorf("not converged after two recovery cycles; the next one writes:%s", describe(w))
			}
			e.expectGroups("after recovery", grpInitialGroups)
			e.noDuplicateMembers("after recovery")
			e.checkLegacy()
		})
	}
}

// A member PATCH that the target applies but answers 500 (and every retry of it too): the next cycle
// reads the group from the target and sends only what is missing, repairing duplicate entries.
func TestFaultMemberPatchAppliedButAnswered500(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	armed := true
	var mu sync.Mutex
	e.rec.setFault(func(r scimRequest) proxyFault {
		mu.Lock()
		defer mu.Unlock()
		if armed && r.Method == http.MethodPatch && strings.Contains(r.Path, "/Groups/") && strings.Contains(strings.ToLower(string(r.Body)), "members") {
			return proxyFault{Status: http.StatusInternalServerError, Late: true}
		}
		return proxyFault{}
	})
	rep, _ := e.cycleAllowingFailures("member changes answered 500")
	if rep.TotalFailed() == 0 {
		t.Errorf("member changes answered 500 were not reported as failures")
	}
	mu.Lock()
	armed = false
	mu.Unlock()
	e.cycle("after the failure")
	e.expectGroups("after the failure", grpInitialGroups)
	e.noDuplicateMembers("after the failure")
	_, reqs := e.cycle("quiet")
	if w := grpWrites(reqs); len(w) != 0 {
		t.Errorf("not converged:%s", describe(w))
	}
	e.checkLegacy()
}

// The state file is lost after a full sync: the next (initial) cycle adopts users and groups and reads
// every group's members from the target, so nothing is added twice.
func TestFaultLostStateAddsNoMemberTwice(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.cycle("first")
	if err := os.Remove(filepath.Join(e.dir, "state.db")); err != nil {
		t.Fatal(err)
	}
	_, reqs := e.cycle("after the state was lost")
	if posts := grpFilter(reqs, http.MethodPost, ""); len(posts) != 0 {
		t.Errorf("objects created again after the state was lost:%s", describe(posts))
	}
	for _, p := range grpFilter(reqs, http.MethodPatch, "Groups") {
		if ops := grpParsePatch(t, p.Body); len(ops.add) > 0 {
			t.Errorf("members added again after the state was lost: %s", p)
		}
	}
	e.expectGroups("after the state was lost", grpInitialGroups)
	e.noDuplicateMembers("after the state was lost")
	e.checkLegacy()
}

// A user disabled in the source is deprovisioned: deactivated and taken out of its groups. Re-enabled,
// it is active again and back in every group the source has it in.
func TestFaultReEnabledUserGetsItsGroupsBack(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.cycle("first")
	if err := e.graph.UpdateUser(grpCat, map[string]any{"accountEnabled": false}); err != nil {
		t.Fatal(err)
	}
	e.cycle("cat disabled")
	users, _ := e.dump()
	if u := users[grpUPN("cat")]; u == nil || field(u, "active") != "false" {
		t.Fatalf("cat should be deactivated: %v", u)
	}
	e.expectGroups("cat disabled", map[string][]string{"Sales Team": {"ben"}, "Deal Desk": {"ann", "fay"}})
	if err := e.graph.UpdateUser(grpCat, map[string]any{"accountEnabled": true}); err != nil {
		t.Fatal(err)
	}
	e.cycle("cat re-enabled")
	users, _ = e.dump()
	if u := users[grpUPN("cat")]; u == nil || field(u, "active") != "true" {
		t.Fatalf("cat should be active again: %v", u)
	}
	e.expectGroups("cat re-enabled", grpInitialGroups)
	e.noDuplicateMembers("cat re-enabled")
	e.checkLegacy()
}

// kill -9 of the binary while a member PATCH has reached the target but not answered: the next run
// reads the group from the target and adds nothing twice.
func TestFaultKilledDuringMembershipChange(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	cfg := filepath.Join(e.dir, "job.yaml")
	applied := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	var landed scimRequest
	e.rec.setFault(func(r scimRequest) proxyFault {
		if r.Method == http.MethodPatch && strings.Contains(r.Path, "/Groups/") && strings.Contains(strings.ToLower(string(r.Body)), "members") {
			first := false
			once.Do(func() { first, landed = true, r })
			if first {
				// Let the write land, then hold the answer until the process is gone.
				return proxyFault{Status: http.StatusBadGateway, Late: true, Then: func() { close(applied); <-release }}
			}
		}
		return proxyFault{}
	})
	defer close(release)
	cmd := exec.Command(binary(t), "sync", "--config", cfg)
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-applied:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("no member PATCH reached the target")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	e.rec.setFault(nil)
	mark := e.rec.mark()
	out, err := exec.Command(binary(t), "sync", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("the run after the kill failed: %v\n%s", err, out)
	}
	// Whether or not the target would store a member twice, the members that landed are not sent again.
	done := grpParsePatch(t, landed.Body).add
	for _, p := range grpFilter(e.rec.since(mark), http.MethodPatch, "Groups") {
		if p.ID() != landed.ID() {
			continue
		}
		for _, id := range grpParsePatch(t, p.Body).add {
			if slices.Contains(done, id) {
				t.Errorf("member %s, added before the kill, was added again: %s", id, p)
			}
		}
	}
	e.expectGroups("after the kill", grpInitialGroups)
	e.noDuplicateMembers("after the kill")
	e.checkLegacy()
}

// A create reaches the target but its answer is lost (no retry: the gateway's Retry-After is beyond what
// the client waits), then the user is unassigned before the next cycle: the account created is found
// and disabled, not left active and unmanaged.
func TestFaultLostCreateThenUnassigned(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.rec.setFault(func(r scimRequest) proxyFault {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/Users") && strings.Contains(string(r.Body), grpUPN("ann")) {
			return proxyFault{Status: http.StatusServiceUnavailable, Late: true, RetryAfter: "3600"}
		}
		return proxyFault{}
	})
	rep, _ := e.cycleAllowingFailures("ann's create answer lost")
	if rep.TotalFailed() == 0 {
		t.Fatal("the lost create was not reported as a failure")
	}
	users, _ := e.dump()
	if u := users[grpUPN("ann")]; u == nil || field(u, "active") != "true" {
		t.Fatalf("ann's create should have landed: %v", u)
	}
	e.rec.setFault(nil)
	if err := e.graph.Unassign(grpAnn); err != nil {
		t.Fatal(err)
	}
	// ann was assigned directly and is a member of Deal Desk (assigned): take her out of it too.
	if err := e.graph.RemoveMember(grpDesk, grpAnn); err != nil {
		t.Fatal(err)
	}
	e.cycle("ann unassigned")
	users, _ = e.dump()
	if u := users[grpUPN("ann")]; u == nil || field(u, "active") != "false" {
		t.Fatalf("ann left the scope; her account should be disabled: %v", u)
	}
	e.expectGroups("ann unassigned", map[string][]string{"Sales Team": {"ben", "cat"}, "Deal Desk": {"cat", "fay"}})
	e.noDuplicateMembers("ann unassigned")
	_, reqs := e.cycle("quiet")
	if w := grpWrites(reqs); len(w) != 0 {
		t.Errorf("not converged:%s", describe(w))
	}
	e.checkLegacy()
}

// A target that leaves members out of GET /Groups/{id} (Entra does not require it): after the state is
// lost, scimsync asks member by member, as Entra does, and adds nothing twice.
func TestFaultLostStateTargetWithoutMemberLists(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.cycle("first")
	e.rec.setFault(func(r scimRequest) proxyFault {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/Groups/") {
			return proxyFault{Drop: "members"}
		}
		return proxyFault{}
	})
	if err := os.Remove(filepath.Join(e.dir, "state.db")); err != nil {
		t.Fatal(err)
	}
	// Only the wanted members can be asked about, so a member that left the source group while the
	// state was lost is not found on such a target (docs/failures.md says so); nothing left meanwhile here.
	_, reqs := e.cycle("after the state was lost")
	asked := 0
	for _, r := range reqs {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/Groups") {
			asked++
		}
	}
	if asked == 0 {
		t.Errorf("the members were not asked for one by one")
	}
	for _, p := range grpFilter(reqs, http.MethodPatch, "Groups") {
		if ops := grpParsePatch(t, p.Body); len(ops.add) > 0 {
			t.Errorf("members added again after the state was lost: %s", p)
		}
	}
	e.rec.setFault(nil)
	e.expectGroups("after the state was lost", grpInitialGroups)
	e.noDuplicateMembers("after the state was lost")
	e.checkLegacy()
}
