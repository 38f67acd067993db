package engine

// Tests of the failure handling (issue "Failure handling: escrows, quarantine backoff, deletion
// threshold, failure emails, provisioning logs"), end to end through Run: the real scimclient against
// the in-process scimserver server (so every error is the real typed one), a real state file, an
// injected clock, and for the emails a real SMTP server (go-smtp) on 127.0.0.1.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/scimclient/target"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
	"github.com/scimsync/scimsync/sync/record"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	goodToken = "good-token"
	badToken  = "expired-token"
)

// t0 is the fixed start of every scenario: emails and logs show it, so the golden files are stable.
var t0 = time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC)

// deltaDir is fakeDir with real delta-link semantics: a round from a link returns every user changed
// since the round that issued that link, so a cycle that failed before committing its watermark reads
// the same changes again, as Graph does.
type deltaDir struct {
	*fakeDir
	mu  sync.Mutex
	seq int
	ver map[string]int
}

func newDeltaDir(users ...directory.User) *deltaDir {
	return &deltaDir{fakeDir: &fakeDir{users: users}, ver: map[string]int{}}
}

// touch marks users as changed in the directory.
func (d *deltaDir) touch(ids ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		d.seq++
		d.ver[id] = d.seq
	}
}

// add appends users to the directory as new (changed) users.
func (d *deltaDir) add(us ...directory.User) {
	d.users = append(d.users, us...)
	for _, u := range us {
		d.touch(u.ID)
	}
}

// find returns a user of the directory for editing.
func (d *deltaDir) find(t *testing.T, id string) *directory.User {
	t.Helper()
	for i := range d.users {
		if d.users[i].ID == id {
			return &d.users[i]
		}
	}
	t.Fatalf("no directory user %s", id)
	return nil
}

func (d *deltaDir) Users(_ context.Context, _ []string, link string) (*directory.UserRound, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rounds++
	next := fmt.Sprintf("v-%d", d.seq)
	if link == "" {
		return &directory.UserRound{Users: directory.ListOf(d.users...), Full: true, DeltaLink: next}, nil
	}
	since, err := strconv.Atoi(strings.TrimPrefix(link, "v-"))
	if err != nil {
		return nil, fmt.Errorf("bad delta link %q", link)
	}
	var out []directory.User
	for _, u := range d.users {
		if d.ver[u.ID] > since {
			out = append(out, u)
		}
	}
	return &directory.UserRound{Users: directory.ListOf(out...), DeltaLink: next}, nil
}

// unassign removes direct assignments (the users leave the assignment scope).
func (d *deltaDir) unassign(ids ...string) {
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	var keep []directory.Assignment
	for _, a := range d.assignments {
		if !drop[a.PrincipalID] {
			keep = append(keep, a)
		}
	}
	d.assignments = keep
}

// fuser is a directory user with an employeeId, which failTable redacts.
func fuser(id, upn, title string) directory.User {
	u := user(id, upn, title, "", true)
	u.Attributes["employeeId"] = mapping.Str("E-" + id)
	return u
}

func failTable(t *testing.T) *mapping.Table {
	t.Helper()
	active, err := mapping.Compile("Not([IsSoftDeleted])", mapping.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	redact, err := mapping.Compile("Redact([employeeId])", mapping.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &mapping.Table{Mappings: []mapping.Mapping{
		{Target: "userName", Kind: mapping.Direct, Attribute: "userPrincipalName", Matching: 1},
		{Target: "active", Kind: mapping.Expression, Expr: active, Type: mapping.TypeBoolean},
		{Target: "title", Kind: mapping.Direct, Attribute: "jobTitle"},
		{Target: "name.givenName", Kind: mapping.Direct, Attribute: "givenName"},
		{Target: "externalId", Kind: mapping.Expression, Expr: redact},
	}}
}

// harness is one job: a directory, a SCIM target, a state file and a clock.
type harness struct {
	t   *testing.T
	srv *scimserver.Server
	dir *deltaDir
	st  *store.Store

	mu    sync.Mutex
	now   time.Time
	fault func(r *http.Request, userName string) *scimserver.Fault
	posts map[string]int // POST /Users per userName, faulted or not
}

func newHarness(t *testing.T, users ...directory.User) *harness {
	t.Helper()
	h := &harness{t: t, dir: newDeltaDir(users...), now: t0, posts: map[string]int{}}
	h.srv = scimserver.New(scimserver.Options{Token: goodToken, Fault: h.inject})
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	h.st = openStore(t)
	return h
}

// inject counts creates per userName and asks the test's fault function.
func (h *harness) inject(r *http.Request) *scimserver.Fault {
	name := ""
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Users") {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		name, _ = m["userName"].(string)
	}
	h.mu.Lock()
	if name != "" {
		h.posts[name]++
	}
	f := h.fault
	h.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(r, name)
}

func (h *harness) setFault(f func(r *http.Request, userName string) *scimserver.Fault) {
	h.mu.Lock()
	h.fault = f
	h.mu.Unlock()
}

func (h *harness) postsFor(userName string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.posts[userName]
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

func (h *harness) set(t time.Time) {
	h.mu.Lock()
	h.now = t
	h.mu.Unlock()
}

func (h *harness) client(token string) *scimclient.Client {
	h.t.Helper()
	// No circuit breaker: whether the objects a test fails on purpose are three answers in a row depends
	// on the order concurrent answers come back in, which a loaded machine changes (a cycle stopped as
	// "target unreachable" in TestPartsDecideAndSendAsOne). The breaker's own tests are in
	// unreachable_test.go, with a client of their own.
	c, err := scimclient.New(scimclient.Options{BaseURL: h.srv.URL(), Token: token, Timeout: 10 * time.Second,
		MaxRetries: 1, RetryInitialInterval: time.Millisecond, RetryMaxInterval: 2 * time.Millisecond,
		MaxRetryWait: time.Second, Mode: scimclient.ModeAADOptSCIM062020, BreakerThreshold: -1})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// scimTarget is the SCIM client as the engine's target, users and groups, as cmd/scimsync wires it.
func scimTarget(c *scimclient.Client) Target {
	return Target{Users: target.Users(c), Groups: target.Groups(c)}
}

func (h *harness) options() Options {
	return Options{
		Users: failTable(h.t), Scope: ScopeAll, ServicePrincipalID: "sp",
		Policy:      plan.Policy{Create: true, Update: true, Delete: true},
		Concurrency: 1, Fingerprint: "fp1",
		Env: &mapping.Env{}, Now: h.clock,
		Job: "gong", StatePath: "/var/lib/scimsync/gong.db", ConfigPath: "/etc/scimsync/gong.yaml",
	}
}

// engine builds an engine on the harness's state with a client holding token.
func (h *harness) engine(token string, mod func(*Options)) *Engine {
	o := h.options()
	if mod != nil {
		mod(&o)
	}
	return New(h.dir, scimTarget(h.client(token)), h.st, o)
}

// run runs one cycle through Run; scheduled unless manual.
func (h *harness) run(e *Engine, manual bool) (*Result, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := e.Run(ctx, RunOptions{Manual: manual})
	if res == nil {
		h.t.Fatalf("Run returned no result: %v", err)
	}
	return res, err
}

// mustRun runs a cycle that must run and end without a cycle error.
func (h *harness) mustRun(e *Engine, manual bool) *Result {
	h.t.Helper()
	res, err := h.run(e, manual)
	if err != nil {
		h.t.Fatalf("Run: %v", err)
	}
	if !res.Ran {
		h.t.Fatalf("the cycle did not run: %s", res.Why)
	}
	return res
}

func (h *harness) escrows() map[string]store.Escrow {
	h.t.Helper()
	es, err := h.st.Escrows()
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]store.Escrow{}
	for _, e := range es {
		out[e.SourceID] = e
	}
	return out
}

func (h *harness) quarantine() *store.Quarantine {
	h.t.Helper()
	q, err := h.st.Quarantine()
	if err != nil {
		h.t.Fatal(err)
	}
	return q
}

func (h *harness) anchor(id string) store.Link {
	h.t.Helper()
	a, ok, err := h.st.Link(store.KindUser, id)
	if err != nil || !ok {
		h.t.Fatalf("anchor %s: ok=%v err=%v", id, ok, err)
	}
	return a
}

func (h *harness) staged() []store.StagedOp {
	h.t.Helper()
	ops, err := h.st.StagedOps()
	if err != nil {
		h.t.Fatal(err)
	}
	return ops
}

func scimErrorBody(status int, scimType, detail string) string {
	b, _ := json.Marshal(map[string]any{"schemas": []string{scimclient.SchemaError}, "status": strconv.Itoa(status),
		"scimType": scimType, "detail": detail})
	return string(b)
}

// failCreate answers the creates of the named users with status.
func failCreate(status int, names ...string) func(*http.Request, string) *scimserver.Fault {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return func(_ *http.Request, userName string) *scimserver.Fault {
		if userName == "" || (len(set) > 0 && !set[userName]) {
			return nil
		}
		switch status {
		case http.StatusBadRequest:
			return &scimserver.Fault{Status: status, Body: scimErrorBody(status, "invalidValue", "title is not an allowed value")}
		default:
			return &scimserver.Fault{Status: status}
		}
	}
}

// ---------------------------------------------------------------------------------------------------
// 1. Escrows

func TestFailureEscrowTransientCreateRetriedUntilItSucceeds(t *testing.T) {
	h := newHarness(t, fuser("a", "ann@contoso.com", "Engineer"), fuser("b", "bob@contoso.com", "Sales"))
	e := h.engine(goodToken, nil)
	h.setFault(failCreate(http.StatusInternalServerError, "bob@contoso.com"))

	res := h.mustRun(e, false)
	if rep := res.Report; rep.Created != 1 || rep.Failed != 1 {
		t.Fatalf("first cycle: created %d failed %d, want 1 and 1: %+v", rep.Created, rep.Failed, rep.Failures)
	}
	if res.Quarantine != nil {
		t.Fatalf("one failed create quarantined the job: %+v", res.Quarantine)
	}
	es, ok := h.escrows()["b"]
	if !ok || len(h.escrows()) != 1 {
		t.Fatalf("escrows = %+v, want bob only", h.escrows())
	}
	if es.Kind != store.KindUser || es.Op != "Create" || es.ErrorClass != "InternalServerError" || es.Attempts != 1 ||
		!es.FirstFailed.Equal(t0) || !es.NextRetry.Equal(t0) {
		t.Fatalf("escrow = %+v, want a user create, InternalServerError, 1 attempt, due at the next cycle (%s)", es, t0)
	}
	if res.Report.Escrowed != 1 {
		t.Errorf("report.Escrowed = %d, want 1", res.Report.Escrowed)
	}

	// Bob did not change in the directory: only the escrow brings him back, cycle after cycle.
	for i := 2; i <= 3; i++ {
		h.advance(40 * time.Minute)
		res = h.mustRun(e, false)
		if res.Report.Kind != "incremental" || res.Report.Failed != 1 || res.Report.Created != 0 {
			t.Fatalf("cycle %d: %+v", i, res.Report)
		}
		if got := h.postsFor("bob@contoso.com"); got != i {
			t.Fatalf("cycle %d: bob's create sent %d times in all, want %d", i, got, i)
		}
		es := h.escrows()["b"]
		if es.Attempts != i || !es.FirstFailed.Equal(t0) || !es.NextRetry.Equal(h.clock()) {
			t.Fatalf("cycle %d: escrow = %+v", i, es)
		}
	}

	// The target recovers: the next cycle creates bob and clears the escrow.
	h.setFault(nil)
	h.advance(40 * time.Minute)
	res = h.mustRun(e, false)
	if res.Report.Created != 1 || res.Report.Failed != 0 {
		t.Fatalf("recovery cycle: %+v", res.Report)
	}
	if len(h.escrows()) != 0 {
		t.Fatalf("escrow not cleared: %+v", h.escrows())
	}
	if u := h.srv.UserByName("bob@contoso.com"); u == nil || h.anchor("b").TargetID != u["id"] {
		t.Fatalf("bob not created and linked: %v", u)
	}
	if len(h.srv.Users()) != 2 {
		t.Fatalf("target holds %d users, want 2", len(h.srv.Users()))
	}

	// Nothing left to retry: a quiet cycle sends nothing.
	h.srv.ResetCounters()
	h.advance(40 * time.Minute)
	h.mustRun(e, false)
	if n := h.srv.TotalRequests(); n != 0 {
		t.Fatalf("quiet cycle after recovery sent %d requests: %v", n, h.srv.Requests())
	}
}

func TestFailureEscrowInvalidValueBacksOff(t *testing.T) {
	h := newHarness(t, fuser("a", "ann@contoso.com", "Engineer"))
	e := h.engine(goodToken, nil)
	h.setFault(failCreate(http.StatusBadRequest, "ann@contoso.com"))
	const ann = "ann@contoso.com"

	res := h.mustRun(e, false)
	if res.Report.Failed != 1 {
		t.Fatalf("first cycle: %+v", res.Report)
	}
	es := h.escrows()["a"]
	if es.ErrorClass != "InvalidData" || es.Attempts != 1 || !es.NextRetry.Equal(t0) {
		t.Fatalf("escrow after the first failure = %+v, want InvalidData due at the next cycle", es)
	}

	// step advances the clock and runs a scheduled cycle; want tells whether ann must be retried.
	step := func(d time.Duration, want bool, attempts int, next time.Duration) {
		t.Helper()
		before := h.postsFor(ann)
		h.advance(d)
		h.mustRun(e, false)
		retried := h.postsFor(ann) > before
		if retried != want {
			t.Fatalf("at t0+%s: retried = %v, want %v (escrow %+v)", h.clock().Sub(t0), retried, want, h.escrows()["a"])
		}
		es := h.escrows()["a"]
		if es.Attempts != attempts || !es.NextRetry.Equal(h.clock().Add(next)) && want {
			t.Fatalf("at t0+%s: escrow = %+v, want %d attempts, next retry in %s", h.clock().Sub(t0), es, attempts, next)
		}
	}
	step(40*time.Minute, true, 2, 2*time.Hour) // the next cycle, then 2 h
	step(40*time.Minute, false, 2, 0)          // t0+1h20: not due (due t0+2h40)
	step(80*time.Minute, true, 3, 4*time.Hour) // t0+2h40: due; then 4 h
	step(3*time.Hour, false, 3, 0)             // t0+5h40: not due (due t0+6h40)
	step(time.Hour, true, 4, 8*time.Hour)      // t0+6h40: due; then 8 h
	step(7*time.Hour, false, 4, 0)

	// The data is fixed in the target's eyes: the next due retry succeeds and clears the escrow.
	h.setFault(nil)
	h.advance(time.Hour)
	res = h.mustRun(e, false)
	if res.Report.Created != 1 || len(h.escrows()) != 0 {
		t.Fatalf("retry after the fix: %+v, escrows %+v", res.Report, h.escrows())
	}
}

func TestFailureEscrowNotFoundOnCachedIDRecreates(t *testing.T) {
	h := newHarness(t, fuser("a", "ann@contoso.com", "Engineer"))
	e := h.engine(goodToken, nil)
	h.mustRun(e, false)
	old := h.anchor("a").TargetID

	// Someone deletes the account in the target behind the engine's back; then the user changes.
	if err := h.client(goodToken).DeleteUser(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	h.dir.find(t, "a").Attributes["jobTitle"] = mapping.Str("Lead")
	h.dir.touch("a")
	h.advance(40 * time.Minute)
	res := h.mustRun(e, false)
	if res.Report.Failed != 0 || len(h.escrows()) != 0 {
		t.Fatalf("InvalidAnchor was escrowed instead of re-created: %+v, escrows %+v", res.Report.Failures, h.escrows())
	}
	users := h.srv.Users()
	if len(users) != 1 || users[0]["userName"] != "ann@contoso.com" || users[0]["title"] != "Lead" {
		t.Fatalf("target users = %v, want ann re-created with the new title", users)
	}
	a := h.anchor("a")
	if a.TargetID == old || a.TargetID != users[0]["id"] {
		t.Fatalf("anchor target id = %s (old %s), want the new account %v", a.TargetID, old, users[0]["id"])
	}
	// And the account is in steady state again: nothing to retry.
	h.srv.ResetCounters()
	h.advance(40 * time.Minute)
	h.mustRun(e, false)
	if n := h.srv.TotalRequests(); n != 0 {
		t.Fatalf("a cycle after the re-create sent %d requests: %v", n, h.srv.Requests())
	}
}

func TestFailureEscrowConflictOnCreateAdopts(t *testing.T) {
	h := newHarness(t, fuser("a", "ann@contoso.com", "Engineer"))
	e := h.engine(goodToken, nil)
	// The account appears in the target between the matching lookup and the create (someone else
	// created it): the target answers the POST with a real 409 uniqueness.
	seeded := false
	h.setFault(func(_ *http.Request, userName string) *scimserver.Fault {
		if userName == "ann@contoso.com" && !seeded {
			seeded = true
			if err := h.srv.Seed(scimclient.Resource{"id": "pre-existing-1", "userName": "Ann@Contoso.com", "title": "Old", "active": true}); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	res := h.mustRun(e, false)
	if res.Report.Failed != 0 || len(h.escrows()) != 0 {
		t.Fatalf("409 on create failed instead of adopting: %+v, escrows %+v", res.Report.Failures, h.escrows())
	}
	if got := h.srv.Requests()["POST /Users"]; got != 1 {
		t.Errorf("POST /Users sent %d times, want 1 (answered 409)", got)
	}
	users := h.srv.Users()
	if len(users) != 1 || users[0]["id"] != "pre-existing-1" || users[0]["title"] != "Engineer" {
		t.Fatalf("target users = %v, want the pre-existing account adopted and updated", users)
	}
	if a := h.anchor("a"); a.TargetID != "pre-existing-1" || !a.Managed {
		t.Fatalf("anchor = %+v", a)
	}
}

// ---------------------------------------------------------------------------------------------------
// 2. Quarantine

func manyUsers(prefix string, n int) []directory.User {
	out := make([]directory.User, n)
	for i := range out {
		out[i] = fuser(fmt.Sprintf("%s%05d", prefix, i), fmt.Sprintf("%s%05d@contoso.com", prefix, i), "Engineer")
	}
	return out
}

func TestFailureWrongTokenQuarantinesAtOnce(t *testing.T) {
	t.Run("initial cycle", func(t *testing.T) {
		h := newHarness(t, manyUsers("u", 20)...)
		e := h.engine(badToken, func(o *Options) { o.Concurrency = 4 })
		res, err := h.run(e, false)
		checkQuarantineException(t, h, res, err, 20)
	})
	t.Run("linked users changed", func(t *testing.T) {
		h := newHarness(t, manyUsers("u", 20)...)
		h.mustRun(h.engine(goodToken, nil), false)
		for _, u := range h.dir.users {
			u.Attributes["jobTitle"] = mapping.Str("Staff Engineer")
			h.dir.touch(u.ID)
		}
		h.srv.ResetCounters()
		h.advance(40 * time.Minute)
		res, err := h.run(h.engine(badToken, func(o *Options) { o.Concurrency = 4 }), false)
		checkQuarantineException(t, h, res, err, 20)
	})
}

func checkQuarantineException(t *testing.T, h *harness, res *Result, err error, users int) {
	t.Helper()
	if !res.Ran {
		t.Fatalf("did not run: %s", res.Why)
	}
	q := h.quarantine()
	switch {
	case q == nil || q.Reason != quarantine.ReasonQuarantineException || res.Event != quarantine.Entered:
		t.Errorf("stored quarantine = %+v, event %s, cycle error %v; want EncounteredQuarantineException entered at once (failures %d, first: %+v)",
			q, res.Event, err, res.Report.TotalFailed(), firstFailure(res.Report))
	case !q.SeriesBegan.Equal(h.clock()) || !q.NextAttempt.Equal(h.clock().Add(6*time.Hour)):
		t.Errorf("quarantine = %+v, want series began now and next attempt in 6 h", q)
	}
	if !errors.Is(res.Report.Fatal, scimclient.ErrUnauthorized) {
		t.Errorf("report.Fatal = %v, want the 401", res.Report.Fatal)
	}
	// The cycle stops at the first 401 instead of failing every user one request at a time.
	if n := h.srv.TotalRequests(); n >= int64(users/2) {
		t.Errorf("the cycle sent %d requests for %d users after a 401: %v", n, users, h.srv.Requests())
	}
}

func firstFailure(rep *Report) any {
	if len(rep.Failures) == 0 {
		return nil
	}
	return rep.Failures[0]
}

// quarantinedByToken prepares a job quarantined for a wrong token at t0: users were provisioned
// with the right token, the token then expired, and a changed user hits the 401.
func quarantinedByToken(t *testing.T, mod func(*harness, *Options)) (h *harness, good, bad *Engine) {
	t.Helper()
	h = newHarness(t, fuser("a", "ann@contoso.com", "Engineer"), fuser("b", "bob@contoso.com", "Sales"))
	// Ann's account exists before the first cycle, with a fixed id that the emails show.
	if err := h.srv.Seed(scimclient.Resource{"id": "2819c223-7f76-453a-919d-413861904646", "userName": "ann@contoso.com", "active": true}); err != nil {
		t.Fatal(err)
	}
	h.set(t0.Add(-time.Hour))
	withH := func(o *Options) {
		if mod != nil {
			mod(h, o)
		}
	}
	good, bad = h.engine(goodToken, withH), h.engine(badToken, withH)
	h.mustRun(good, false)
	h.dir.find(t, "a").Attributes["jobTitle"] = mapping.Str("Lead")
	h.dir.touch("a")
	h.set(t0)
	res, _ := h.run(bad, false)
	if q := h.quarantine(); q == nil || q.Reason != quarantine.ReasonQuarantineException || res.Event != quarantine.Entered {
		t.Fatalf("setup: the 401 did not quarantine: %+v, event %s", q, res.Event)
	}
	return h, good, bad
}

func TestFailureQuarantineBackoffSchedule(t *testing.T) {
	h, good, bad := quarantinedByToken(t, nil)

	// at moves the clock to t0+d and runs a scheduled cycle with the wrong token.
	at := func(d time.Duration, wantRun bool, wantNext time.Duration) {
		t.Helper()
		h.set(t0.Add(d))
		before := h.srv.TotalRequests()
		res, _ := h.run(bad, false)
		if res.Ran != wantRun {
			t.Fatalf("t0+%s: ran = %v (%s), want %v", d, res.Ran, res.Why, wantRun)
		}
		sent := h.srv.TotalRequests() - before
		if !wantRun {
			if sent != 0 || res.Report != nil {
				t.Fatalf("t0+%s: a skipped cycle sent %d requests", d, sent)
			}
			if !strings.Contains(res.Why, "quarantined") || !strings.Contains(res.Why, t0.Add(wantNext).Format(time.RFC3339)) {
				t.Fatalf("t0+%s: why = %q, want the reason and the next attempt %s", d, res.Why, t0.Add(wantNext).Format(time.RFC3339))
			}
			return
		}
		if sent == 0 || res.Event != quarantine.StillQuarantined {
			t.Fatalf("t0+%s: retry sent %d requests, event %s", d, sent, res.Event)
		}
		q := h.quarantine()
		if q == nil || !q.SeriesBegan.Equal(t0) || !quarantine.NextAttempt(*q).Equal(t0.Add(wantNext)) || !q.NextAttempt.Equal(t0.Add(wantNext)) {
			t.Fatalf("t0+%s: quarantine = %+v, want series from t0 and next attempt t0+%s", d, q, wantNext)
		}
	}
	at(time.Hour, false, 6*time.Hour)
	at(6*time.Hour-time.Minute, false, 6*time.Hour)
	at(6*time.Hour, true, 12*time.Hour)
	at(9*time.Hour, false, 12*time.Hour)
	at(12*time.Hour, true, 24*time.Hour)
	at(23*time.Hour, false, 24*time.Hour)
	at(24*time.Hour, true, 48*time.Hour)
	at(47*time.Hour, false, 48*time.Hour)
	at(48*time.Hour, true, 72*time.Hour)
	at(60*time.Hour, false, 72*time.Hour)

	// A manual sync runs at once while quarantined; failing, it keeps the quarantine.
	h.set(t0.Add(61 * time.Hour))
	res, _ := h.run(bad, true)
	if !res.Ran || h.quarantine() == nil {
		t.Fatalf("manual failing cycle: ran %v (%s), quarantine %+v", res.Ran, res.Why, h.quarantine())
	}
	// With the token fixed, a manual sync runs at once and lifts the quarantine.
	h.set(t0.Add(62 * time.Hour))
	res = h.mustRun(good, true)
	if res.Event != quarantine.Lifted || res.Quarantine != nil || h.quarantine() != nil {
		t.Fatalf("manual cycle with the right token: event %s, quarantine %+v", res.Event, h.quarantine())
	}
	if u := h.srv.UserByName("ann@contoso.com"); u["title"] != "Lead" {
		t.Fatalf("the held change was not sent after the fix: %v", u)
	}
	// Back to the normal schedule.
	h.advance(40 * time.Minute)
	if res := h.mustRun(good, false); res.Quarantine != nil {
		t.Fatalf("scheduled cycle after lifting: %+v", res.Quarantine)
	}
}

func TestFailureQuarantineStopsAfter28Days(t *testing.T) {
	h, good, bad := quarantinedByToken(t, nil)
	day := 24 * time.Hour
	slots := []time.Duration{6 * time.Hour, 12 * time.Hour, day}
	for d := 2; d <= 27; d++ {
		slots = append(slots, time.Duration(d)*day)
	}
	for i, s := range slots {
		h.set(t0.Add(s))
		res, _ := h.run(bad, false)
		if !res.Ran {
			t.Fatalf("retry at t0+%s did not run: %s", s, res.Why)
		}
		want := quarantine.StillQuarantined
		if i == len(slots)-1 {
			want = quarantine.Stopped // day 27 was the last retry in the 28 days
		}
		if res.Event != want {
			t.Fatalf("retry at t0+%s: event %s, want %s (quarantine %+v)", s, res.Event, want, h.quarantine())
		}
	}
	// Stopped: scheduled cycles never run again, not on day 28 nor a month later.
	for _, s := range []time.Duration{27*day + time.Hour, 28 * day, 29 * day, 60 * day} {
		h.set(t0.Add(s))
		before := h.srv.TotalRequests()
		res, _ := h.run(good, false)
		if res.Ran || h.srv.TotalRequests() != before {
			t.Fatalf("t0+%s: a stopped job ran a scheduled cycle (%s)", s, res.Why)
		}
		if !strings.Contains(res.Why, "stopped") || !strings.Contains(res.Why, "restart") {
			t.Errorf("t0+%s: why = %q, want it to say the job stopped and how to restart", s, res.Why)
		}
	}
	// `scimsync restart` resumes: the next scheduled cycle runs (initial) and succeeds.
	if err := h.st.Restart(); err != nil {
		t.Fatal(err)
	}
	h.set(t0.Add(61 * day))
	res := h.mustRun(good, false)
	if res.Report.Kind != "initial" || res.Quarantine != nil || h.quarantine() != nil {
		t.Fatalf("after restart: kind %s, quarantine %+v", res.Report.Kind, h.quarantine())
	}
	if u := h.srv.UserByName("ann@contoso.com"); u["title"] != "Lead" {
		t.Fatalf("ann not updated after the restart: %v", u)
	}
}

func TestFailureTransientStormBelowThresholdDoesNotQuarantine(t *testing.T) {
	h := newHarness(t, manyUsers("u", 10)...)
	e := h.engine(goodToken, nil)
	h.setFault(failCreate(http.StatusInternalServerError)) // every create
	for i := 0; i < 3; i++ {
		res := h.mustRun(e, false)
		if res.Report.Failed != 10 || res.Quarantine != nil || res.Event != quarantine.None {
			t.Fatalf("cycle %d: failed %d, quarantine %+v, event %s; 10 of 10 failures is below the 5,000 minimum",
				i, res.Report.Failed, res.Quarantine, res.Event)
		}
		es := h.escrows()
		if len(es) != 10 {
			t.Fatalf("cycle %d: %d escrows, want 10", i, len(es))
		}
		for _, e := range es {
			if e.ErrorClass != "InternalServerError" || e.Attempts != i+1 {
				t.Fatalf("cycle %d: escrow %+v", i, e)
			}
		}
		h.advance(40 * time.Minute)
	}
}

func TestFailureEscrowProportionThresholdQuarantines(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 failing creates")
	}
	// The documented minimum is 5,000 failures; reaching it through scimserver takes a few seconds.
	n := quarantine.MinFailures
	h := newHarness(t, manyUsers("u", n)...)
	e := h.engine(goodToken, func(o *Options) { o.Concurrency = 8 })
	h.setFault(failCreate(http.StatusInternalServerError))
	start := time.Now()
	res, err := h.run(e, false)
	t.Logf("%d failing creates took %s", n, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Failed != n {
		t.Fatalf("failed %d, want %d", res.Report.Failed, n)
	}
	q := h.quarantine()
	if q == nil || q.Reason != quarantine.ReasonEscrowProportion || res.Event != quarantine.Entered {
		t.Fatalf("quarantine = %+v, event %s; want EncounteredEscrowProportionThreshold", q, res.Event)
	}
	if len(h.escrows()) != n {
		t.Fatalf("%d escrows, want %d", len(h.escrows()), n)
	}
}

func TestFailureThrottlingStormEscrowsWithoutQuarantine(t *testing.T) {
	h := newHarness(t, manyUsers("u", 5)...)
	c := h.client(goodToken)
	e := New(h.dir, scimTarget(c), h.st, h.options())
	h.setFault(func(_ *http.Request, userName string) *scimserver.Fault {
		if userName == "" {
			return nil
		}
		return &scimserver.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0.001"}
	})
	res := h.mustRun(e, false)
	if res.Report.Failed != 5 || res.Quarantine != nil {
		t.Fatalf("failed %d, quarantine %+v", res.Report.Failed, res.Quarantine)
	}
	// Each create was retried once by the client (MaxRetries 1) after the Retry-After, then escrowed.
	if got := h.srv.Requests()["POST /Users"]; got != 10 {
		t.Errorf("POST /Users sent %d times, want 10 (each create retried once)", got)
	}
	if s := c.Stats(); s.Throttled != 10 || s.Retries != 5 {
		t.Errorf("client stats: throttled %d retries %d, want 10 and 5", s.Throttled, s.Retries)
	}
	for _, es := range h.escrows() {
		if es.ErrorClass != "TooManyRequests" || !es.NextRetry.Equal(t0) {
			t.Fatalf("escrow %+v, want TooManyRequests due at the next cycle", es)
		}
	}
	if len(h.escrows()) != 5 {
		t.Fatalf("%d escrows, want 5", len(h.escrows()))
	}
	// The storm passes: the next cycle creates everyone.
	h.setFault(nil)
	h.advance(40 * time.Minute)
	res = h.mustRun(e, false)
	if res.Report.Created != 5 || len(h.escrows()) != 0 {
		t.Fatalf("after the storm: %+v, escrows %d", res.Report, len(h.escrows()))
	}
}

// ---------------------------------------------------------------------------------------------------
// 3. Deletion threshold

// assignedHarness provisions n users assigned to the app directly.
func assignedHarness(t *testing.T, n int, mod func(*Options)) (*harness, *Engine) {
	t.Helper()
	h := newHarness(t, manyUsers("u", n)...)
	for _, u := range h.dir.users {
		h.dir.assignments = append(h.dir.assignments, directory.Assignment{PrincipalID: u.ID, PrincipalType: "User"})
	}
	e := h.engine(goodToken, func(o *Options) {
		o.Scope = ScopeAssigned
		o.DeletionThreshold = 3
		if mod != nil {
			mod(o)
		}
	})
	res := h.mustRun(e, false)
	if res.Report.Created != n {
		t.Fatalf("setup: %+v", res.Report)
	}
	return h, e
}

func TestFailureDeletionThresholdStagesAndAllowDeletes(t *testing.T) {
	h, e := assignedHarness(t, 5, nil)
	gone := []string{"u00001", "u00002", "u00003"}
	h.dir.unassign(gone...)
	h.srv.ResetCounters()
	h.advance(40 * time.Minute)
	res := h.mustRun(e, false)

	reqs := h.srv.Requests()
	if reqs["PATCH /Users/{id}"]+reqs["DELETE /Users/{id}"] != 0 {
		t.Fatalf("staged cycle sent disables or deletes: %v", reqs)
	}
	if res.Report.Staged != 3 {
		t.Errorf("report.Staged = %d, want 3", res.Report.Staged)
	}
	ops := h.staged()
	if len(ops) != 3 {
		t.Fatalf("staged ops = %+v, want 3", ops)
	}
	for i, op := range ops {
		if op.SourceID != gone[i] || op.Op != "disable" || op.Kind != store.KindUser || op.TargetID != h.anchor(gone[i]).TargetID {
			t.Errorf("staged op %d = %+v", i, op)
		}
	}
	if q := h.quarantine(); q == nil || q.Reason != quarantine.ReasonTooManyDeletes || res.Event != quarantine.Entered {
		t.Fatalf("quarantine = %+v, event %s, want TooManyDeletes", q, res.Event)
	}
	logs, err := h.st.QueryLog(store.LogQuery{Action: string(record.ActionStagedDelete)})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 3 {
		t.Fatalf("StagedDelete log entries = %d, want 3", len(logs))
	}
	for _, le := range logs {
		if le.Status != record.StatusSkipped || le.CycleID != res.Report.CycleID || le.TargetID == "" {
			t.Errorf("log entry %+v", le)
		}
	}
	for _, u := range h.srv.Users() {
		if u["active"] != true {
			t.Fatalf("user %v disabled during the staged cycle", u["userName"])
		}
	}

	// A scheduled cycle before the admin acts keeps the hold (and sends nothing).
	h.srv.ResetCounters()
	h.set(t0.Add(7 * time.Hour))
	h.mustRun(e, false)
	if h.quarantine() == nil || len(h.staged()) != 3 || h.srv.Requests()["PATCH /Users/{id}"] != 0 {
		t.Fatalf("the hold did not survive a cycle: quarantine %+v, staged %d, %v", h.quarantine(), len(h.staged()), h.srv.Requests())
	}

	// The admin allows the deletes: exactly those three disables go out.
	h.srv.ResetCounters()
	done, failed, err := e.AllowDeletes(context.Background())
	if err != nil || done != 3 || failed != 0 {
		t.Fatalf("AllowDeletes = %d, %d, %v", done, failed, err)
	}
	reqs = h.srv.Requests()
	if reqs["PATCH /Users/{id}"] != 3 || h.srv.TotalRequests() != 3 {
		t.Fatalf("AllowDeletes sent %v, want exactly 3 PATCHes", reqs)
	}
	for _, u := range h.srv.Users() {
		wantActive := !containsAny(u["userName"].(string), gone)
		if u["active"] != wantActive {
			t.Errorf("user %v active = %v, want %v", u["userName"], u["active"], wantActive)
		}
	}
	if len(h.staged()) != 0 || h.quarantine() != nil {
		t.Fatalf("after AllowDeletes: staged %+v, quarantine %+v", h.staged(), h.quarantine())
	}
	for _, id := range gone {
		if a := h.anchor(id); !a.Disabled {
			t.Errorf("anchor %s after allow-deletes = %+v, want disabled", id, a)
		}
	}
	// The job is healthy: the next scheduled cycle runs and sends nothing.
	h.srv.ResetCounters()
	h.advance(40 * time.Minute)
	res = h.mustRun(e, false)
	if res.Quarantine != nil || h.srv.TotalRequests() != 0 {
		t.Fatalf("cycle after allow-deletes: quarantine %+v, requests %v", res.Quarantine, h.srv.Requests())
	}
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.HasPrefix(s, x) {
			return true
		}
	}
	return false
}

// An allowed staged disable must leave the same state as a disable sent at once: the user left the
// scope, so the account is disabled and no longer managed (plan.Change.Unmanage), and a later delete
// in the directory sends no DELETE; and its provisioning-log entry names the user the same way.
func TestFailureAllowDeletesMatchesDirectDisable(t *testing.T) {
	direct, de := assignedHarness(t, 5, func(o *Options) { o.DeletionThreshold = 10 })
	direct.dir.unassign("u00001")
	direct.advance(40 * time.Minute)
	direct.mustRun(de, false)
	want := direct.anchor("u00001")
	wantLog, _ := direct.st.QueryLog(store.LogQuery{Action: string(record.ActionDisable)})

	staged, se := assignedHarness(t, 5, func(o *Options) { o.DeletionThreshold = 1 })
	staged.dir.unassign("u00001")
	staged.advance(40 * time.Minute)
	staged.mustRun(se, false)
	if len(staged.staged()) != 1 {
		t.Fatalf("not staged: %+v", staged.staged())
	}
	if _, _, err := se.AllowDeletes(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := staged.anchor("u00001")
	if got.Managed != want.Managed || got.Disabled != want.Disabled {
		t.Errorf("anchor after allow-deletes: managed %v disabled %v; a direct disable leaves managed %v disabled %v",
			got.Managed, got.Disabled, want.Managed, want.Disabled)
	}
	gotLog, _ := staged.st.QueryLog(store.LogQuery{Action: string(record.ActionDisable)})
	if len(wantLog) != 1 || len(gotLog) != 1 {
		t.Fatalf("disable log entries: direct %d, allowed %d", len(wantLog), len(gotLog))
	}
	if g, w := gotLog[0], wantLog[0]; g.Identity != w.Identity || g.Status != w.Status || g.SourceID != w.SourceID || g.TargetID != got.TargetID {
		t.Errorf("allow-deletes log entry: identity %q status %s source %s target %s; a direct disable logs identity %q status %s source %s",
			g.Identity, g.Status, g.SourceID, g.TargetID, w.Identity, w.Status, w.SourceID)
	}
}

func TestFailureDeletionThresholdNotReached(t *testing.T) {
	h, e := assignedHarness(t, 5, nil)
	h.dir.unassign("u00001", "u00002")
	h.srv.ResetCounters()
	h.advance(40 * time.Minute)
	res := h.mustRun(e, false)
	if len(h.staged()) != 0 || res.Report.Staged != 0 || res.Quarantine != nil {
		t.Fatalf("2 disables below a threshold of 3 were staged: %+v, quarantine %+v", h.staged(), res.Quarantine)
	}
	if res.Report.Disabled != 2 || h.srv.Requests()["PATCH /Users/{id}"] != 2 {
		t.Fatalf("disabled %d, requests %v", res.Report.Disabled, h.srv.Requests())
	}
}

// ---------------------------------------------------------------------------------------------------
// 4. Failure emails

// smtpSink is an in-process SMTP server (go-smtp) on 127.0.0.1 that keeps what it receives.
type smtpSink struct {
	mu   sync.Mutex
	msgs [][]byte
	srv  *smtp.Server
	port int
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct{ s *smtpSink }

func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, b)
	x.s.mu.Unlock()
	return nil
}
func (x *sinkSession) Reset()        {}
func (x *sinkSession) Logout() error { return nil }

func startSink(t *testing.T) *smtpSink {
	t.Helper()
	s := &smtpSink{}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "relay.test"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *smtpSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// email is one received message: its subject and decoded body.
type email struct{ subject, body string }

func (s *smtpSink) message(t *testing.T, i int) email {
	t.Helper()
	s.mu.Lock()
	raw := s.msgs[i]
	s.mu.Unlock()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return email{subject: subject, body: strings.ReplaceAll(string(body), "\r\n", "\n")}
}

func newAlerter(t *testing.T, port int, now func() time.Time, lg *zap.Logger) *notify.Notifier {
	t.Helper()
	m, err := notify.NewMailer(notify.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: notify.TLSNone,
		From: "scimsync <scimsync@example.com>", To: []string{"idm-team@example.com"}, Timeout: 5 * time.Second}, lg)
	if err != nil {
		t.Fatal(err)
	}
	n := notify.NewNotifier(m, lg)
	n.Now, n.Timeout = now, 5*time.Second
	return n
}

// checkGolden compares an email with testdata/<name>.golden ("Subject: ...", a blank line, the body).
// The machine's host name is replaced so that the files do not depend on where the tests run.
func checkGolden(t *testing.T, name string, m email) {
	t.Helper()
	got := "Subject: " + m.subject + "\n\n" + m.body
	if host, _ := os.Hostname(); host != "" {
		got = regexp.MustCompile(`\b`+regexp.QuoteMeta(host)+`\b`).ReplaceAllString(got, "sync01.example.com")
	}
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("email %s differs from %s\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

func TestFailureEmails(t *testing.T) {
	sink := startSink(t)
	var alerter *notify.Notifier
	mod := func(h *harness, o *Options) {
		if alerter == nil {
			alerter = newAlerter(t, sink.port, h.clock, nil)
		}
		o.Alerter = alerter
	}
	// The token expires and ann changes: quarantine, one email.
	h, _, bad := quarantinedByToken(t, mod)
	if sink.count() != 1 {
		t.Fatalf("entering quarantine sent %d emails, want 1", sink.count())
	}
	checkGolden(t, "email_quarantine_entered", sink.message(t, 0))
	if q := h.quarantine(); q.NotifiedReason != quarantine.ReasonQuarantineException {
		t.Errorf("NotifiedReason = %q", q.NotifiedReason)
	}

	// The next failing cycles with the same reason send nothing.
	for _, d := range []time.Duration{6 * time.Hour, 12 * time.Hour} {
		h.set(t0.Add(d))
		if res, _ := h.run(bad, false); !res.Ran {
			t.Fatalf("retry at t0+%s did not run", d)
		}
		if sink.count() != 1 {
			t.Fatalf("a retry with the same reason sent an email (%d in all)", sink.count())
		}
	}

	// The reason changes: the token is fixed, but 5,000 new users fail to be created.
	if testing.Short() {
		t.Skip("the reason change needs 5,000 failing creates")
	}
	h.dir.add(manyUsers("n", quarantine.MinFailures)...)
	h.setFault(func(_ *http.Request, userName string) *scimserver.Fault {
		if strings.HasPrefix(userName, "n") {
			return &scimserver.Fault{Status: http.StatusInternalServerError}
		}
		return nil
	})
	h.set(t0.Add(24 * time.Hour))
	res := h.mustRun(h.engine(goodToken, func(o *Options) { o.Alerter, o.Concurrency = alerter, 8 }), false)
	if res.Event != quarantine.ReasonChanged || h.quarantine().Reason != quarantine.ReasonEscrowProportion {
		t.Fatalf("event %s, quarantine %+v, want the reason changed to EncounteredEscrowProportionThreshold", res.Event, h.quarantine())
	}
	if sink.count() != 2 {
		t.Fatalf("a changed reason sent %d emails in all, want 2", sink.count())
	}
	// The 5,000 failures complete in any order: the golden file holds the stable part.
	m := sink.message(t, 1)
	m.body = regexp.MustCompile(`(?s)\n  \d+ × .*?\n\nWhat to do`).ReplaceAllString(m.body, "\n  (failing objects listed here)\n\nWhat to do")
	checkGolden(t, "email_quarantine_reason_changed", m)
}

func TestFailureEmailJobStopped(t *testing.T) {
	sink := startSink(t)
	h, _, bad := quarantinedByToken(t, func(h *harness, o *Options) { o.Alerter = newAlerter(t, sink.port, h.clock, nil) })
	if sink.count() != 1 {
		t.Fatalf("entering quarantine sent %d emails, want 1", sink.count())
	}
	// Retries on the schedule up to day 26 send nothing; day 27, the last retry, stops the job.
	for _, d := range []time.Duration{6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 26 * 24 * time.Hour} {
		h.set(t0.Add(d))
		if res, _ := h.run(bad, false); !res.Ran || res.Event != quarantine.StillQuarantined {
			t.Fatalf("t0+%s: ran %v event %s", d, res.Ran, res.Event)
		}
	}
	if sink.count() != 1 {
		t.Fatalf("retries with the same reason sent emails (%d in all)", sink.count())
	}
	h.set(t0.Add(27 * 24 * time.Hour))
	if res, _ := h.run(bad, false); res.Event != quarantine.Stopped {
		t.Fatalf("day 27: event %s", res.Event)
	}
	if sink.count() != 2 {
		t.Fatalf("stopping the job: %d emails in all, want 2", sink.count())
	}
	checkGolden(t, "email_job_stopped", sink.message(t, 1))
	// A failing manual sync of the stopped job runs, and sends no second job-stopped email.
	h.set(t0.Add(28 * 24 * time.Hour))
	if res, _ := h.run(bad, true); !res.Ran || res.Event != quarantine.Stopped {
		t.Fatalf("manual sync of a stopped job: ran %v event %s", res.Ran, res.Event)
	}
	if sink.count() != 2 {
		t.Fatalf("a second failure of a stopped job sent another email (%d in all)", sink.count())
	}
}

func TestFailureEmailDeletionThreshold(t *testing.T) {
	sink := startSink(t)
	h, _ := assignedHarness(t, 5, nil)
	alerter := newAlerter(t, sink.port, h.clock, nil)
	e := h.engine(goodToken, func(o *Options) {
		o.Scope, o.DeletionThreshold, o.Alerter = ScopeAssigned, 3, alerter
	})
	h.dir.unassign("u00001", "u00002", "u00003")
	h.set(t0)
	h.mustRun(e, false)
	if sink.count() != 1 {
		t.Fatalf("deletion threshold hit: %d emails, want 1", sink.count())
	}
	checkGolden(t, "email_deletion_threshold", sink.message(t, 0))
	// The hold continues: no second email.
	h.set(t0.Add(6 * time.Hour))
	h.mustRun(e, false)
	if sink.count() != 1 {
		t.Fatalf("the next cycle of the same hold sent another email (%d)", sink.count())
	}
}

func TestFailureEmailSendFailureDoesNotFailCycle(t *testing.T) {
	// A relay that is down: a port that was just listening and is closed now.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	core, logs := observer.New(zapcore.WarnLevel)
	lg := zap.New(core)
	h, _ := assignedHarness(t, 5, nil)
	e := h.engine(goodToken, func(o *Options) {
		o.Scope, o.DeletionThreshold, o.Alerter, o.Logger = ScopeAssigned, 3, newAlerter(t, port, h.clock, lg), lg
	})
	h.dir.unassign("u00001", "u00002", "u00003")
	h.advance(40 * time.Minute)
	res, err := h.run(e, false)
	if err != nil || !res.Ran {
		t.Fatalf("a failed email failed the cycle: ran %v, %v", res.Ran, err)
	}
	q := h.quarantine()
	if q == nil || q.Reason != quarantine.ReasonTooManyDeletes {
		t.Fatalf("quarantine = %+v", q)
	}
	if q.NotifiedReason != "" {
		t.Errorf("NotifiedReason = %q after a failed send; the email would never be retried", q.NotifiedReason)
	}
	if logs.FilterMessageSnippet("email not sent").Len() == 0 {
		t.Errorf("the send failure was not logged: %v", logs.All())
	}
}

// ---------------------------------------------------------------------------------------------------
// 5. Provisioning logs

func TestFailureProvisioningLogs(t *testing.T) {
	ids := map[string]string{ // source ids that do not contain the names
		"ann": "0a1b2c3d-0001", "bob": "0a1b2c3d-0002", "cy": "0a1b2c3d-0003", "dan": "0a1b2c3d-0004", "fay": "0a1b2c3d-0005",
	}
	var users []directory.User
	for _, n := range []string{"ann", "bob", "cy", "dan", "fay"} {
		users = append(users, fuser(ids[n], n+"@contoso.com", "Engineer"))
	}
	h := newHarness(t, users...)
	for _, u := range users {
		h.dir.assignments = append(h.dir.assignments, directory.Assignment{PrincipalID: u.ID, PrincipalType: "User"})
	}
	e := h.engine(goodToken, func(o *Options) {
		o.Scope, o.DeletionThreshold, o.LogRetention = ScopeAssigned, 2, 72*time.Hour
	})
	h.setFault(failCreate(http.StatusBadRequest, "fay@contoso.com"))

	// Cycle 1 (t0): four creates, fay fails.
	c1 := h.mustRun(e, false).Report
	// Cycle 2 (t0+1h): ann's title and employee id change (update), bob is unassigned (disable).
	h.set(t0.Add(time.Hour))
	ann := h.dir.find(t, ids["ann"])
	ann.Attributes["jobTitle"] = mapping.Str("Lead")
	ann.Attributes["employeeId"] = mapping.Str("E-SECRET-2")
	h.dir.touch(ids["ann"])
	h.dir.unassign(ids["bob"])
	c2 := h.mustRun(e, false).Report
	// Cycle 3 (t0+2h): cy and dan are unassigned: two disables reach the threshold of 2 (staged).
	h.set(t0.Add(2 * time.Hour))
	h.dir.unassign(ids["cy"], ids["dan"])
	c3 := h.mustRun(e, false).Report
	if c3.Staged != 2 {
		t.Fatalf("cycle 3 staged %d, want 2", c3.Staged)
	}

	query := func(q store.LogQuery) []store.LogEntry {
		t.Helper()
		out, err := h.st.QueryLog(q)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	names := func(es []store.LogEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s/%s/%s", strings.TrimSuffix(e.Identity, "@contoso.com"), e.Action, e.Status))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	steps := func(e store.LogEntry) string {
		var out []string
		for _, s := range e.Steps {
			out = append(out, s.Name+":"+s.Status)
		}
		return strings.Join(out, " ")
	}
	expect := func(what string, q store.LogQuery, want string) []store.LogEntry {
		t.Helper()
		got := query(q)
		if names(got) != want {
			t.Errorf("%s: got %q, want %q", what, names(got), want)
		}
		return got
	}

	// By status and action.
	failures := expect("status failure", store.LogQuery{Status: "failure"}, "fay/Create/Failure fay/Create/Failure")
	for _, f := range failures {
		if f.ErrorCode != "InvalidData" || !strings.Contains(f.Error, "400") || f.SourceID != ids["fay"] {
			t.Errorf("failure entry %+v", f)
		}
		if got := steps(f); got != "import:success scoping:success matching:success export:failure" {
			t.Errorf("failure steps = %s", got)
		}
	}
	creates := expect("create success", store.LogQuery{Action: "Create", Status: "Success"},
		"ann/Create/Success bob/Create/Success cy/Create/Success dan/Create/Success")
	for _, c := range creates {
		if c.CycleID != c1.CycleID || !c.Time.Equal(t0) || c.TargetID == "" {
			t.Errorf("create entry %+v", c)
		}
		if got := steps(c); got != "import:success scoping:success matching:success export:success" {
			t.Errorf("create steps = %s", got)
		}
		props := map[string]store.Property{}
		for _, p := range c.Modified {
			props[p.Name] = p
		}
		if props["userName"].New != c.Identity || props["title"].New != "Engineer" || props["externalId"].New != "[Redact]" {
			t.Errorf("create modified properties = %+v", c.Modified)
		}
	}
	upd := expect("update", store.LogQuery{Action: "update"}, "ann/Update/Success")
	if len(upd) == 1 {
		props := map[string]store.Property{}
		for _, p := range upd[0].Modified {
			props[p.Name] = p
		}
		if p := props["title"]; p.Old != "Engineer" || p.New != "Lead" {
			t.Errorf("update title property = %+v", p)
		}
		if p := props["externalId"]; p.Old != "[Redact]" || p.New != "[Redact]" {
			t.Errorf("redacted property = %+v, want [Redact] both ways", p)
		}
		if upd[0].CycleID != c2.CycleID {
			t.Errorf("update in cycle %s, want %s", upd[0].CycleID, c2.CycleID)
		}
	}
	dis := expect("disable", store.LogQuery{Action: "Disable"}, "bob/Disable/Success")
	if len(dis) == 1 {
		if len(dis[0].Modified) != 1 || dis[0].Modified[0] != (store.Property{Name: "active", Old: "true", New: "false"}) {
			t.Errorf("disable modified = %+v", dis[0].Modified)
		}
		if got := steps(dis[0]); got != "import:success scoping:skipped matching:success export:success" {
			t.Errorf("disable steps = %s", got)
		}
	}
	stg := expect("staged", store.LogQuery{Action: "StagedDelete"}, "cy/StagedDelete/Skipped dan/StagedDelete/Skipped")
	for _, s := range stg {
		if got := steps(s); !strings.HasSuffix(got, "processing:skipped") || !strings.HasPrefix(got, "import:success") || !strings.Contains(got, "matching:success") {
			t.Errorf("staged steps = %s", got)
		}
	}

	// By object: source id, target id, identity substring (case-insensitive).
	expect("object source id", store.LogQuery{Object: ids["bob"]}, "bob/Create/Success bob/Disable/Success")
	annTarget := h.anchor(ids["ann"]).TargetID
	expect("object target id", store.LogQuery{Object: annTarget}, "ann/Create/Success ann/Update/Success")
	expect("object identity", store.LogQuery{Object: "DAN@"}, "dan/Create/Success dan/StagedDelete/Skipped")

	// By cycle and by time.
	expect("cycle 2", store.LogQuery{CycleID: c2.CycleID}, "ann/Update/Success bob/Disable/Success fay/Create/Failure")
	expect("time range", store.LogQuery{Since: t0.Add(30 * time.Minute), Until: t0.Add(90 * time.Minute)},
		"ann/Update/Success bob/Disable/Success fay/Create/Failure")
	expect("since", store.LogQuery{Since: t0.Add(2 * time.Hour)}, "cy/StagedDelete/Skipped dan/StagedDelete/Skipped")

	// Redact: the target got the real value, the log never shows it.
	if u := h.srv.User(annTarget); u["externalId"] != "E-SECRET-2" {
		t.Errorf("target externalId = %v, want the real value", u["externalId"])
	}
	all, _ := json.Marshal(query(store.LogQuery{}))
	if bytes.Contains(all, []byte("E-SECRET-2")) || bytes.Contains(all, []byte("E-"+ids["ann"])) {
		t.Errorf("a redacted value appears in the provisioning log")
	}

	// Retention (72 h): at t0+73h30 a cycle that logs something prunes cycles 1 and 2 (t0, t0+1h).
	h.set(t0.Add(73*time.Hour + 30*time.Minute))
	ann.Attributes["jobTitle"] = mapping.Str("Director")
	h.dir.touch(ids["ann"])
	h.run(e, true)
	left := query(store.LogQuery{})
	for _, le := range left {
		if le.Time.Before(t0.Add(90 * time.Minute)) {
			t.Errorf("entry of %s (%s) outlived the retention", le.Time, le.Identity)
		}
	}
	if n := len(query(store.LogQuery{Since: t0.Add(2 * time.Hour), Until: t0.Add(3 * time.Hour)})); n != 2 {
		t.Errorf("cycle 3's entries within the retention: %d, want 2", n)
	}
}

// TestFailureTimeoutIsTransient: a target that answers a PATCH too slowly (the client's timeout) fails
// that object as transient: escrowed for the next cycle, no quarantine, retried once it answers again.
func TestFailureTimeoutIsTransient(t *testing.T) {
	h := newHarness(t, fuser("a", "ann@contoso.com", "Engineer"), fuser("b", "bob@contoso.com", "Sales"))
	e := h.engine(goodToken, nil)
	h.mustRun(e, false)

	slow := New(h.dir, func() Target {
		c, err := scimclient.New(scimclient.Options{BaseURL: h.srv.URL(), Token: goodToken, Timeout: 50 * time.Millisecond,
			MaxRetries: -1, Mode: scimclient.ModeAADOptSCIM062020})
		if err != nil {
			t.Fatal(err)
		}
		return scimTarget(c)
	}(), h.st, h.options())
	h.setFault(func(r *http.Request, _ string) *scimserver.Fault {
		if r.Method == http.MethodPatch {
			return &scimserver.Fault{Delay: 500 * time.Millisecond}
		}
		return nil
	})
	h.dir.find(t, "b").Attributes["jobTitle"] = mapping.Str("Sales Lead")
	h.dir.touch("b")
	h.advance(40 * time.Minute)
	res := h.mustRun(slow, false)
	if res.Report.Failed != 1 || res.Quarantine != nil {
		t.Fatalf("timed-out update: failed %d, quarantine %+v; want 1 failure and no quarantine", res.Report.Failed, res.Quarantine)
	}
	if es := h.escrows()["b"]; es.ErrorClass != "InternalServerError" && es.ErrorClass != "Timeout" {
		t.Fatalf("escrow class %q, want a transient class", es.ErrorClass)
	}
	h.setFault(nil)
	h.advance(40 * time.Minute)
	res = h.mustRun(e, false)
	if res.Report.Updated != 1 || len(h.escrows()) != 0 {
		t.Fatalf("retry after the target recovered: %+v, escrows %+v", res.Report, h.escrows())
	}
	if got := h.srv.UserByName("bob@contoso.com")["title"]; got != "Sales Lead" {
		t.Fatalf("bob's title in the target = %v", got)
	}
}
