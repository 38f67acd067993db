package scimclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/rawload"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
)

const token = "s3cr3t-token-value"

func setup(t testing.TB, so scimserver.Options, co scimclient.Options) (*scimserver.Server, *scimclient.Client) {
	t.Helper()
	if so.Token == "" {
		so.Token = token
	}
	srv := scimserver.New(so)
	url := srv.Start()
	t.Cleanup(srv.Close)
	if co.BaseURL == "" {
		co.BaseURL = url
	} else {
		co.BaseURL = strings.ReplaceAll(co.BaseURL, "BASE", url)
	}
	if co.Token == "" {
		co.Token = token
	}
	if co.RetryInitialInterval == 0 {
		co.RetryInitialInterval = time.Millisecond
	}
	c, err := scimclient.New(co)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func gongUser(name string) scimclient.Resource { return scimclient.BuildUser(gongValues(name)) }

func gongValues(name string) map[string]any {
	return map[string]any{
		"userName":                         name,
		"active":                           true,
		`emails[type eq "work"].value`:     name,
		"name.givenName":                   "Given",
		"name.familyName":                  "Family",
		scimclient.SchemaGong + ":country": "US",
	}
}

func TestNewValidatesURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "empty",
		"api.contoso.com/scim":  "no scheme",
		"ftp://api.contoso.com": "not http or https",
		"https:///scim":         "no host",
		"https://u:p@host/scim": "credentials",
		"https://host/scim#x":   "fragment",
		"https://host/%zz":      "base URL",
	} {
		_, err := scimclient.New(scimclient.Options{BaseURL: in})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%q) err = %v, want containing %q", in, err, want)
		}
	}
	c, err := scimclient.New(scimclient.Options{BaseURL: "https://api.contoso.com/scim/?aadOptscim062020"})
	if err != nil || c.Mode() != scimclient.ModeAADOptSCIM062020 || c.BaseURL() != "https://api.contoso.com/scim" {
		t.Fatalf("flag: %v %v %q", err, c.Mode(), c.BaseURL())
	}
	c, _ = scimclient.New(scimclient.Options{BaseURL: "https://api.contoso.com/scim"})
	if c.Mode() != scimclient.ModeDefault {
		t.Fatal("default mode")
	}
}

func TestUserLifecycle(t *testing.T) {
	srv, c := setup(t, scimserver.Options{}, scimclient.Options{BaseURL: "BASE?aadOptscim062020&tenant=x"})
	ctx := context.Background()
	if c.Mode() != scimclient.ModeAADOptSCIM062020 {
		t.Fatal("URL flag ignored")
	}
	if err := c.TestConnection(ctx, "userName"); err != nil {
		t.Fatalf("TestConnection: %v", err)
	}
	created, err := c.CreateUser(ctx, gongUser("alice@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	id := created.ID()
	got, err := c.FindUsers(ctx, "userName", "ALICE@contoso.com") // userName is caseExact false
	if err != nil || len(got) != 1 || got[0].ID() != id {
		t.Fatalf("FindUsers = %v, %v", got, err)
	}
	got, err = c.FindUsers(ctx, `emails[type eq "work"].value`, "alice@contoso.com")
	if err != nil || len(got) != 1 {
		t.Fatalf("FindUsers by email = %v, %v", got, err)
	}
	changes := []scimclient.Change{
		{Path: "name.givenName", Value: "Alicia"},
		{Path: "title", Value: "AE", Add: true},
		{Path: `emails[type eq "work"].value`, Value: "alicia@contoso.com"},
		{Path: scimclient.SchemaGong + ":country", Value: "DE"},
		{Path: "active", Value: false},
	}
	if err := c.PatchUser(ctx, id, scimclient.UserPatch(c.Mode(), changes)); err != nil {
		t.Fatal(err)
	}
	u, err := c.GetUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		if v, ok := scimclient.ValueAt(u, ch.Path); !ok || v != ch.Value {
			t.Errorf("after PATCH %s = %v, want %v", ch.Path, v, ch.Value)
		}
	}
	if err := c.DeleteUser(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetUser(ctx, id)
	if !errors.Is(err, scimclient.ErrNotFound) {
		t.Fatalf("GetUser after delete: %v", err)
	}
	if n := srv.Requests()["DELETE /Users/{id}"]; n != 1 {
		t.Errorf("DELETE count %d", n)
	}
	st := c.Stats()
	if st.ByMethod["POST"] != 1 || st.ByMethod["PATCH"] != 1 || st.Requests != srv.TotalRequests() {
		t.Errorf("stats %+v vs server %v", st, srv.Requests())
	}
}

func TestDefaultModeAgainstServer(t *testing.T) {
	_, c := setup(t, scimserver.Options{}, scimclient.Options{})
	ctx := context.Background()
	u, err := c.CreateUser(ctx, gongUser("bob@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	// "False" as a string, as Entra's default mode sends it, must disable the user.
	ops := scimclient.UserPatch(scimclient.ModeDefault, []scimclient.Change{{Path: "active", Value: false}, {Path: "name.familyName", Value: "B"}})
	if err := c.PatchUser(ctx, u.ID(), ops); err != nil {
		t.Fatal(err)
	}
	got, _ := c.GetUser(ctx, u.ID())
	if got["active"] != false {
		t.Fatalf("active = %#v", got["active"])
	}
}

func TestFilterEscapingRoundTrip(t *testing.T) {
	_, c := setup(t, scimserver.Options{CaseExactUserName: true}, scimclient.Options{})
	ctx := context.Background()
	names := []string{`o"brien@contoso.com`, `dom\alice`, `a\"b`, "zoë.müller@contoso.com", "😀@x", "sp ace+plus&amp=eq@x", `a]b[c`, "and or eq"}
	ids := map[string]string{}
	for _, n := range names {
		r, err := c.CreateUser(ctx, gongUser(n))
		if err != nil {
			t.Fatalf("create %q: %v", n, err)
		}
		ids[n] = r.ID()
	}
	for _, n := range names {
		got, err := c.FindUsers(ctx, "userName", n)
		if err != nil || len(got) != 1 || got[0].ID() != ids[n] {
			t.Errorf("FindUsers(%q) = %d results, %v", n, len(got), err)
		}
		got, err = c.FindUsers(ctx, `emails[type eq "work"].value`, n)
		if err != nil || len(got) != 1 {
			t.Errorf("FindUsers(email %q) = %d results, %v", n, len(got), err)
		}
	}
}

func TestPaging(t *testing.T) {
	srv, c := setup(t, scimserver.Options{MaxPageSize: 7}, scimclient.Options{})
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if _, err := c.CreateUser(ctx, gongUser(fmt.Sprintf("u%02d@x", i))); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	err := c.ListUsers(ctx, 10, func(r scimclient.Resource) error {
		seen[r.ID()] = true
		return nil
	})
	if err != nil || len(seen) != 30 {
		t.Fatalf("ListUsers saw %d, %v", len(seen), err)
	}
	// Server caps pages at 7: 30 users take 5 requests.
	if n := srv.Requests()["GET /Users"]; n != 5 {
		t.Errorf("list requests = %d, want 5", n)
	}
	// A filter matching many follows paging too.
	all, err := c.FindUsers(ctx, `emails[type eq "work"].value`, "u01@x")
	if err != nil || len(all) != 1 {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err = c.ListUsers(ctx, 10, func(scimclient.Resource) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("callback error not returned: %v", err)
	}
}

func TestGroups(t *testing.T) {
	_, c := setup(t, scimserver.Options{}, scimclient.Options{})
	ctx := context.Background()
	var uids []string
	for i := 0; i < 3; i++ {
		u, err := c.CreateUser(ctx, gongUser(fmt.Sprintf("m%d@x", i)))
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, u.ID())
	}
	for _, mode := range []scimclient.Mode{scimclient.ModeDefault, scimclient.ModeAADOptSCIM062020} {
		name := "Sales " + mode.String()
		g, err := c.CreateGroup(ctx, scimclient.BuildGroup(map[string]any{"displayName": name, "externalId": "x"}))
		if err != nil {
			t.Fatal(err)
		}
		found, err := c.FindGroups(ctx, name)
		if err != nil || len(found) != 1 || found[0]["members"] != nil {
			t.Fatalf("FindGroups = %v, %v", found, err)
		}
		if err := c.PatchGroup(ctx, g.ID(), scimclient.MembersAdd(mode, uids)); err != nil {
			t.Fatal(err)
		}
		if err := c.PatchGroup(ctx, g.ID(), scimclient.MembersRemove(mode, uids[:2])); err != nil {
			t.Fatal(err)
		}
		for i, uid := range uids {
			has, err := c.HasMember(ctx, g.ID(), uid)
			if err != nil || has != (i == 2) {
				t.Errorf("%s: HasMember(%d) = %v, %v", mode, i, has, err)
			}
		}
		if err := c.PatchGroup(ctx, g.ID(), scimclient.GroupPatch(mode, []scimclient.Change{{Path: "displayName", Value: name + "!"}})); err != nil {
			t.Fatal(err)
		}
		gg, err := c.GetGroup(ctx, g.ID())
		if err != nil || gg["displayName"] != name+"!" || gg["members"] != nil {
			t.Fatalf("GetGroup = %v, %v", gg, err)
		}
		n := 0
		if err := c.ListGroups(ctx, 1, func(scimclient.Resource) error { n++; return nil }); err != nil || n == 0 {
			t.Fatal(err)
		}
		if err := c.DeleteGroup(ctx, g.ID()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTypedErrors(t *testing.T) {
	srv, c := setup(t, scimserver.Options{}, scimclient.Options{})
	ctx := context.Background()
	u, err := c.CreateUser(ctx, gongUser("dup@x"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUser(ctx, gongUser("DUP@x"))
	var se *scimclient.Error
	if !errors.Is(err, scimclient.ErrConflict) || !errors.As(err, &se) || se.ScimType != "uniqueness" || se.Status != 409 {
		t.Fatalf("duplicate create: %v", err)
	}
	if err := c.PatchUser(ctx, "nope", scimclient.UserPatch(0, []scimclient.Change{{Path: "title", Value: "x"}})); !errors.Is(err, scimclient.ErrNotFound) {
		t.Fatalf("patch missing: %v", err)
	}
	if err := c.PatchUser(ctx, u.ID(), []scimclient.PatchOp{{Op: "frobnicate", Path: "title", Value: "x"}}); !errors.Is(err, scimclient.ErrInvalid) {
		t.Fatalf("bad op: %v", err)
	}
	if err := c.PatchUser(ctx, "a/b", nil); err == nil {
		t.Fatal("id with slash accepted")
	}

	bad, err := scimclient.New(scimclient.Options{BaseURL: srv.URL(), Token: "wrong-" + token})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.TestConnection(ctx, "userName")
	if !errors.Is(err, scimclient.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatal("token leaked into the error")
	}
}

func TestComplianceErrors(t *testing.T) {
	var mode atomic.Value
	mode.Store("")
	fault := func(r *http.Request) *scimserver.Fault {
		switch mode.Load().(string) {
		case "404":
			return &scimserver.Fault{Status: 404}
		case "html":
			return &scimserver.Fault{Status: 200, Body: "<html>ok</html>", ContentType: "text/html"}
		case "garbage":
			return &scimserver.Fault{Status: 200, Body: "{not json"}
		case "noresources":
			return &scimserver.Fault{Status: 200, Body: `{"totalResults":2}`}
		case "emptylist":
			return &scimserver.Fault{Status: 200, Body: `{"totalResults":0}`, ContentType: "application/json; charset=utf-8"}
		case "noid":
			return &scimserver.Fault{Status: 201, Body: `{"userName":"x"}`}
		case "found":
			return &scimserver.Fault{Status: 200, Body: `{"totalResults":1,"Resources":[{"id":"1"}]}`}
		}
		return nil
	}
	_, c := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{})
	ctx := context.Background()
	for _, tt := range []struct {
		mode string
		call func() error
		kind error
	}{
		{"404", func() error { return c.TestConnection(ctx, "userName") }, scimclient.ErrCompliance},
		{"404", func() error { _, err := c.GetUser(ctx, "x"); return err }, scimclient.ErrNotFound},
		{"html", func() error { _, err := c.GetUser(ctx, "x"); return err }, scimclient.ErrCompliance},
		{"garbage", func() error { _, err := c.FindUsers(ctx, "userName", "x"); return err }, scimclient.ErrCompliance},
		{"noresources", func() error { _, err := c.FindUsers(ctx, "userName", "x"); return err }, scimclient.ErrCompliance},
		{"emptylist", func() error { return c.TestConnection(ctx, "externalId") }, nil},
		{"noid", func() error { _, err := c.CreateUser(ctx, gongUser("x")); return err }, scimclient.ErrCompliance},
		{"found", func() error { return c.TestConnection(ctx, "userName") }, scimclient.ErrCompliance},
	} {
		mode.Store(tt.mode)
		err := tt.call()
		if tt.kind == nil && err != nil || tt.kind != nil && !errors.Is(err, tt.kind) {
			t.Errorf("%s: err = %v, want %v", tt.mode, err, tt.kind)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	var calls atomic.Int32
	fault := func(r *http.Request) *scimserver.Fault {
		if r.Method == http.MethodPost && calls.Add(1) <= 2 {
			return &scimserver.Fault{Status: 429, RetryAfter: "0.2"}
		}
		return nil
	}
	srv, c := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{RetryInitialInterval: time.Hour})
	start := time.Now()
	if _, err := c.CreateUser(context.Background(), gongUser("throttled@x")); err != nil {
		t.Fatal(err)
	}
	// The hour-long backoff was replaced by Retry-After twice.
	if el := time.Since(start); el < 400*time.Millisecond || el > 5*time.Second {
		t.Fatalf("elapsed %v, want about 400ms", el)
	}
	st := c.Stats()
	if st.Retries != 2 || st.Throttled != 2 || srv.Requests()["POST /Users"] != 3 || len(srv.Users()) != 1 {
		t.Fatalf("stats %+v, server %v", st, srv.Requests())
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	fault := func(r *http.Request) *scimserver.Fault { return &scimserver.Fault{Status: 429, RetryAfter: "3600"} }
	_, c := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{MaxRetryWait: time.Second})
	_, err := c.GetUser(context.Background(), "x")
	var se *scimclient.Error
	if !errors.As(err, &se) || !errors.Is(err, scimclient.ErrThrottled) || se.RetryAfter != time.Hour || se.Attempts != 1 {
		t.Fatalf("err = %#v", err)
	}
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		fault    scimserver.Fault
		failures int32
		wantErr  error
		attempts int64
	}{
		{"GET 500 retried", http.MethodGet, scimserver.Fault{Status: 500}, 2, nil, 3},
		{"GET 502 retried", http.MethodGet, scimserver.Fault{Status: 502}, 1, nil, 2},
		{"GET 500 exhausted", http.MethodGet, scimserver.Fault{Status: 500}, 100, scimclient.ErrTransient, 3},
		{"GET 400 not retried", http.MethodGet, scimserver.Fault{Status: 400}, 1, scimclient.ErrInvalid, 1},
		{"GET dropped connection retried", http.MethodGet, scimserver.Fault{Drop: true}, 1, nil, 2},
		{"POST 500 not retried", http.MethodPost, scimserver.Fault{Status: 500}, 1, scimclient.ErrTransient, 1},
		{"POST 503 retried", http.MethodPost, scimserver.Fault{Status: 503}, 1, nil, 2},
		{"POST dropped connection not retried", http.MethodPost, scimserver.Fault{Drop: true}, 1, scimclient.ErrTransient, 1},
		{"PATCH 504 retried", http.MethodPatch, scimserver.Fault{Status: 504}, 1, nil, 2},
		{"DELETE lost answer then 404 is success", http.MethodDelete, scimserver.Fault{Status: 502, AfterHandling: true}, 1, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			fault := func(r *http.Request) *scimserver.Fault {
				if r.Method == tt.method && n.Add(1) <= tt.failures {
					f := tt.fault
					return &f
				}
				return nil
			}
			srv, c := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{MaxRetries: 2})
			ctx := context.Background()
			var err error
			switch tt.method {
			case http.MethodPost:
				_, err = c.CreateUser(ctx, gongUser("p@x"))
			default:
				if serr := srv.Seed(scimclient.Resource{"id": "u1", "userName": "seeded@x"}); serr != nil {
					t.Fatal(serr)
				}
				switch tt.method {
				case http.MethodGet:
					_, err = c.GetUser(ctx, "u1")
				case http.MethodPatch:
					err = c.PatchUser(ctx, "u1", scimclient.UserPatch(0, []scimclient.Change{{Path: "title", Value: "t"}}))
				case http.MethodDelete:
					err = c.DeleteUser(ctx, "u1")
				}
			}
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := c.Stats().ByMethod[tt.method]; got != tt.attempts {
				t.Fatalf("attempts = %d, want %d", got, tt.attempts)
			}
		})
	}
}

func TestPostRetriedOnConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused
	c, err := scimclient.New(scimclient.Options{BaseURL: "http://" + addr + "/scim", Token: token, MaxRetries: 2, RetryInitialInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUser(context.Background(), gongUser("x@x"))
	if !errors.Is(err, scimclient.ErrTransient) || c.Stats().Requests != 3 {
		t.Fatalf("err %v, requests %d", err, c.Stats().Requests)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatal("token leaked")
	}
}

// The per-attempt timeout (Options.Timeout) is the only bound on a request: a caller's client timeout
// is dropped from the client's copy (one timer per request, not two), and the caller's client keeps it.
func TestCallerClientTimeoutIsNotUsed(t *testing.T) {
	caller := &http.Client{Timeout: time.Nanosecond}
	_, c := setup(t, scimserver.Options{}, scimclient.Options{HTTPClient: caller, Timeout: 5 * time.Second, MaxRetries: 0})
	if _, err := c.CreateUser(context.Background(), gongUser("t@x")); err != nil {
		t.Fatalf("with a caller's client timeout of 1ns: %v", err)
	}
	if caller.Timeout != time.Nanosecond {
		t.Fatalf("the caller's client changed: timeout %v", caller.Timeout)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	fault := func(r *http.Request) *scimserver.Fault { return &scimserver.Fault{Delay: 2 * time.Second} }
	_, c := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{Timeout: 50 * time.Millisecond, MaxRetries: 1})
	_, err := c.GetUser(context.Background(), "x")
	if !errors.Is(err, scimclient.ErrTransient) || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("timeout: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, c2 := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{})
	_, err = c2.GetUser(ctx, "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancel: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	_, c := setup(t, scimserver.Options{}, scimclient.Options{RequestsPerSecond: 50})
	start := time.Now()
	for i := 0; i < 11; i++ {
		if _, err := c.FindUsers(context.Background(), "userName", "x"); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 180*time.Millisecond {
		t.Fatalf("11 requests at 50/s took %v", el)
	}
}

func TestTLS(t *testing.T) {
	srv := scimserver.New(scimserver.Options{Token: token})
	url := srv.StartTLS()
	defer srv.Close()
	c, err := scimclient.New(scimclient.Options{BaseURL: url, Token: token, HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TestConnection(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCreateUser posts Gong users built from flat values: "resource" decodes the created user
// (CreateUser), "id" reads only its id (CreateUserID), "values" also encodes the body straight from
// the values (CreateUserValues, what the engine uses).
func BenchmarkCreateUser(b *testing.B) {
	for _, answer := range []string{"resource", "id", "values"} {
		for _, conc := range []int{1, 4} {
			b.Run(fmt.Sprintf("answer=%s/concurrency=%d", answer, conc), func(b *testing.B) {
				_, c := setup(b, scimserver.Options{}, scimclient.Options{Concurrency: conc})
				create := func(v map[string]any) error {
					_, err := c.CreateUser(context.Background(), scimclient.BuildUser(v))
					return err
				}
				switch answer {
				case "id":
					create = func(v map[string]any) error {
						_, err := c.CreateUserID(context.Background(), scimclient.BuildUser(v))
						return err
					}
				case "values":
					create = func(v map[string]any) error { _, err := c.CreateUserValues(context.Background(), v); return err }
				}
				b.ReportAllocs()
				b.SetParallelism(conc)
				var i atomic.Int64
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := create(gongValues(fmt.Sprintf("bench%d@x", i.Add(1)))); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "users/s")
				b.ReportMetric(float64(c.Stats().Requests)/float64(b.N), "requests/user")
			})
		}
	}
}

// BenchmarkRawCreate is the yardstick: the same POSTs with plain net/http and no client logic.
func BenchmarkRawCreate(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			srv := scimserver.New(scimserver.Options{Token: token})
			url := srv.Start()
			defer srv.Close()
			b.ReportAllocs()
			b.ResetTimer()
			res, err := rawload.Create(context.Background(), url, token, b.N, conc)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.PerSecond, "users/s")
		})
	}
}
