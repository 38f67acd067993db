package graphapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const testToken = "static-test-token"

type page struct {
	Value     []map[string]any `json:"value"`
	NextLink  string           `json:"@odata.nextLink"`
	DeltaLink string           `json:"@odata.deltaLink"`
}

func get(t *testing.T, s *Server, u string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// round follows a delta round to its end and returns every record plus the deltaLink.
func round(t *testing.T, s *Server, start string) (recs []map[string]any, pages []page, delta string) {
	t.Helper()
	for u := start; ; {
		code, _, b := get(t, s, u)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", u, code, b)
		}
		var p page
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		if p.NextLink != "" && p.DeltaLink != "" {
			t.Fatalf("page has both nextLink and deltaLink")
		}
		for _, l := range []string{p.NextLink, p.DeltaLink} {
			if l != "" && !strings.HasPrefix(l, s.GraphURL()+"/") {
				t.Fatalf("link %s is not absolute on %s", l, s.GraphURL())
			}
		}
		pages = append(pages, p)
		recs = append(recs, p.Value...)
		if p.DeltaLink != "" {
			return recs, pages, p.DeltaLink
		}
		if p.NextLink == "" {
			t.Fatal("page without links")
		}
		u = p.NextLink
	}
}

func byID(recs []map[string]any) map[string][]map[string]any {
	m := map[string][]map[string]any{}
	for _, r := range recs {
		id, _ := r["id"].(string)
		m[id] = append(m[id], r)
	}
	return m
}

func TestUsersDeltaFullRound(t *testing.T) {
	tn := SampleTenant()
	s := StartForTest(t, tn, Options{PageSize: 7, EmptyPageEvery: 2, Token: testToken})
	for _, path := range []string{"/users/delta", "/users/delta()", "/users/microsoft.graph.delta"} {
		recs, pages, _ := round(t, s, s.GraphURL()+path+"?$select=id,displayName,businessPhones,manager")
		if len(recs) != len(tn.Users) {
			t.Fatalf("%s: %d records, want %d", path, len(recs), len(tn.Users))
		}
		empty := 0
		for _, p := range pages {
			if len(p.Value) == 0 {
				empty++
			}
		}
		if empty == 0 {
			t.Errorf("%s: no empty page", path)
		}
		withMgr := 0
		for _, r := range recs {
			for k := range r {
				switch k {
				case "id", "displayName", "businessPhones", "manager@delta":
				default:
					t.Fatalf("unselected property %s returned", k)
				}
			}
			if md, ok := r["manager@delta"].([]any); ok {
				withMgr++
				e := md[0].(map[string]any)
				if e["@odata.type"] != "#microsoft.graph.user" || tn.Managers[r["id"].(string)] != e["id"] {
					t.Fatalf("manager@delta %v for %v", md, r["id"])
				}
			}
		}
		if withMgr != len(tn.Managers) {
			t.Errorf("%d users with manager@delta, want %d", withMgr, len(tn.Managers))
		}
	}
	// Without $select: the default property set and no manager.
	recs, _, _ := round(t, s, s.GraphURL()+"/users/delta")
	for _, r := range recs {
		if _, ok := r["manager@delta"]; ok {
			t.Fatal("manager@delta without $select=manager")
		}
		if _, ok := r["accountEnabled"]; ok {
			t.Fatal("accountEnabled is not a default property")
		}
	}
	q := s.Requests()[0].Query
	if q.Get("$select") != "id,displayName,businessPhones,manager" {
		t.Errorf("recorded $select %q", q.Get("$select"))
	}
}

func TestUsersDeltaIncremental(t *testing.T) {
	tn := SampleTenant()
	s := StartForTest(t, tn, Options{PageSize: 10, Token: testToken})
	_, _, link := round(t, s, s.GraphURL()+"/users/delta?$select=displayName,accountEnabled,manager")

	recs, _, link2 := round(t, s, link)
	if len(recs) != 0 {
		t.Fatalf("no changes: got %d records", len(recs))
	}
	if link2 == link {
		t.Log("same deltaLink again (allowed)")
	}
	ids := s.UserIDs()
	a, b, c, d, e := ids[10], ids[11], ids[12], ids[13], ids[14]
	must(t, s.UpdateUser(a, map[string]any{"displayName": "Renamed"}))
	must(t, s.UpdateUser(b, map[string]any{"jobTitle": "Not selected"}))
	must(t, s.SoftDeleteUser(c))
	must(t, s.HardDeleteUser(d))
	must(t, s.SetManager(e, ""))
	must(t, s.DisableUser(ids[15]))
	newID := s.UpsertUser(map[string]any{"displayName": "New Hire", "userPrincipalName": "new@contoso.example"})

	recs, _, link3 := round(t, s, link2)
	got := byID(recs)
	if len(got) != 6 {
		t.Fatalf("changed records: %v", recs)
	}
	if got[a][0]["displayName"] != "Renamed" {
		t.Errorf("rename: %v", got[a])
	}
	if _, ok := got[b]; ok {
		t.Errorf("unselected change reported: %v", got[b])
	}
	if rm := got[c][0]["@removed"].(map[string]any); rm["reason"] != "changed" {
		t.Errorf("soft delete: %v", got[c])
	}
	if rm := got[d][0]["@removed"].(map[string]any); rm["reason"] != "deleted" {
		t.Errorf("hard delete: %v", got[d])
	}
	md := got[e][0]["manager@delta"].([]any)[0].(map[string]any)
	if md["id"] != tn.Managers[e] || md["@removed"] == nil {
		t.Errorf("manager removal: %v", got[e])
	}
	if got[ids[15]][0]["accountEnabled"] != false {
		t.Errorf("disable: %v", got[ids[15]])
	}
	if got[newID][0]["displayName"] != "New Hire" {
		t.Errorf("new user: %v", got[newID])
	}

	must(t, s.RestoreUser(c))
	recs, _, _ = round(t, s, link3)
	if len(recs) != 1 || recs[0]["id"] != c || recs[0]["@removed"] != nil || recs[0]["displayName"] == nil {
		t.Errorf("restore: %v", recs)
	}
	// The hard-deleted user was a manager: its reports lost their manager.
	for u, m := range tn.Managers {
		if m == d {
			t.Logf("report %s of deleted %s", u, d)
		}
	}
}

func TestGroupsDeltaMembersSplit(t *testing.T) {
	tn := SampleTenant()
	s := StartForTest(t, tn, Options{PageSize: 2, MembersPerRecord: 5, Token: testToken})
	recs, pages, link := round(t, s, s.GraphURL()+"/groups/delta?$select=displayName,members")
	if len(pages) < 3 {
		t.Fatalf("%d pages", len(pages))
	}
	got := byID(recs)
	sales := tn.GroupByName("Sales")
	if len(got[sales.ID]) < 2 {
		t.Fatalf("Sales not split: %d records", len(got[sales.ID]))
	}
	n := 0
	for _, r := range got[sales.ID] {
		n += len(r["members@delta"].([]any))
	}
	if n != len(sales.Members) {
		t.Fatalf("Sales members %d, want %d", n, len(sales.Members))
	}
	all := tn.GroupByName("All Employees")
	types := map[string]int{}
	for _, r := range got[all.ID] {
		for _, m := range r["members@delta"].([]any) {
			types[m.(map[string]any)["@odata.type"].(string)]++
		}
	}
	if types["#microsoft.graph.group"] != 2 || types["#microsoft.graph.user"] != 2 {
		t.Errorf("nested member types %v", types)
	}

	eng := tn.GroupByName("Engineering")
	must(t, s.RemoveMember(eng.ID, eng.Members[0]))
	must(t, s.AddMember(eng.ID, tn.Users[0]["id"].(string)))
	must(t, s.DeleteGroup(tn.GroupByName("Marketing Team").ID))
	must(t, s.DeleteGroup(tn.GroupByName("Gong Admins").ID))
	recs, _, _ = round(t, s, link)
	got = byID(recs)
	if len(got) != 3 {
		t.Fatalf("changed groups: %v", recs)
	}
	md := got[eng.ID][0]["members@delta"].([]any)
	if len(md) != 2 || md[0].(map[string]any)["@removed"] == nil || md[1].(map[string]any)["@removed"] != nil {
		t.Errorf("member changes %v", md)
	}
	if got[tn.GroupByName("Marketing Team").ID][0]["@removed"].(map[string]any)["reason"] != "changed" {
		t.Error("M365 group delete should be reason changed")
	}
	if got[tn.GroupByName("Gong Admins").ID][0]["@removed"].(map[string]any)["reason"] != "deleted" {
		t.Error("security group delete should be reason deleted")
	}
}

func TestExpiry(t *testing.T) {
	s := StartForTest(t, nil, Options{PageSize: 20, Token: testToken})
	_, pages, link := round(t, s, s.GraphURL()+"/users/delta?$select=displayName")
	_ = pages
	_, _, b := get(t, s, s.GraphURL()+"/users/delta?$select=displayName")
	var p page
	_ = json.Unmarshal(b, &p)
	s.ExpireDeltaTokens()
	code, h, b := get(t, s, link)
	if code != http.StatusGone || !strings.HasSuffix(h.Get("Location"), "/users/delta?$deltatoken=") ||
		!strings.Contains(string(b), "syncStateNotFound") {
		t.Fatalf("gone: %d %v %s", code, h, b)
	}
	code, _, _ = get(t, s, p.NextLink)
	if code != http.StatusGone {
		t.Fatalf("expired skiptoken: %d", code)
	}
	// The Location starts a fresh round.
	recs, _, link2 := round(t, s, h.Get("Location"))
	if len(recs) != 50 {
		t.Fatalf("resync round: %d", len(recs))
	}
	s.SetExpiry(ExpireSyncStateNotFound)
	s.ExpireDeltaTokens()
	code, h, b = get(t, s, link2)
	if code != http.StatusBadRequest || h.Get("Content-Type") != "application/json" {
		t.Fatalf("syncStateNotFound: %d %s", code, b)
	}
	var eb struct {
		Error struct {
			Code, Message string
			InnerError    map[string]any
		}
	}
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code != "syncStateNotFound" || eb.Error.Message == "" ||
		eb.Error.InnerError["request-id"] == nil {
		t.Fatalf("error body %s", b)
	}
}

func TestFaultsAndAuth(t *testing.T) {
	s := StartForTest(t, nil, Options{PageSize: 10, Token: testToken})
	s.InjectFaults(
		Fault{PathContains: "skiptoken", Status: 429, RetryAfter: "1", Count: 2},
		Fault{PathContains: "/groups", Body: `{"value":[{"id":`},
	)
	code, _, b := get(t, s, s.GraphURL()+"/users/delta")
	if code != 200 {
		t.Fatal(code)
	}
	var p page
	_ = json.Unmarshal(b, &p)
	for i := 0; i < 2; i++ {
		code, h, b := get(t, s, p.NextLink)
		if code != 429 || h.Get("Retry-After") != "1" || !strings.Contains(string(b), `"code":"TooManyRequests"`) {
			t.Fatalf("fault %d: %d %v %s", i, code, h, b)
		}
	}
	if code, _, _ := get(t, s, p.NextLink); code != 200 {
		t.Fatalf("after faults: %d", code)
	}
	code, _, b = get(t, s, s.GraphURL()+"/groups/delta")
	if code != 200 || json.Valid(b) {
		t.Fatalf("malformed fault: %d %s", code, b)
	}

	resp, err := s.Client().Get(s.GraphURL() + "/users")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), "InvalidAuthenticationToken") {
		t.Fatalf("no token: %d %s", resp.StatusCode, b)
	}
	last := s.Requests()[len(s.Requests())-1]
	if last.Auth || last.Status != 401 {
		t.Errorf("recorded %+v", last)
	}
}

func TestFaultSkipAndDrop(t *testing.T) {
	s := StartForTest(t, nil, Options{PageSize: 10, Token: testToken})
	// The third skiptoken request (page 4 of 5) fails; the ones before and after it do not.
	s.InjectFaults(Fault{PathContains: "$skiptoken=", Skip: 2, Status: 503})
	_, _, b := get(t, s, s.GraphURL()+"/users/delta")
	var p page
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for link := p.NextLink; link != ""; {
		code, _, b := get(t, s, link)
		statuses = append(statuses, code)
		if code != 200 {
			continue // same link again
		}
		var p page
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		link = p.NextLink
	}
	if want := []int{200, 200, 503, 200, 200}; !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}

	// A dropped connection: the client sees the announced body cut short.
	s.InjectFaults(Fault{PathContains: "/users/delta", Drop: true, Status: 429, Body: "ignored"})
	req, _ := http.NewRequest(http.MethodGet, s.GraphURL()+"/users/delta", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := s.Client().Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("dropped answer has status %d", resp.StatusCode)
		}
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("dropped connection: %v, want unexpected EOF", err)
	}
	reqs := s.Requests()
	if last := reqs[len(reqs)-1]; last.Status != 0 || last.Path != "/v1.0/users/delta" {
		t.Errorf("dropped request recorded as %+v", last)
	}
	if code, _, _ := get(t, s, s.GraphURL()+"/users/delta"); code != 200 {
		t.Fatalf("after the drop: %d", code)
	}
}

func TestTokenEndpoints(t *testing.T) {
	s := StartForTest(t, nil, Options{TenantID: "contoso-tenant", ClientSecret: "s3cret"})
	c := s.Client()
	resp, err := c.Get(s.URL() + "/contoso-tenant/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var oc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&oc)
	resp.Body.Close()
	if oc["token_endpoint"] != s.URL()+"/contoso-tenant/oauth2/v2.0/token" {
		t.Fatalf("openid %v", oc)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"},
		"scope": {"https://graph.microsoft.com/.default"}, "client_secret": {"wrong"}}
	resp, _ = c.PostForm(oc["token_endpoint"].(string), form)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong secret: %d", resp.StatusCode)
	}
	form.Set("client_secret", "s3cret")
	resp, _ = c.PostForm(oc["token_endpoint"].(string), form)
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	at, _ := tok["access_token"].(string)
	if at == "" {
		t.Fatalf("token %v", tok)
	}
	req, _ := http.NewRequest("GET", s.GraphURL()+"/users?$top=5&$select=id,displayName", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, _ = c.Do(req)
	var p page
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(p.Value) != 5 || !strings.Contains(p.NextLink, "$skiptoken=") {
		t.Fatalf("users list with issued token: %d %+v", resp.StatusCode, p)
	}

	req, _ = http.NewRequest("GET", s.ManagedIdentityEndpoint()+"?api-version=2019-08-01&resource=https://graph.microsoft.com", nil)
	req.Header.Set("X-IDENTITY-HEADER", s.IdentityHeader())
	resp, _ = c.Do(req)
	tok = nil
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok["access_token"] == nil || tok["expires_on"] == nil {
		t.Fatalf("msi %v", tok)
	}
	trs := s.TokenRequests()
	if len(trs) != 3 || trs[0].Granted || !trs[1].Granted || trs[2].Credential != "managedIdentity" {
		t.Fatalf("token log %+v", trs)
	}
}

func TestAppRoleAssignedToPaging(t *testing.T) {
	tn := SampleTenant()
	s := StartForTest(t, tn, Options{PageSize: 4, Token: testToken})
	sp := s.ServicePrincipal()
	for _, base := range []string{
		s.GraphURL() + "/servicePrincipals/" + sp.ID + "/appRoleAssignedTo",
		s.GraphURL() + "/servicePrincipals(appId='" + sp.AppID + "')/appRoleAssignedTo",
	} {
		var all []map[string]any
		pages := 0
		for u := base + "?$top=999"; u != ""; pages++ {
			code, _, b := get(t, s, u)
			if code != 200 {
				t.Fatalf("%s: %d %s", u, code, b)
			}
			var p page
			_ = json.Unmarshal(b, &p)
			all = append(all, p.Value...)
			u = p.NextLink
		}
		if len(all) != len(tn.Assignments) || pages != 2 {
			t.Fatalf("%d assignments on %d pages", len(all), pages)
		}
		if all[2]["principalType"] != "User" || all[2]["appRoleId"] != DefaultAccessRole {
			t.Errorf("assignment %v", all[2])
		}
	}
	must(t, s.Unassign(tn.Assignments[0].PrincipalID))
	if code, _, _ := get(t, s, s.GraphURL()+"/servicePrincipals/nope/appRoleAssignedTo"); code != 404 {
		t.Errorf("unknown sp: %d", code)
	}
}

func TestSelectValidation(t *testing.T) {
	s := StartForTest(t, nil, Options{Token: testToken})
	code, _, b := get(t, s, s.GraphURL()+"/users/delta?$select=id,bogus")
	if code != 400 || !strings.Contains(string(b), "bogus") {
		t.Fatalf("%d %s", code, b)
	}
	if code, _, _ := get(t, s, s.GraphURL()+"/users/delta?$top=5"); code != 400 {
		t.Fatalf("$top on delta: %d", code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkUsersFullRound10k(b *testing.B) {
	tn := GenerateTenant(10000, 1)
	s := NewServer(tn, Options{PageSize: 200, Token: testToken})
	s.Start()
	defer s.Close()
	c := s.Client()
	for b.Loop() {
		for u := s.GraphURL() + "/users/delta?$select=id,displayName,mail,manager"; u != ""; {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var p page
			_ = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			u = p.NextLink
		}
	}
}
