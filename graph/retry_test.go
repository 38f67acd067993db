package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/scimsync/scimsync/emulator/graphapi"
)

// These tests inject one retryable fault at every request position of a read and check two things
// against an identical emulated tenant read without faults: the retry sent exactly the URL of the
// failed attempt (so a delta or skip token cannot be lost), and the result is the same. Both servers
// issue identical tokens as long as they see the same mutations and the same rounds, so their request
// logs can be compared target by target.

// retryableFaults are the answers the reader retries; none waits wall-clock time (Retry-After: 0 and
// a 1 ns backoff).
var retryableFaults = []struct {
	name   string
	fault  graphapi.Fault
	status int // recorded status of the failed attempt
}{
	{"429", graphapi.Fault{Status: 429, RetryAfter: "0"}, 429},
	{"503", graphapi.Fault{Status: 503}, 503},
	{"504", graphapi.Fault{Status: 504, RetryAfter: "0"}, 504},
	{"dropped", graphapi.Fault{Drop: true}, 0},
}

// twins starts two emulators of one tenant with readers that retry without waiting: a is faulted,
// b computes the expected result.
type twins struct {
	a, b   *graphapi.Server
	ra, rb *Reader
	tn     *graphapi.Tenant
}

func newTwins(t *testing.T, o graphapi.Options) *twins {
	t.Helper()
	tn := graphapi.SampleTenant()
	o.ClientSecret = clientSecret
	tw := &twins{a: graphapi.StartForTest(t, tn, o), b: graphapi.StartForTest(t, tn, o), tn: tn}
	tw.ra, tw.rb = fastReader(t, tw.a), fastReader(t, tw.b)
	return tw
}

func fastReader(t *testing.T, s *graphapi.Server) *Reader {
	t.Helper()
	cred, err := NewCredential(secretCredential(t, s))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{GraphURL: s.GraphURL(), Credential: cred, HTTPClient: s.Client(),
		MaxRetries: 3, RetryBaseDelay: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// both applies the same mutation to both tenants.
func (tw *twins) both(t *testing.T, f func(s *graphapi.Server) error) {
	t.Helper()
	for _, s := range []*graphapi.Server{tw.a, tw.b} {
		if err := f(s); err != nil {
			t.Fatal(err)
		}
	}
}

// graphTargets lists path?query of the Graph requests (not the token requests) logged since the
// last ResetRequests.
func graphTargets(s *graphapi.Server) ([]string, []int) {
	var targets []string
	var statuses []int
	for _, q := range s.Requests() {
		if strings.HasPrefix(q.Path, "/v1.0/") {
			targets = append(targets, q.Path+"?"+q.RawQuery)
			statuses = append(statuses, q.Status)
		}
	}
	return targets, statuses
}

// local strips the server origin from a link, so links of the two twins compare.
func local(s *graphapi.Server, link string) string { return strings.TrimPrefix(link, s.URL()) }

// faultEveryPosition reads once per (request position, fault kind): first without faults on b, then
// on a with that one request failing, and checks the retry and the result. Each case runs one read on
// each twin, which keeps their token sequences equal. read must return a comparable result with
// links made local.
func faultEveryPosition(t *testing.T, tw *twins, read func(r *Reader, s *graphapi.Server) (any, error)) {
	t.Helper()
	n := 0
	for _, tc := range []struct {
		s *graphapi.Server
		r *Reader
	}{{tw.a, tw.ra}, {tw.b, tw.rb}} {
		tc.s.ResetRequests()
		if _, err := read(tc.r, tc.s); err != nil {
			t.Fatal(err)
		}
		targets, _ := graphTargets(tc.s)
		n = len(targets)
	}
	if n < 3 {
		t.Fatalf("only %d requests: the test needs a first, a middle and a last page", n)
	}
	for pos := range n {
		for _, fk := range retryableFaults {
			t.Run(fmt.Sprintf("request%d-of-%d/%s", pos+1, n, fk.name), func(t *testing.T) {
				tw.b.ResetRequests()
				want, err := read(tw.rb, tw.b)
				if err != nil {
					t.Fatal(err)
				}
				clean, _ := graphTargets(tw.b)
				f := fk.fault
				f.PathContains = clean[pos] // the exact URL: tokens are identical on both twins
				tw.a.ResetRequests()
				tw.a.InjectFaults(f)
				defer tw.a.ClearFaults()
				got, err := read(tw.ra, tw.a)
				if err != nil {
					t.Fatalf("faulted read: %v", err)
				}
				targets, statuses := graphTargets(tw.a)
				wantTargets := slices.Concat(clean[:pos+1], clean[pos:])
				if !slices.Equal(targets, wantTargets) {
					t.Fatalf("requests sent:\n  %s\nwant (request %d retried as is):\n  %s",
						strings.Join(targets, "\n  "), pos+1, strings.Join(wantTargets, "\n  "))
				}
				if statuses[pos] != fk.status || statuses[pos+1] != 200 {
					t.Fatalf("statuses %v: request %d should have failed with %d, then succeeded", statuses, pos+1, fk.status)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("faulted read differs from the faultless one:\n got %+v\nwant %+v", got, want)
				}
			})
		}
	}
}

type userRoundResult struct {
	Full      bool
	DeltaLink string
	Users     any
}

func readUsers(link func(s *graphapi.Server) string) func(r *Reader, s *graphapi.Server) (any, error) {
	return func(r *Reader, s *graphapi.Server) (any, error) {
		round, err := r.Users(context.Background(), userAttrNames, link(s))
		if err != nil {
			return nil, err
		}
		return userRoundResult{round.Full, local(s, round.DeltaLink), round.Users.All()}, nil
	}
}

func readGroups(link func(s *graphapi.Server) string) func(r *Reader, s *graphapi.Server) (any, error) {
	return func(r *Reader, s *graphapi.Server) (any, error) {
		round, err := r.Groups(context.Background(), groupRetryAttrs, link(s))
		if err != nil {
			return nil, err
		}
		return userRoundResult{round.Full, local(s, round.DeltaLink), round.Groups}, nil
	}
}

var groupRetryAttrs = []string{"displayName", "description", "mailEnabled", "securityEnabled", "mailNickname"}

func noLink(*graphapi.Server) string { return "" }

func TestRetryKeepsURLUsersFull(t *testing.T) {
	tw := newTwins(t, graphapi.Options{PageSize: 20}) // 50 users: 3 pages
	faultEveryPosition(t, tw, readUsers(noLink))
}

// TestRetryKeepsURLUsersIncremental is the round that lost its $deltatoken on a retried first page and
// turned into a full read the engine took for a delta.
func TestRetryKeepsURLUsersIncremental(t *testing.T) {
	tw := newTwins(t, graphapi.Options{PageSize: 7})
	links := map[*graphapi.Server]string{}
	for s, r := range map[*graphapi.Server]*Reader{tw.a: tw.ra, tw.b: tw.rb} {
		round, err := r.Users(context.Background(), userAttrNames, "")
		if err != nil {
			t.Fatal(err)
		}
		links[s] = round.DeltaLink
	}
	ids := tw.a.UserIDs()
	if !slices.Equal(ids, tw.b.UserIDs()) {
		t.Fatal("twins differ")
	}
	// 16 changed users: 3 pages of 7.
	for i := range 14 {
		tw.both(t, func(s *graphapi.Server) error {
			return s.UpdateUser(ids[i], map[string]any{"jobTitle": fmt.Sprintf("Title %d", i)})
		})
	}
	tw.both(t, func(s *graphapi.Server) error { return s.SoftDeleteUser(ids[20]) })
	tw.both(t, func(s *graphapi.Server) error { return s.SetManager(ids[21], ids[0]) })
	link := func(s *graphapi.Server) string { return links[s] }
	faultEveryPosition(t, tw, readUsers(link))

	// The expected round itself, from the tenant changes rather than the reader: 16 users, not 50.
	got, err := tw.rb.Users(context.Background(), userAttrNames, links[tw.b])
	if err != nil || got.Full || got.Users.Len() != 16 {
		t.Fatalf("incremental round: err=%v full=%v users=%d, want 16 changed users", err, got != nil && got.Full, got.Users.Len())
	}
}

func TestRetryKeepsURLGroupsFull(t *testing.T) {
	tw := newTwins(t, graphapi.Options{PageSize: 2, MembersPerRecord: 4})
	faultEveryPosition(t, tw, readGroups(noLink))
}

func TestRetryKeepsURLGroupsIncremental(t *testing.T) {
	tw := newTwins(t, graphapi.Options{PageSize: 2, MembersPerRecord: 4})
	links := map[*graphapi.Server]string{}
	for s, r := range map[*graphapi.Server]*Reader{tw.a: tw.ra, tw.b: tw.rb} {
		round, err := r.Groups(context.Background(), groupRetryAttrs, "")
		if err != nil {
			t.Fatal(err)
		}
		links[s] = round.DeltaLink
	}
	ids := tw.a.UserIDs()
	for i, g := range tw.tn.Groups {
		tw.both(t, func(s *graphapi.Server) error { return s.RenameGroup(g.ID, fmt.Sprintf("Renamed %d", i)) })
	}
	tw.both(t, func(s *graphapi.Server) error { return s.AddMember(tw.tn.Groups[0].ID, ids[49]) })
	link := func(s *graphapi.Server) string { return links[s] }
	faultEveryPosition(t, tw, readGroups(link))

	got, err := tw.rb.Groups(context.Background(), groupRetryAttrs, links[tw.b])
	if err != nil || got.Full || len(got.Groups) != len(tw.tn.Groups) {
		t.Fatalf("incremental round: err=%v groups=%+v, want the %d renamed groups", err, got, len(tw.tn.Groups))
	}
}

func TestRetryKeepsURLAppRoleAssignedTo(t *testing.T) {
	tw := newTwins(t, graphapi.Options{PageSize: 2}) // 6 assignments: 3 pages after the service principal
	faultEveryPosition(t, tw, func(r *Reader, s *graphapi.Server) (any, error) {
		return r.AppRoleAssignedTo(context.Background(), s.ServicePrincipal().ID)
	})
	as, err := tw.rb.AppRoleAssignedTo(context.Background(), tw.b.ServicePrincipal().ID)
	if err != nil || len(as) != len(tw.tn.Assignments) {
		t.Fatalf("assignments %v %v, want %d", as, err, len(tw.tn.Assignments))
	}
	for i, a := range tw.tn.Assignments {
		if as[i].PrincipalID != a.PrincipalID {
			t.Errorf("assignment %d: %s, want %s", i, as[i].PrincipalID, a.PrincipalID)
		}
	}
}

func TestRetryKeepsURLUsersByID(t *testing.T) {
	tw := newTwins(t, graphapi.Options{})
	ids := tw.a.UserIDs()
	want := []string{ids[3], ids[1], ids[4]}
	faultEveryPosition(t, tw, func(r *Reader, s *graphapi.Server) (any, error) {
		return r.UsersByID(context.Background(), userAttrNames, want)
	})
	us, err := tw.rb.UsersByID(context.Background(), userAttrNames, want)
	if err != nil || len(us) != 3 || us[0].ID != want[0] || us[1].ID != want[1] || us[2].ID != want[2] {
		t.Fatalf("users %+v %v, want %v", us, err, want)
	}
}

// A delta round resumed from a link without a token would read everything and be taken for a delta:
// it fails before sending anything.
func TestDeltaLinkWithoutToken(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{})
	r := fastReader(t, s)
	ctx := context.Background()
	for _, link := range []string{
		s.GraphURL() + "/users/delta()",
		s.GraphURL() + "/users/delta?$deltatoken=",
		s.GraphURL() + "/users/delta?$select=displayName",
	} {
		if round, err := r.Users(ctx, userAttrNames, link); round != nil || !errors.Is(err, ErrTokenLost) {
			t.Errorf("users from %s: round=%v err=%v, want ErrTokenLost", link, round, err)
		}
		if round, err := r.Groups(ctx, groupRetryAttrs, strings.Replace(link, "users", "groups", 1)); round != nil || !errors.Is(err, ErrTokenLost) {
			t.Errorf("groups from %s: round=%v err=%v, want ErrTokenLost", link, round, err)
		}
	}
	if targets, _ := graphTargets(s); len(targets) != 0 {
		t.Errorf("requests sent: %v", targets)
	}
}

// A page whose nextLink or deltaLink has no token fails the round: following or storing it would
// start a round over as a full read.
func TestPageLinkWithoutToken(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{})
	r := fastReader(t, s)
	for _, body := range []string{
		`{"value":[],"@odata.nextLink":"` + s.GraphURL() + `/users/delta()"}`,
		`{"value":[],"@odata.deltaLink":"` + s.GraphURL() + `/users/delta()?$select=displayName"}`,
	} {
		s.InjectFaults(graphapi.Fault{PathContains: "/users/delta", Body: body})
		round, err := r.Users(context.Background(), userAttrNames, "")
		if round != nil || !errors.Is(err, ErrTokenLost) {
			t.Errorf("page %s: round=%v err=%v, want ErrTokenLost", body, round, err)
		}
	}
}

// The transport refuses, without sending and without retrying, a request whose token differs from
// the link its attempt follows: the defect that lost a $deltatoken on retry is stopped here even if a
// request is built wrongly again.
func TestLinkGuard(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{})
	r := fastReader(t, s)
	ctx := context.Background()
	link := s.GraphURL() + "/users/delta?$deltatoken=abc"
	for _, sent := range []string{s.GraphURL() + "/users/delta()", s.GraphURL() + "/users/delta?$deltatoken=abd",
		s.GraphURL() + "/users/delta?$deltatoken=abc&$skiptoken=x"} {
		want, _ := url.Parse(link)
		u, _ := url.Parse(sent)
		info := abs.NewRequestInformation()
		info.Method = abs.GET
		info.SetUri(*u)
		_, err := r.adapter.SendPrimitive(withLink(ctx, want), info, "[]byte", odataErrors)
		if !errors.Is(err, ErrTokenLost) {
			t.Fatalf("sent %s following %s: %v, want ErrTokenLost", sent, link, err)
		}
		t.Log(err)
		if _, retry := r.retryDelay(err, 0); retry {
			t.Errorf("ErrTokenLost is retried")
		}
	}
	if targets, _ := graphTargets(s); len(targets) != 0 {
		t.Errorf("requests sent: %v", targets)
	}
	// The same link passes.
	u, _ := url.Parse(link)
	info := abs.NewRequestInformation()
	info.Method = abs.GET
	info.SetUri(*u)
	if _, err := r.adapter.SendPrimitive(withLink(ctx, u), info, "[]byte", odataErrors); errors.Is(err, ErrTokenLost) {
		t.Fatalf("matching link refused: %v", err)
	}
	if targets, _ := graphTargets(s); len(targets) != 1 {
		t.Errorf("requests sent: %v, want the one", targets)
	}
}
