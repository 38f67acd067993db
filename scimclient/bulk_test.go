package scimclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
)

func bulkSetup(t *testing.T, b scimserver.Bulk, fault func(*http.Request) *scimserver.Fault) (*scimserver.Server, *scimclient.Client, scimclient.BulkLimits) {
	t.Helper()
	srv, c := setup(t, scimserver.Options{Bulk: &b, Fault: fault}, scimclient.Options{MaxRetryWait: time.Second})
	lim, err := c.BulkLimits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, lim
}

func createOp(bulkID, userName string) scimclient.BulkOp {
	return scimclient.BulkOp{Method: http.MethodPost, Path: "/Users", BulkID: bulkID, Data: gongUser(userName)}
}

func TestBulkLimitsFromServiceProviderConfig(t *testing.T) {
	_, _, lim := bulkSetup(t, scimserver.Bulk{MaxOperations: 7, MaxPayloadSize: 4096}, nil)
	if want := (scimclient.BulkLimits{Supported: true, MaxOperations: 7, MaxPayloadSize: 4096}); lim != want {
		t.Fatalf("limits %+v, want %+v", lim, want)
	}
	_, c := setup(t, scimserver.Options{}, scimclient.Options{})
	lim, err := c.BulkLimits(context.Background())
	if err != nil || lim.Supported {
		t.Fatalf("a target without Bulk: %+v, %v", lim, err)
	}
	if _, err := c.Bulk(context.Background(), lim, []scimclient.BulkOp{createOp("a", "a@x")}); err == nil {
		t.Fatal("Bulk against a target without Bulk: no error")
	}
}

// TestBulkCreateThenMembership creates users and references them by bulkId from a group create and a
// PATCH of an existing group; two operations per request put the references in later requests than
// their creates, so the client must resolve them itself.
func TestBulkCreateThenMembership(t *testing.T) {
	srv, c, lim := bulkSetup(t, scimserver.Bulk{MaxOperations: 2}, nil)
	ctx := context.Background()
	old, err := c.CreateGroup(ctx, scimclient.BuildGroup(map[string]any{"displayName": "Existing"}))
	if err != nil {
		t.Fatal(err)
	}
	group := scimclient.BuildGroup(map[string]any{"displayName": "New"})
	group["members"] = []any{map[string]any{"value": "bulkId:u1"}, map[string]any{"value": "bulkId:u2"}}
	ops := []scimclient.BulkOp{
		createOp("u1", "one@x"),
		createOp("u2", "two@x"),
		{Method: http.MethodPost, Path: "/Groups", BulkID: "g", Data: group},
		{Method: http.MethodPatch, Path: "/Groups/" + old.ID(), Data: scimclient.PatchBody(
			[]scimclient.PatchOp{{Op: "add", Path: "members", Value: []any{map[string]any{"value": "bulkId:u2"}}}})},
	}
	res, err := c.Bulk(ctx, lim, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.ID == "" {
			t.Fatalf("operation %d: %+v", i, r)
		}
	}
	u1, u2 := srv.UserByName("one@x").ID(), srv.UserByName("two@x").ID()
	if res[0].ID != u1 || res[1].ID != u2 || res[3].ID != old.ID() {
		t.Fatalf("ids %+v, want users %s %s and group %s", res, u1, u2, old.ID())
	}
	if got, want := memberIDs(srv.Group(res[2].ID)), sorted(u1, u2); got != want {
		t.Fatalf("new group members %s, want %s", got, want)
	}
	if got := memberIDs(srv.Group(old.ID())); got != u2 {
		t.Fatalf("existing group members %s, want %s", got, u2)
	}
	if n := srv.Requests()["POST /Bulk"]; n != 2 {
		t.Fatalf("%d Bulk requests, want 2 (4 operations, 2 per request)", n)
	}
}

func memberIDs(g scimclient.Resource) string {
	var ids []string
	ms, _ := g["members"].([]any)
	for _, m := range ms {
		ids = append(ids, m.(map[string]any)["value"].(string))
	}
	return sorted(ids...)
}

func sorted(s ...string) string {
	sort.Strings(s)
	return strings.Join(s, ",")
}

// TestBulkFailurePositions puts one failing operation first, in the middle and last, and expects its
// error to be the one the single request gives against the same data, and every other operation done.
func TestBulkFailurePositions(t *testing.T) {
	taken := gongUser("taken@x")
	// The single-request errors, from a server of its own.
	refSrv, ref := setup(t, scimserver.Options{}, scimclient.Options{})
	if err := refSrv.Seed(taken); err != nil {
		t.Fatal(err)
	}
	_, dupErr := ref.CreateUser(context.Background(), gongUser("TAKEN@x"))
	missingErr := ref.PatchUser(context.Background(), "missing", []scimclient.PatchOp{{Op: "replace", Path: "title", Value: "x"}})
	if dupErr == nil || missingErr == nil {
		t.Fatal("the reference requests did not fail")
	}
	failing := map[string]struct {
		op   scimclient.BulkOp
		want error
	}{
		"duplicate": {createOp("dup", "TAKEN@x"), dupErr},
		"missing": {scimclient.BulkOp{Method: http.MethodPatch, Path: "/Users/missing",
			Data: scimclient.PatchBody([]scimclient.PatchOp{{Op: "replace", Path: "title", Value: "x"}})}, missingErr},
	}
	for name, f := range failing {
		for _, pos := range []int{0, 2, 4} {
			t.Run(fmt.Sprintf("%s/at=%d", name, pos), func(t *testing.T) {
				srv, c, lim := bulkSetup(t, scimserver.Bulk{}, nil)
				if err := srv.Seed(taken); err != nil {
					t.Fatal(err)
				}
				var ops []scimclient.BulkOp
				for i := 0; len(ops) < 5; i++ {
					if len(ops) == pos {
						ops = append(ops, f.op)
					}
					ops = append(ops, createOp(fmt.Sprintf("ok%d", i), fmt.Sprintf("ok%d@x", i)))
				}
				ops = ops[:5]
				res, err := c.Bulk(context.Background(), lim, ops)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res {
					if i == pos {
						sameError(t, r.Err, f.want)
						continue
					}
					if r.Err != nil || srv.User(r.ID) == nil {
						t.Fatalf("operation %d: %+v", i, r)
					}
				}
				if n := len(srv.Users()); n != 5 {
					t.Fatalf("%d users, want 5 (the seeded one and 4 created)", n)
				}
			})
		}
	}
}

// sameError checks that a Bulk operation's error has the kind, status and scimType of the single
// request's.
func sameError(t *testing.T, got, want error) {
	t.Helper()
	var g, w *scimclient.Error
	if !errors.As(got, &g) || !errors.As(want, &w) {
		t.Fatalf("error %v, want %v", got, want)
	}
	if g.Kind != w.Kind || g.Status != w.Status || g.ScimType != w.ScimType || g.Method != w.Method {
		t.Fatalf("error %+v, want like %+v", g, w)
	}
}

func TestBulkWholeRequestThrottled(t *testing.T) {
	srv, c, lim := bulkSetup(t, scimserver.Bulk{}, func(r *http.Request) *scimserver.Fault {
		if strings.HasSuffix(r.URL.Path, "/Bulk") {
			return &scimserver.Fault{Status: http.StatusTooManyRequests, RetryAfter: "120"}
		}
		return nil
	})
	res, err := c.Bulk(context.Background(), lim, []scimclient.BulkOp{createOp("a", "a@x"), createOp("b", "b@x")})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		var se *scimclient.Error
		if !errors.Is(r.Err, scimclient.ErrThrottled) || !errors.As(r.Err, &se) || se.RetryAfter != 120*time.Second ||
			se.Method != http.MethodPost || se.Path != "/Users" {
			t.Fatalf("operation %d: %+v", i, r)
		}
	}
	if n := len(srv.Users()); n != 0 {
		t.Fatalf("%d users created by a throttled request", n)
	}
}

// TestBulkLostAnswer: the target applied the request but the answer never arrived. The request is
// not sent again (it holds creates), and every operation reads as a lost create does, ErrTransient,
// so the caller matches before it creates again.
func TestBulkLostAnswer(t *testing.T) {
	var bulks atomic.Int32
	srv, c, lim := bulkSetup(t, scimserver.Bulk{}, func(r *http.Request) *scimserver.Fault {
		if strings.HasSuffix(r.URL.Path, "/Bulk") && bulks.Add(1) == 1 {
			return &scimserver.Fault{Drop: true, AfterHandling: true}
		}
		return nil
	})
	res, err := c.Bulk(context.Background(), lim, []scimclient.BulkOp{createOp("a", "a@x"), createOp("b", "b@x")})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, scimclient.ErrTransient) {
			t.Fatalf("operation %d: %+v", i, r)
		}
	}
	if n := bulks.Load(); n != 1 {
		t.Fatalf("%d Bulk requests, want 1 (no blind resend of creates)", n)
	}
	if n := len(srv.Users()); n != 2 {
		t.Fatalf("%d users, want the 2 the lost request created", n)
	}
}

// TestBulkChunking sends more operations than fit one request by count and by size; the server
// answers 413 beyond its limits, so all operations succeeding shows both limits were kept.
func TestBulkChunking(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ops, maxOps  int
		payload      int
		minRequests  int
		serverMaxOps int // the server's real limit when it takes less than it advertises
	}{
		{name: "by count", ops: 10, maxOps: 3, payload: 1 << 20, minRequests: 4},
		{name: "by size", ops: 10, maxOps: 100, payload: 1200, minRequests: 4},
		{name: "server takes less", ops: 8, maxOps: 8, payload: 1 << 20, minRequests: 2, serverMaxOps: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvMax := tc.maxOps
			if tc.serverMaxOps > 0 {
				srvMax = tc.serverMaxOps
			}
			srv, c, _ := bulkSetup(t, scimserver.Bulk{MaxOperations: srvMax, MaxPayloadSize: tc.payload}, nil)
			lim := scimclient.BulkLimits{Supported: true, MaxOperations: tc.maxOps, MaxPayloadSize: tc.payload}
			var ops []scimclient.BulkOp
			for i := 0; i < tc.ops; i++ {
				ops = append(ops, createOp(fmt.Sprintf("u%d", i), fmt.Sprintf("user%02d@example.com", i)))
			}
			res, err := c.Bulk(context.Background(), lim, ops)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Err != nil {
					t.Fatalf("operation %d: %v", i, r.Err)
				}
			}
			if n := srv.Requests()["POST /Bulk"]; n < int64(tc.minRequests) {
				t.Fatalf("%d Bulk requests, want at least %d", n, tc.minRequests)
			}
			if n := len(srv.Users()); n != tc.ops {
				t.Fatalf("%d users, want %d", n, tc.ops)
			}
		})
	}
}

func TestBulkReferenceToFailedOperation(t *testing.T) {
	for _, maxOps := range []int{1, 10} { // the reference in a later request, then in the same one
		t.Run(fmt.Sprintf("maxOperations=%d", maxOps), func(t *testing.T) {
			srv, c, lim := bulkSetup(t, scimserver.Bulk{MaxOperations: maxOps}, nil)
			if err := srv.Seed(gongUser("taken@x")); err != nil {
				t.Fatal(err)
			}
			group := scimclient.BuildGroup(map[string]any{"displayName": "G"})
			group["members"] = []any{map[string]any{"value": "bulkId:u"}}
			res, err := c.Bulk(context.Background(), lim, []scimclient.BulkOp{
				createOp("u", "taken@x"),
				{Method: http.MethodPost, Path: "/Groups", BulkID: "g", Data: group},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res[0].Err, scimclient.ErrConflict) || !errors.Is(res[1].Err, scimclient.ErrConflict) {
				t.Fatalf("results %+v", res)
			}
			if maxOps == 1 && !errors.Is(res[1].Err, scimclient.ErrBulkReference) {
				t.Fatalf("the client-side refusal does not say why: %v", res[1].Err)
			}
			if n := len(srv.Groups()); n != 0 {
				t.Fatalf("%d groups created with an unresolved member", n)
			}
		})
	}
}

func TestBulkRejectsBadOperations(t *testing.T) {
	srv, c, lim := bulkSetup(t, scimserver.Bulk{}, nil)
	for name, ops := range map[string][]scimclient.BulkOp{
		"POST without bulkId": {{Method: http.MethodPost, Path: "/Users", Data: gongUser("a@x")}},
		"duplicate bulkId":    {createOp("a", "a@x"), createOp("a", "b@x")},
		"GET":                 {{Method: http.MethodGet, Path: "/Users/1"}},
		"quote in path":       {{Method: http.MethodDelete, Path: `/Users/"x`}},
		"bad bulkId":          {createOp("a b", "a@x")},
		"reserved bulkId":     {createOp("scimsync.op.1", "a@x")},
	} {
		if _, err := c.Bulk(context.Background(), lim, ops); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if n := srv.TotalRequests(); n != 1 {
		t.Fatalf("%d requests, want only the ServiceProviderConfig read", n)
	}
}

// TestBulkResponseShapes feeds the client BulkResponses as other servers write them: status as a
// number, as SCIM 1.1's {"code": ...}, results without bulkId (mapped by method and order), a result
// missing, per-operation 429, an answer that is no BulkResponse.
func TestBulkResponseShapes(t *testing.T) {
	ops := []scimclient.BulkOp{createOp("a", "a@x"), createOp("b", "b@x"),
		{Method: http.MethodDelete, Path: "/Users/u9"}}
	for _, tc := range []struct {
		name, body string
		want       []string // per operation: "id" or the error kind
	}{
		{"numbers and locations",
			`{"Operations":[{"method":"POST","bulkId":"b","status":201,"location":"https://h/scim/Users/B%2F1"},` +
				`{"method":"POST","bulkId":"a","status":"201","response":{"id":"A"}},` +
				`{"method":"DELETE","bulkId":"scimsync.op.2","status":"204"}]}`,
			[]string{"A", "B/1", "u9"}},
		{"SCIM 1.1 codes, no bulkIds",
			`{"Operations":[{"method":"POST","status":{"code":"201"},"location":"/Users/1"},` +
				`{"method":"POST","status":{"code":"409"},"response":{"scimType":"uniqueness","detail":"taken"}},` +
				`{"method":"DELETE","status":{"code":"404"}}]}`,
			[]string{"1", "conflict", "not found"}},
		{"a result missing, one throttled",
			`{"Operations":[{"method":"POST","bulkId":"a","status":"429"}]}`,
			[]string{"throttled", "transient failure", "transient failure"}},
		{"created without id", `{"Operations":[{"method":"POST","bulkId":"a","status":"201"}]}`,
			[]string{"target not SCIM compliant", "transient failure", "transient failure"}},
		{"not a BulkResponse", `["nope"]`,
			[]string{"target not SCIM compliant", "target not SCIM compliant", "target not SCIM compliant"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/scim+json")
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := scimclient.New(scimclient.Options{BaseURL: srv.URL, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Bulk(context.Background(), scimclient.BulkLimits{Supported: true, MaxOperations: 10, MaxPayloadSize: 1 << 20}, ops)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				got := r.ID
				if r.Err != nil {
					got = strings.TrimPrefix(scimclient.KindOf(r.Err).Error(), "scim: ")
				}
				if got != tc.want[i] {
					t.Errorf("operation %d: %q (%+v), want %q", i, got, r, tc.want[i])
				}
			}
		})
	}
}

// An operation larger than maxPayloadSize on its own is refused without being sent (413, ErrInvalid);
// the operations around it still go.
func TestBulkOversizedOperation(t *testing.T) {
	srv, c, lim := bulkSetup(t, scimserver.Bulk{MaxPayloadSize: 1024}, nil)
	big := createOp("big", "big@x")
	big.Data.(scimclient.Resource)["title"] = strings.Repeat("x", 2000)
	res, err := c.Bulk(context.Background(), lim, []scimclient.BulkOp{createOp("a", "a@x"), big, createOp("b", "b@x")})
	if err != nil {
		t.Fatal(err)
	}
	var e *scimclient.Error
	if !errors.As(res[1].Err, &e) || !errors.Is(res[1].Err, scimclient.ErrInvalid) || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("the oversized operation: %v, want ErrInvalid with status 413", res[1].Err)
	}
	if res[0].Err != nil || res[2].Err != nil {
		t.Fatalf("the operations around it: %v, %v", res[0].Err, res[2].Err)
	}
	var names []string
	for _, u := range srv.Users() {
		names = append(names, fmt.Sprint(u["userName"]))
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "a@x,b@x" {
		t.Fatalf("target users %s, want a@x,b@x (the oversized one never sent)", got)
	}
}

// A reference to a bulkId that only a later request creates cannot be resolved by the client: the
// operation fails with ErrBulkReference and is not sent; the create itself still goes.
func TestBulkForwardReference(t *testing.T) {
	srv, c, lim := bulkSetup(t, scimserver.Bulk{MaxOperations: 1}, nil)
	group := scimclient.BuildGroup(map[string]any{"displayName": "G"})
	group["members"] = []any{map[string]any{"value": "bulkId:later"}}
	res, err := c.Bulk(context.Background(), lim, []scimclient.BulkOp{
		{Method: http.MethodPost, Path: "/Groups", BulkID: "g", Data: group},
		createOp("later", "later@x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, scimclient.ErrBulkReference) || res[1].Err != nil {
		t.Fatalf("results %+v, want the group refused with ErrBulkReference and the user created", res)
	}
	if len(srv.Groups()) != 0 || len(srv.Users()) != 1 {
		t.Fatalf("target holds %d groups and %d users, want 0 and 1", len(srv.Groups()), len(srv.Users()))
	}
}
