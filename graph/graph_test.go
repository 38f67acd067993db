package graph

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
)

// These tests run the real msgraph-sdk-go and azidentity against graphapi over TLS on 127.0.0.1.

const clientSecret = "s3cret-value-never-logged"

var userAttrNames = []string{"userPrincipalName", "originalUserPrincipalName", "displayName", "givenName",
	"surname", "telephoneNumber", "mobile", "extensionAttribute1", "accountEnabled", "proxyAddresses", "manager",
	"preferredLanguage", "jobTitle", "department", "IsSoftDeleted", "mail"}

func newEmulator(t *testing.T, o graphapi.Options) (*graphapi.Server, *graphapi.Tenant) {
	t.Helper()
	tn := graphapi.SampleTenant()
	o.ClientSecret = clientSecret
	return graphapi.StartForTest(t, tn, o), tn
}

func secretCredential(t *testing.T, s *graphapi.Server) CredentialOptions {
	return CredentialOptions{Type: CredentialClientSecret, TenantID: s.TenantID(), ClientID: "app-id",
		ClientSecret: clientSecret, AuthorityHost: s.AuthorityHost(), HTTPClient: s.Client()}
}

func newReader(t *testing.T, s *graphapi.Server, co CredentialOptions) *Reader {
	t.Helper()
	cred, err := NewCredential(co)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{GraphURL: s.GraphURL(), Credential: cred, HTTPClient: s.Client(),
		MaxRetries: 3, RetryBaseDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func usersByID(us []directory.User) map[string]directory.User {
	m := map[string]directory.User{}
	for _, u := range us {
		m[u.ID] = u
	}
	return m
}

func attr(t *testing.T, m mapping.AttributeMap, name string) mapping.Value {
	t.Helper()
	v, ok := m[name]
	if !ok {
		t.Fatalf("attribute %s missing in %v", name, m)
	}
	return v
}

func TestUsersFullRound(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{PageSize: 7, EmptyPageEvery: 2})
	r := newReader(t, s, secretCredential(t, s))
	ctx := context.Background()
	round, err := r.Users(ctx, userAttrNames, "")
	if err != nil {
		t.Fatal(err)
	}
	if !round.Full || round.DeltaLink == "" || round.Users.Len() != len(tn.Users) {
		t.Fatalf("full=%v link=%q users=%d", round.Full, round.DeltaLink, round.Users.Len())
	}
	reqs := s.Requests()
	var graphReqs int
	for _, q := range reqs {
		if !strings.HasPrefix(q.Path, "/v1.0/") {
			continue
		}
		graphReqs++
		if !q.Auth {
			t.Fatalf("request without token: %+v", q)
		}
		if q.Header.Get("x-ms-throttle-priority") != "low" {
			t.Errorf("no throttle priority header")
		}
		if graphReqs == 1 {
			want := strings.Join(directory.UserSelect(userAttrNames), ",")
			if q.Path != "/v1.0/users/delta()" || q.Query.Get("$select") != want {
				t.Fatalf("first request %s ?%s, want $select=%s", q.Path, q.RawQuery, want)
			}
			if !strings.Contains(q.Query.Get("$select"), "manager") {
				t.Fatal("manager not selected")
			}
		} else if q.Query.Get("$select") != "" || q.Query.Get("$skiptoken") == "" {
			t.Fatalf("page request %s", q.RawQuery)
		}
	}
	if graphReqs < 9 { // 50 users / 7 plus empty pages
		t.Fatalf("%d page requests", graphReqs)
	}

	byID := usersByID(round.Users.All())
	megan := tn.User("megan.bowen@contoso.example")
	alex := tn.User("alex.wilber@contoso.example")
	m := byID[megan["id"].(string)]
	if m.Removed != directory.NotRemoved || !m.ManagerKnown {
		t.Errorf("megan: %+v", m)
	}
	if _, ok := m.Attributes["manager"]; ok {
		t.Error("megan has no manager")
	}
	a := byID[alex["id"].(string)].Attributes
	checks := map[string]string{
		"objectId":            alex["id"].(string),
		"userPrincipalName":   "alex.wilber@contoso.example",
		"telephoneNumber":     alex["businessPhones"].([]any)[0].(string),
		"mobile":              alex["mobilePhone"].(string),
		"extensionAttribute1": alex["onPremisesExtensionAttributes"].(map[string]any)["extensionAttribute1"].(string),
		"manager":             megan["id"].(string),
		"preferredLanguage":   "en-US",
		"displayName":         "Alex Wilber",
	}
	for k, want := range checks {
		if got := attr(t, a, k); got.Kind() != mapping.KindString || got.String() != want {
			t.Errorf("%s = %v (%v), want %q", k, got, got.Kind(), want)
		}
	}
	if v := attr(t, a, "accountEnabled"); v.Kind() != mapping.KindBool || v.String() != "True" {
		t.Errorf("accountEnabled %v", v)
	}
	if v := attr(t, a, "proxyAddresses"); v.Kind() != mapping.KindMulti || len(v.Strings()) != 2 ||
		v.Strings()[0] != "SMTP:alex.wilber@contoso.example" {
		t.Errorf("proxyAddresses %v", v.Strings())
	}
	if _, ok := a["IsSoftDeleted"]; ok {
		t.Error("computed attribute filled by the reader")
	}
	// Umlauts survive the round trip.
	jm := byID[tn.User("joerg.mueller@contoso.example")["id"].(string)].Attributes
	if attr(t, jm, "displayName").String() != "Jörg Müller" {
		t.Errorf("diacritics: %v", jm["displayName"])
	}
	// Disabled user.
	ben := byID[tn.User("ben.walters@contoso.example")["id"].(string)].Attributes
	if b, _ := attr(t, ben, "accountEnabled").AsBool(); b {
		t.Error("ben should be disabled")
	}
	// B2B guest: userPrincipalName stripped, originalUserPrincipalName raw.
	var guest map[string]any
	for _, u := range tn.Users {
		if u["userType"] == "Guest" {
			guest = u
		}
	}
	g := byID[guest["id"].(string)].Attributes
	if attr(t, g, "userPrincipalName").String() != "taylor.reed@fabrikam.example" ||
		attr(t, g, "originalUserPrincipalName").String() != guest["userPrincipalName"] {
		t.Errorf("guest upn %v / %v", g["userPrincipalName"], g["originalUserPrincipalName"])
	}
	if _, ok := g["telephoneNumber"]; ok {
		t.Error("guest has no business phone")
	}
}

// The reader reads every record into one reused map: an attribute one user has must never show up on
// the next. Which users have a mobile phone, a job title, a business phone or a manager is taken from
// the tenant itself (about a third of its users have no mobile phone).
func TestUsersFullRoundKeepsEachUsersOwnAttributes(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{PageSize: 7})
	r := newReader(t, s, secretCredential(t, s))
	round, err := r.Users(context.Background(), userAttrNames, "")
	if err != nil {
		t.Fatal(err)
	}
	byID := usersByID(round.Users.All())
	if len(byID) != len(tn.Users) {
		t.Fatalf("%d users, want %d", len(byID), len(tn.Users))
	}
	for _, tu := range tn.Users {
		id := tu["id"].(string)
		got := byID[id].Attributes
		want := map[string]string{"manager": tn.Managers[id]}
		for attr, prop := range map[string]string{"mobile": "mobilePhone", "jobTitle": "jobTitle", "department": "department"} {
			want[attr], _ = tu[prop].(string)
		}
		if phones, _ := tu["businessPhones"].([]any); len(phones) > 0 {
			want["telephoneNumber"] = phones[0].(string)
		}
		for attr, w := range want {
			v, ok := got[attr]
			if ok != (w != "") || v.String() != w {
				t.Errorf("user %s: %s = %q (present %v), want %q", tu["userPrincipalName"], attr, v.String(), ok, w)
			}
		}
		if v := got["objectId"]; v.String() != id {
			t.Errorf("user %s: objectId %q", id, v.String())
		}
	}
}

func TestUsersIncremental(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{PageSize: 10})
	r := newReader(t, s, secretCredential(t, s))
	ctx := context.Background()
	first, err := r.Users(ctx, userAttrNames, "")
	if err != nil {
		t.Fatal(err)
	}
	ids := s.UserIDs()
	renamed, soft, hard, noMgr, newMgr := ids[5], ids[6], ids[7], ids[8], ids[9]
	for _, err := range []error{
		s.UpdateUser(renamed, map[string]any{"displayName": "Grady Archie-Smith", "businessPhones": []string{"+1 555 0100"}}),
		s.SoftDeleteUser(soft),
		s.HardDeleteUser(hard),
		s.SetManager(noMgr, ""),
		s.SetManager(newMgr, ids[0]),
		s.UpdateUser(ids[10], map[string]any{"officeLocation": "not selected"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	round, err := r.Users(ctx, userAttrNames, first.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	if round.Full || round.DeltaLink == "" || round.DeltaLink == first.DeltaLink {
		t.Fatalf("incremental round %+v", round)
	}
	got := usersByID(round.Users.All())
	if len(got) != 5 {
		t.Fatalf("%d changed users: %+v", len(got), round.Users.All())
	}
	if a := got[renamed].Attributes; attr(t, a, "displayName").String() != "Grady Archie-Smith" ||
		attr(t, a, "telephoneNumber").String() != "+1 555 0100" || got[renamed].ManagerKnown {
		t.Errorf("renamed %+v", got[renamed])
	}
	if got[soft].Removed != directory.SoftDeleted || got[hard].Removed != directory.HardDeleted {
		t.Errorf("removed: %q %q", got[soft].Removed, got[hard].Removed)
	}
	if u := got[noMgr]; !u.ManagerKnown || u.Attributes["manager"].String() != "" {
		t.Errorf("manager removed: %+v", u)
	}
	if u := got[newMgr]; !u.ManagerKnown || u.Attributes["manager"].String() != ids[0] {
		t.Errorf("manager changed: %+v", u)
	}
	_ = tn
	// Nothing changed: an empty round with a fresh link.
	again, err := r.Users(ctx, userAttrNames, round.DeltaLink)
	if err != nil || again.Users.Len() != 0 || again.DeltaLink == "" {
		t.Fatalf("no-change round %+v %v", again, err)
	}
}

func TestGroupsSplitMembers(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{PageSize: 2, MembersPerRecord: 4})
	r := newReader(t, s, secretCredential(t, s))
	ctx := context.Background()
	attrs := []string{"displayName", "description", "mailEnabled", "securityEnabled", "mailNickname"}
	round, err := r.Groups(ctx, attrs, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(round.Groups) != len(tn.Groups) {
		t.Fatalf("%d groups", len(round.Groups))
	}
	first := s.Requests()
	for _, q := range first {
		if q.Path == "/v1.0/groups/delta()" && q.Query.Get("$select") != strings.Join(directory.GroupSelect(attrs), ",") {
			t.Errorf("groups $select %q", q.Query.Get("$select"))
		}
	}
	sales := tn.GroupByName("Sales")
	var got directory.Group
	for _, g := range round.Groups {
		if g.ID == sales.ID {
			got = g
		}
	}
	if !got.MembersKnown || len(got.Members) != len(sales.Members) {
		t.Fatalf("Sales members %d, want %d", len(got.Members), len(sales.Members))
	}
	if got.Members[0].Type != "user" || got.Members[0].Removed {
		t.Errorf("member %+v", got.Members[0])
	}
	if v := attr(t, got.Attributes, "securityEnabled"); v.Kind() != mapping.KindBool {
		t.Errorf("securityEnabled %v", v)
	}
	if attr(t, got.Attributes, "displayName").String() != "Sales" || attr(t, got.Attributes, "objectId").String() != sales.ID {
		t.Errorf("attributes %v", got.Attributes)
	}

	if err := s.RemoveMember(sales.ID, sales.Members[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameGroup(tn.GroupByName("Engineering").ID, "R&D"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(tn.GroupByName("Gong Admins").ID); err != nil {
		t.Fatal(err)
	}
	inc, err := r.Groups(ctx, attrs, round.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	if len(inc.Groups) != 3 {
		t.Fatalf("incremental groups %+v", inc.Groups)
	}
	for _, g := range inc.Groups {
		switch g.ID {
		case sales.ID:
			if len(g.Members) != 1 || !g.Members[0].Removed || g.Members[0].ID != sales.Members[0] {
				t.Errorf("member removal %+v", g.Members)
			}
		case tn.GroupByName("Engineering").ID:
			if g.Attributes["displayName"].String() != "R&D" {
				t.Errorf("rename %v", g.Attributes)
			}
		default:
			if g.Removed != directory.HardDeleted {
				t.Errorf("deleted group %+v", g)
			}
		}
	}
}

func TestAppRoleAssignedTo(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{PageSize: 4})
	r := newReader(t, s, secretCredential(t, s))
	as, err := r.AppRoleAssignedTo(context.Background(), s.ServicePrincipal().ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(tn.Assignments) {
		t.Fatalf("%d assignments", len(as))
	}
	pages := 0
	for _, q := range s.Requests() {
		if strings.HasSuffix(q.Path, "/appRoleAssignedTo") {
			pages++
		}
	}
	if pages != 2 {
		t.Errorf("%d pages", pages)
	}
	if as[0].PrincipalType != "Group" || as[0].PrincipalID != tn.Assignments[0].PrincipalID ||
		as[2].AppRoleID != graphapi.DefaultAccessRole {
		t.Errorf("assignments %+v", as)
	}
	// Role names come from the service principal's appRoles; the default-access role has none.
	if as[0].AppRole != "User" || as[1].AppRole != "Admin" || as[2].AppRole != "" {
		t.Errorf("role names %q %q %q, want User, Admin and none", as[0].AppRole, as[1].AppRole, as[2].AppRole)
	}
}

func TestThrottlingRetryAfter(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{PageSize: 20})
	r := newReader(t, s, secretCredential(t, s))
	s.InjectFaults(graphapi.Fault{PathContains: "skiptoken", Status: 429, RetryAfter: "1", Count: 2})
	start := time.Now()
	round, err := r.Users(context.Background(), []string{"displayName"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("Retry-After not honoured: %v", d)
	}
	if round.Users.Len() != len(tn.Users) {
		t.Errorf("%d users", round.Users.Len())
	}
	n429 := 0
	for _, q := range s.Requests() {
		if q.Status == 429 {
			n429++
		}
	}
	if n429 != 2 {
		t.Errorf("%d throttled requests", n429)
	}
}

func TestServerErrorsAbortRound(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{PageSize: 20})
	r := newReader(t, s, secretCredential(t, s))
	ctx := context.Background()

	// A storm of 503s on the second page: retried MaxRetries times, then the round fails whole.
	s.InjectFaults(graphapi.Fault{PathContains: "skiptoken", Status: 503, RetryAfter: "0", Count: 100})
	round, err := r.Users(ctx, []string{"displayName"}, "")
	var ge *Error
	if round != nil || !errors.As(err, &ge) || ge.Status != 503 || ge.Code != "serviceNotAvailable" {
		t.Fatalf("round=%v err=%v", round, err)
	}
	if errors.Is(err, ErrResyncRequired) {
		t.Error("503 is not a resync")
	}
	t.Logf("storm: %v", err)
	if n := countStatus(s, 503); n != 4 {
		t.Errorf("%d attempts, want 1+MaxRetries=4", n)
	}
	s.ClearFaults()

	// A 500 is not retried.
	s.ResetRequests()
	s.InjectFaults(graphapi.Fault{PathContains: "skiptoken", Status: 500, Count: 5})
	if _, err := r.Users(ctx, []string{"displayName"}, ""); !errors.As(err, &ge) || ge.Status != 500 {
		t.Fatalf("500: %v", err)
	}
	s.ClearFaults()

	// An HTML 503 from a proxy keeps its status (and is retried), instead of becoming a parse error.
	s.InjectFaults(graphapi.Fault{PathContains: "skiptoken", Status: 503, Body: "<html>busy</html>",
		ContentType: "text/html"})
	if _, err := r.Users(ctx, []string{"displayName"}, ""); err != nil {
		t.Fatalf("HTML 503 then success: %v", err)
	}

	// An error body without a message must not panic (ODataError.Error() would).
	s.InjectFaults(graphapi.Fault{PathContains: "delta", Status: 403, Body: `{"error":{"code":"Authorization_RequestDenied"}}`})
	_, err = r.Users(ctx, []string{"displayName"}, "")
	if !errors.As(err, &ge) || ge.Status != 403 || ge.Code != "Authorization_RequestDenied" {
		t.Fatalf("403: %v", err)
	}
	_ = err.Error()
}

func countStatus(s *graphapi.Server, status int) int {
	n := 0
	for _, q := range s.Requests() {
		if q.Status == status {
			n++
		}
	}
	return n
}

func TestMalformedPage(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{PageSize: 20})
	r := newReader(t, s, secretCredential(t, s))
	for _, body := range []string{`{"value":[{"id":`, `not json at all`, `{"value":{"id":"x"}}`, `[1,2,3]`} {
		s.InjectFaults(graphapi.Fault{PathContains: "skiptoken", Body: body})
		round, err := r.Users(context.Background(), []string{"displayName"}, "")
		if err == nil || round != nil {
			t.Errorf("body %q: round=%v err=%v", body, round != nil, err)
		}
		t.Logf("%s -> %v", body, err)
		s.ClearFaults()
	}
	// A page with neither link is an incomplete round.
	s.InjectFaults(graphapi.Fault{PathContains: "skiptoken", Body: `{"value":[]}`})
	if _, err := r.Users(context.Background(), []string{"displayName"}, ""); err == nil ||
		!strings.Contains(err.Error(), "neither") {
		t.Errorf("linkless page: %v", err)
	}
}

func TestResyncRequired(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{PageSize: 20})
	r := newReader(t, s, secretCredential(t, s))
	ctx := context.Background()
	round, err := r.Users(ctx, []string{"displayName"}, "")
	if err != nil {
		t.Fatal(err)
	}
	groups, err := r.Groups(ctx, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []graphapi.Expiry{graphapi.ExpireGone, graphapi.ExpireSyncStateNotFound, graphapi.ExpireResyncRequired} {
		s.SetExpiry(e)
		s.ExpireDeltaTokens()
		_, err := r.Users(ctx, []string{"displayName"}, round.DeltaLink)
		if !errors.Is(err, ErrResyncRequired) {
			t.Errorf("expiry %d: %v", e, err)
		}
		_, err = r.Groups(ctx, nil, groups.DeltaLink)
		if !errors.Is(err, ErrResyncRequired) {
			t.Errorf("groups expiry %d: %v", e, err)
		}
	}
	// Expiry in the middle of a round (on a skiptoken) too.
	s.InjectFaults(graphapi.Fault{PathContains: "skiptoken", Status: 410})
	if _, err := r.Users(ctx, []string{"displayName"}, ""); !errors.Is(err, ErrResyncRequired) {
		t.Errorf("mid-round 410: %v", err)
	}
	// A link to another host is refused before any request.
	if _, err := r.Users(ctx, nil, "https://evil.example/v1.0/users/delta?$deltatoken=x"); err == nil {
		t.Error("foreign deltaLink accepted")
	}
}

func TestContextCancelDuringRetry(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{PageSize: 20})
	r := newReader(t, s, secretCredential(t, s))
	s.InjectFaults(graphapi.Fault{PathContains: "delta", Status: 429, RetryAfter: "30", Count: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.Users(ctx, nil, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("retry sleep ignored the context")
	}
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scimsync-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
}

func TestCredentials(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{PageSize: 50})
	tokenFile := filepath.Join(t.TempDir(), "federated-token")
	if err := os.WriteFile(tokenFile, []byte("federated.jwt.token"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := secretCredential(t, s)
	cases := []struct {
		name string
		kind string // credential as the token endpoint saw it
		co   CredentialOptions
		env  map[string]string
	}{
		{"clientSecret", "secret", base, nil},
		{"certificate", "assertion", func() CredentialOptions {
			c := base
			c.Type, c.ClientSecret, c.CertificatePEM = CredentialCertificate, "", selfSignedPEM(t)
			return c
		}(), nil},
		{"workloadIdentity", "assertion", func() CredentialOptions {
			c := base
			c.Type, c.ClientSecret, c.TokenFile = CredentialWorkloadIdentity, "", tokenFile
			return c
		}(), nil},
		{"managedIdentity", "managedIdentity", CredentialOptions{Type: CredentialManagedIdentity, HTTPClient: s.Client()},
			map[string]string{"IDENTITY_ENDPOINT": s.ManagedIdentityEndpoint(), "IDENTITY_HEADER": s.IdentityHeader()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			s.ResetRequests()
			r := newReader(t, s, c.co)
			as, err := r.AppRoleAssignedTo(context.Background(), s.ServicePrincipal().ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != len(tn.Assignments) {
				t.Errorf("%d assignments", len(as))
			}
			trs := s.TokenRequests()
			if len(trs) != 1 || trs[0].Credential != c.kind || !trs[0].Granted {
				t.Fatalf("token requests %+v", trs)
			}
			if !strings.HasPrefix(trs[0].Scope, "https://graph.microsoft.com") {
				t.Errorf("scope %q", trs[0].Scope)
			}
		})
	}

	t.Run("wrongSecret", func(t *testing.T) {
		co := base
		co.ClientSecret = "wrong-secret-value-1234"
		r := newReader(t, s, co)
		_, err := r.AppRoleAssignedTo(context.Background(), s.ServicePrincipal().ID)
		if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
			t.Fatalf("err %v", err)
		}
		if strings.Contains(err.Error(), co.ClientSecret) {
			t.Fatal("secret leaked into the error")
		}
	})
	t.Run("badOptions", func(t *testing.T) {
		for _, co := range []CredentialOptions{
			{Type: "password"},
			{Type: CredentialClientSecret, TenantID: "t", ClientID: "c"},
			{Type: CredentialClientSecret, TenantID: "t", ClientID: "c", ClientSecret: "x", AuthorityHost: "http://insecure/"},
			{Type: CredentialCertificate, TenantID: "t", ClientID: "c", CertificatePEM: []byte("junk"), CertificatePassword: "pfx-password-secret"},
		} {
			_, err := NewCredential(co)
			if err == nil {
				t.Errorf("%+v accepted", co)
				continue
			}
			if strings.Contains(err.Error(), "pfx-password-secret") {
				t.Error("password leaked")
			}
		}
	})
}

func TestCloudEndpoints(t *testing.T) {
	for _, c := range []struct{ name, graph, login string }{
		{"", "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com/"},
		{"public", "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com/"},
		{"USGovernment", "https://graph.microsoft.us/v1.0", "https://login.microsoftonline.us/"},
		{"china", "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://login.chinacloudapi.cn/"},
	} {
		g, l, err := CloudEndpoints(c.name)
		if err != nil || g != c.graph || l != c.login {
			t.Errorf("%q: %s %s %v", c.name, g, l, err)
		}
	}
	if _, _, err := CloudEndpoints("mars"); err == nil {
		t.Error("unknown cloud accepted")
	}
}

type fakeCredential struct{ token string }

func (f fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: f.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestUnauthorized(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{Token: "good"})
	r, err := New(Options{GraphURL: s.GraphURL(), Credential: fakeCredential{"bad"}, HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Users(context.Background(), nil, "")
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != 401 || ge.Code != "InvalidAuthenticationToken" {
		t.Fatalf("err %v", err)
	}
	if n := countStatus(s, 401); n != 1 {
		t.Errorf("401 retried: %d", n)
	}
	// A static token the emulator accepts works without any token service.
	r, _ = New(Options{GraphURL: s.GraphURL(), Credential: fakeCredential{"good"}, HTTPClient: s.Client()})
	if _, err := r.Groups(context.Background(), nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{GraphURL: "http://graph.example/v1.0", Credential: fakeCredential{}}); err == nil {
		t.Error("plain http to a remote host accepted")
	}
}

// BenchmarkUsersFullRound10k measures the SDK's parsing and the translation of a full round of
// 10,000 users (200 per page, as Graph sends).
func BenchmarkUsersFullRound10k(b *testing.B) {
	s := graphapi.NewServer(graphapi.GenerateTenant(10000, 1), graphapi.Options{PageSize: 200, Token: "bench"})
	s.Start()
	defer s.Close()
	r, err := New(Options{GraphURL: s.GraphURL(), Credential: fakeCredential{"bench"}, HTTPClient: s.Client()})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		round, err := r.Users(context.Background(), userAttrNames, "")
		if err != nil || round.Users.Len() != 10000 {
			b.Fatal(err)
		}
	}
}

func TestResyncSentinelShared(t *testing.T) {
	err := fmt.Errorf("cycle: %w", &Error{Status: 400, Code: "syncStateNotFound"})
	if !errors.Is(err, directory.ErrResyncRequired) || !errors.Is(err, ErrResyncRequired) {
		t.Fatal("resync not recognised through directory.ErrResyncRequired")
	}
}

func TestUsersByID(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{})
	r := newReader(t, s, secretCredential(t, s))
	alex := tn.User("alex.wilber@contoso.example")["id"].(string)
	megan := tn.User("megan.bowen@contoso.example")["id"].(string)
	if err := s.SoftDeleteUser(tn.User("lee.gu@contoso.example")["id"].(string)); err != nil {
		t.Fatal(err)
	}
	us, err := r.UsersByID(context.Background(), userAttrNames,
		[]string{alex, "00000000-0000-0000-0000-00000000dead", megan, tn.User("lee.gu@contoso.example")["id"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0].ID != alex || us[1].ID != megan {
		t.Fatalf("users %+v", us)
	}
	if !us[0].ManagerKnown || us[0].Attributes["manager"].String() != megan || !us[1].ManagerKnown ||
		!us[1].Attributes["manager"].IsNull() {
		t.Errorf("managers %+v / %+v", us[0], us[1])
	}
	if us[0].Attributes["telephoneNumber"].IsNull() || us[0].Attributes["extensionAttribute1"].IsNull() {
		t.Errorf("attributes %v", us[0].Attributes)
	}
	for _, q := range s.Requests() {
		if strings.HasPrefix(q.Path, "/v1.0/users/") {
			if strings.Contains(q.Query.Get("$select"), "manager") || q.Query.Get("$expand") != "manager($select=id)" {
				t.Fatalf("request %s", q.RawQuery)
			}
		}
	}
}
