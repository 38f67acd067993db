package scimserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/scimsync/scimsync/scimclient"
)

const stToken = "tok"

// stDo sends a raw request; tests here check the server's semantics, not the client's.
func stDo(t testing.TB, base, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+stToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/scim+json" {
			t.Errorf("content type %q", ct)
		}
	}
	return res.StatusCode, m
}

func stServer(t *testing.T, o Options) (*Server, string) {
	o.Token = stToken
	s := New(o)
	u := s.Start()
	t.Cleanup(s.Close)
	return s, u
}

func stOps(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{scimclient.SchemaPatchOp}, "Operations": ops}
}

func stCreate(t *testing.T, base string, r map[string]any) string {
	t.Helper()
	code, body := stDo(t, base, "POST", "/Users", r)
	if code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	return body["id"].(string)
}

func TestAuthAndRouting(t *testing.T) {
	s, base := stServer(t, Options{})
	req, _ := http.NewRequest("GET", base+"/Users", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("no token: %d", res.StatusCode)
	}
	for _, p := range []string{"/Schemas", "/ResourceTypes", "/ServiceProviderConfig"} {
		if code, body := stDo(t, base, "GET", p, nil); code != 200 || body == nil {
			t.Errorf("%s: %d", p, code)
		}
	}
	_, sch := stDo(t, base, "GET", "/Schemas", nil)
	if !strings.Contains(fmt.Sprint(sch), scimclient.SchemaGong) {
		t.Error("Gong extension missing from /Schemas")
	}
	// Any prefix routes: the root works as well as /scim/v2.
	root := strings.TrimSuffix(base, "/scim/v2")
	if code, _ := stDo(t, root, "GET", "/Users", nil); code != 200 {
		t.Errorf("root prefix: %d", code)
	}
	if code, _ := stDo(t, base, "GET", "/Nope", nil); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
	if s.Requests()["GET /Users"] != 2 {
		t.Errorf("counters %v", s.Requests())
	}
}

func TestCreateValidation(t *testing.T) {
	s, base := stServer(t, Options{})
	ok := scimclient.BuildUser(map[string]any{"userName": "a@x", "active": true, scimclient.SchemaGong + ":country": "US"})
	id := stCreate(t, base, ok)
	u := s.User(id)
	meta := u["meta"].(map[string]any)
	if meta["resourceType"] != "User" || meta["created"] == nil || meta["location"] != base+"/Users/"+id {
		t.Errorf("meta %v", meta)
	}
	tests := []struct {
		name     string
		body     map[string]any
		code     int
		scimType string
	}{
		{"duplicate userName, other case", map[string]any{"schemas": []any{scimclient.SchemaUser}, "userName": "A@X"}, 409, "uniqueness"},
		{"no schemas", map[string]any{"userName": "b@x"}, 400, "invalidSyntax"},
		{"no userName", map[string]any{"schemas": []any{scimclient.SchemaUser}}, 400, "invalidValue"},
		{"unknown extension", map[string]any{"schemas": []any{scimclient.SchemaUser, "urn:x:y:2.0:User"}, "userName": "c@x", "urn:x:y:2.0:User": map[string]any{}}, 400, "invalidSyntax"},
		{"extension not in schemas", map[string]any{"schemas": []any{scimclient.SchemaUser}, "userName": "d@x", scimclient.SchemaGong: map[string]any{"country": "US"}}, 400, "invalidSyntax"},
		{"bad active", map[string]any{"schemas": []any{scimclient.SchemaUser}, "userName": "e@x", "active": "maybe"}, 400, "invalidValue"},
	}
	for _, tt := range tests {
		code, body := stDo(t, base, "POST", "/Users", tt.body)
		if code != tt.code || body["scimType"] != tt.scimType || body["status"] != fmt.Sprint(tt.code) {
			t.Errorf("%s: %d %v", tt.name, code, body)
		}
	}
	// Case-exact mode: a different case is a different user.
	_, base2 := stServer(t, Options{CaseExactUserName: true})
	stCreate(t, base2, map[string]any{"schemas": []any{scimclient.SchemaUser}, "userName": "a@x"})
	stCreate(t, base2, map[string]any{"schemas": []any{scimclient.SchemaUser}, "userName": "A@x"})
}

func TestFilterSemantics(t *testing.T) {
	_, base := stServer(t, Options{})
	alice := stCreate(t, base, scimclient.BuildUser(map[string]any{
		"userName": `al"ice\@x`, "externalId": "Ext-1", "active": true,
		`emails[type eq "work"].value`: "alice@work", `emails[type eq "other"].value`: "alice@home",
		"name.givenName": "Alice", scimclient.SchemaGong + ":country": "US",
	}))
	bob := stCreate(t, base, scimclient.BuildUser(map[string]any{"userName": "bob@x", "active": false, "title": "AE"}))
	gcode, g := stDo(t, base, "POST", "/Groups", map[string]any{"schemas": []any{scimclient.SchemaGroup}, "displayName": "G",
		"members": []any{map[string]any{"value": alice}}})
	if gcode != 201 {
		t.Fatalf("group: %v", g)
	}
	gid := g["id"].(string)
	tests := []struct {
		filter string
		want   []string
		code   int
	}{
		{`userName eq "al\"ice\\@x"`, []string{alice}, 200},
		{`USERNAME eq "AL\"ICE\\@X"`, []string{alice}, 200},
		{`userName eq "nobody"`, nil, 200},
		{`externalId eq "Ext-1"`, []string{alice}, 200},
		{`externalId eq "ext-1"`, nil, 200}, // caseExact
		{`emails[type eq "work" and value eq "alice@work"]`, []string{alice}, 200},
		{`emails[type eq "work"].value eq "alice@work"`, []string{alice}, 200},
		{`emails[type eq "work"].value eq "alice@home"`, nil, 200},
		{`emails.value eq "alice@home"`, []string{alice}, 200},
		{`name.givenName eq "alice"`, []string{alice}, 200},
		{`urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country eq "US"`, []string{alice}, 200},
		{`active eq false`, []string{bob}, 200},
		{`title pr`, []string{bob}, 200},
		{`userName sw "b" or title eq "none"`, []string{bob}, 200},
		{`not (active eq true) and userName co "@"`, []string{bob}, 200},
		{`userName eq "bob@x" and active eq true`, nil, 200},
		{`id eq "` + bob + `"`, []string{bob}, 200},
		{`userName eq`, nil, 400},
		{`userName zz "x"`, nil, 400},
		{`emails[type eq "work"`, nil, 400},
	}
	for _, tt := range tests {
		code, body := stDo(t, base, "GET", "/Users?filter="+url.QueryEscape(tt.filter), nil)
		if code != tt.code {
			t.Errorf("%s: status %d %v", tt.filter, code, body)
			continue
		}
		if code != 200 {
			if body["scimType"] != "invalidFilter" {
				t.Errorf("%s: scimType %v", tt.filter, body["scimType"])
			}
			continue
		}
		var got []string
		for _, r := range body["Resources"].([]any) {
			got = append(got, r.(map[string]any)["id"].(string))
		}
		if !reflect.DeepEqual(got, tt.want) || int(body["totalResults"].(float64)) != len(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.filter, got, tt.want)
		}
	}
	// Entra's membership check.
	f := url.QueryEscape(`id eq "` + gid + `" and members[value eq "` + alice + `"]`)
	_, body := stDo(t, base, "GET", "/Groups?excludedAttributes=members&filter="+f, nil)
	if body["totalResults"].(float64) != 1 || body["Resources"].([]any)[0].(map[string]any)["members"] != nil {
		t.Errorf("membership check: %v", body)
	}
	f = url.QueryEscape(`id eq "` + gid + `" and members[value eq "` + bob + `"]`)
	if _, body := stDo(t, base, "GET", "/Groups?filter="+f, nil); body["totalResults"].(float64) != 0 {
		t.Errorf("non-member matched: %v", body)
	}
}

func TestPatchSemantics(t *testing.T) {
	s, base := stServer(t, Options{})
	mgr := stCreate(t, base, scimclient.BuildUser(map[string]any{"userName": "boss@x"}))
	tests := []struct {
		name  string
		ops   []map[string]any
		code  int
		check map[string]any // flat path -> want (nil = absent)
	}{
		{"default-mode replace with string active", []map[string]any{
			{"op": "Replace", "path": "active", "value": "False"},
			{"op": "Replace", "path": "name.familyName", "value": "Adams"},
		}, 200, map[string]any{"active": false, "name.familyName": "Adams", "name.givenName": "Alice"}},
		{"boolean active, lower-case op", []map[string]any{{"op": "replace", "path": "active", "value": true}}, 200,
			map[string]any{"active": true}},
		{"value path replace creates element", []map[string]any{
			{"op": "Replace", "path": `phoneNumbers[type eq "work"].value`, "value": "555"},
			{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "new@x"},
		}, 200, map[string]any{`phoneNumbers[type eq "work"].value`: "555", `emails[type eq "work"].value`: "new@x"}},
		{"path-less replace with dotted and URN keys", []map[string]any{{"op": "replace", "value": map[string]any{
			"displayName": "Al", "name.givenName": "Alicia",
			scimclient.SchemaEnterprise + ":employeeNumber": "E1",
			scimclient.SchemaGong + ":country":              "DE",
		}}}, 200, map[string]any{"displayName": "Al", "name.givenName": "Alicia", "name.familyName": "Adams",
			scimclient.SchemaEnterprise + ":employeeNumber": "E1", scimclient.SchemaGong + ":country": "DE"}},
		{"path-less add with extension object", []map[string]any{{"op": "Add", "value": map[string]any{
			scimclient.SchemaGong: map[string]any{"stateOrProvince": "BY"}}}}, 200,
			map[string]any{scimclient.SchemaGong + ":stateOrProvince": "BY", scimclient.SchemaGong + ":country": "DE"}},
		{"manager as plain id", []map[string]any{{"op": "Add", "path": scimclient.PathEnterpriseMgr, "value": mgr}}, 200,
			map[string]any{scimclient.PathEnterpriseMgr: mgr}},
		{"manager legacy list", []map[string]any{{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
			"value": []any{map[string]any{"value": "m2"}}}}, 200, map[string]any{scimclient.PathEnterpriseMgr: "m2"}},
		{"remove manager", []map[string]any{{"op": "remove", "path": scimclient.PathEnterpriseMgr}}, 200,
			map[string]any{scimclient.PathEnterpriseMgr: nil, scimclient.SchemaEnterprise + ":employeeNumber": "E1"}},
		{"remove value-path element", []map[string]any{{"op": "Remove", "path": `phoneNumbers[type eq "work"]`}}, 200,
			map[string]any{`phoneNumbers[type eq "work"].value`: nil}},
		{"add title, case-insensitive name", []map[string]any{{"op": "ADD", "path": "Title", "value": "AE"}}, 200,
			map[string]any{"title": "AE"}},
		{"remove simple", []map[string]any{{"op": "remove", "path": "title"}}, 200, map[string]any{"title": nil}},
		{"rename userName", []map[string]any{{"op": "replace", "path": "userName", "value": "alicia@x"}}, 200,
			map[string]any{"userName": "alicia@x"}},
		{"rename onto existing userName", []map[string]any{{"op": "replace", "path": "userName", "value": "BOSS@x"}}, 409, nil},
		{"read-only id", []map[string]any{{"op": "replace", "path": "id", "value": "x"}}, 400, nil},
		{"remove without path", []map[string]any{{"op": "remove"}}, 400, nil},
		{"unknown op", []map[string]any{{"op": "move", "path": "title", "value": "x"}}, 400, nil},
		{"bad active string", []map[string]any{{"op": "replace", "path": "active", "value": "yes"}}, 400, nil},
		{"bad path", []map[string]any{{"op": "replace", "path": "emails[type eq", "value": "x"}}, 400, nil},
	}
	id := stCreate(t, base, scimclient.BuildUser(map[string]any{"userName": "alice@x", "name.givenName": "Alice",
		`emails[type eq "work"].value`: "alice@x", scimclient.SchemaGong + ":country": "US"}))
	for _, tt := range tests {
		before := s.User(id)
		code, body := stDo(t, base, "PATCH", "/Users/"+id, stOps(tt.ops...))
		if code != tt.code {
			t.Errorf("%s: status %d %v", tt.name, code, body)
			continue
		}
		after := scimclient.Resource(s.User(id))
		if code != 200 {
			delete(before, "meta")
			delete(after, "meta")
			if !reflect.DeepEqual(map[string]any(before), map[string]any(after)) {
				t.Errorf("%s: failed PATCH changed the user", tt.name)
			}
			continue
		}
		if body["id"] != id {
			t.Errorf("%s: PATCH response is not the resource", tt.name)
		}
		for p, want := range tt.check {
			got, ok := scimclient.ValueAt(after, p)
			if want == nil && ok || want != nil && !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %#v, want %#v", tt.name, p, got, want)
			}
		}
	}
	if u := s.UserByName("ALICIA@x"); u == nil || u["id"] != id {
		t.Error("index not updated by rename")
	}
	if u := s.UserByName("alice@x"); u != nil {
		t.Error("old userName still indexed")
	}
	if code, _ := stDo(t, base, "PATCH", "/Users/missing", stOps(map[string]any{"op": "add", "path": "title", "value": "x"})); code != 404 {
		t.Errorf("missing user: %d", code)
	}
}

func TestGroupMembers(t *testing.T) {
	s, base := stServer(t, Options{})
	var u []string
	for i := 0; i < 4; i++ {
		u = append(u, stCreate(t, base, map[string]any{"schemas": []any{scimclient.SchemaUser}, "userName": fmt.Sprint("m", i)}))
	}
	// Entra's create body, with the ADSCIM schema.
	code, g := stDo(t, base, "POST", "/Groups", map[string]any{
		"schemas":     []any{scimclient.SchemaGroup, scimclient.SchemaADSCIMGroup},
		"displayName": "Sales", "externalId": "8aa1", "meta": map[string]any{"resourceType": "Group"}})
	if code != 201 || len(g["members"].([]any)) != 0 {
		t.Fatalf("create group: %d %v", code, g)
	}
	gid := g["id"].(string)
	members := func() []string {
		var out []string
		for _, m := range s.Group(gid)["members"].([]any) {
			out = append(out, m.(map[string]any)["value"].(string))
		}
		return out
	}
	steps := []struct {
		name string
		op   map[string]any
		code int
		want []string
	}{
		{"add list", map[string]any{"op": "Add", "path": "members", "value": []any{
			map[string]any{"$ref": nil, "value": u[0]}, map[string]any{"value": u[1]}, map[string]any{"value": u[2]}}}, 204, u[:3]},
		{"add duplicate is idempotent", map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": u[0]}}}, 204, u[:3]},
		{"add unknown id", map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "ghost"}}}, 400, u[:3]},
		{"remove default shape", map[string]any{"op": "Remove", "path": "members", "value": []any{map[string]any{"value": u[0]}}}, 204, u[1:3]},
		{"remove flag shape", map[string]any{"op": "remove", "path": `members[value eq "` + u[1] + `"]`}, 204, u[2:3]},
		{"rename", map[string]any{"op": "Replace", "path": "displayName", "value": "Sales EU"}, 204, u[2:3]},
		{"remove all", map[string]any{"op": "remove", "path": "members"}, 204, nil},
	}
	for _, st := range steps {
		code, body := stDo(t, base, "PATCH", "/Groups/"+gid, stOps(st.op))
		if code != st.code {
			t.Errorf("%s: %d %v", st.name, code, body)
		}
		if got := members(); !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: members %v, want %v", st.name, got, st.want)
		}
	}
	// Deleting a user drops it from groups.
	stDo(t, base, "PATCH", "/Groups/"+gid, stOps(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": u[3]}}}))
	if code, _ := stDo(t, base, "DELETE", "/Users/"+u[3], nil); code != 204 {
		t.Fatal("delete")
	}
	if len(members()) != 0 {
		t.Error("deleted user still a member")
	}
	_, got := stDo(t, base, "GET", "/Groups/"+gid+"?excludedAttributes=members", nil)
	if _, has := got["members"]; has || got["displayName"] != "Sales EU" {
		t.Errorf("GET group: %v", got)
	}
	if code, _ := stDo(t, base, "DELETE", "/Groups/"+gid, nil); code != 204 {
		t.Error("delete group")
	}
	if code, _ := stDo(t, base, "DELETE", "/Groups/"+gid, nil); code != 404 {
		t.Error("second delete")
	}
}

func TestPagingAndSeed(t *testing.T) {
	s, base := stServer(t, Options{MaxPageSize: 50})
	for i := 0; i < 120; i++ {
		if err := s.Seed(scimclient.Resource{"userName": fmt.Sprintf("s%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Seed(scimclient.Resource{"userName": "S000"}); err == nil {
		t.Fatal("duplicate seed accepted")
	}
	// Delete some so paging must skip tombstones.
	for _, u := range s.Users()[:100] {
		if code, _ := stDo(t, base, "DELETE", "/Users/"+u["id"].(string), nil); code != 204 {
			t.Fatal("delete")
		}
	}
	_, p := stDo(t, base, "GET", "/Users?startIndex=11&count=5", nil)
	if p["totalResults"].(float64) != 20 || p["itemsPerPage"].(float64) != 5 || p["startIndex"].(float64) != 11 {
		t.Fatalf("page: %v", p)
	}
	first := p["Resources"].([]any)[0].(map[string]any)["userName"]
	if first != "s110" {
		t.Errorf("page starts at %v", first)
	}
	_, p = stDo(t, base, "GET", "/Users?startIndex=100", nil)
	if len(p["Resources"].([]any)) != 0 || p["totalResults"].(float64) != 20 {
		t.Errorf("past the end: %v", p)
	}
	_, p = stDo(t, base, "GET", "/Users?count=1000", nil)
	if p["itemsPerPage"].(float64) != 20 {
		t.Errorf("count cap: %v", p["itemsPerPage"])
	}
	s.ResetCounters()
	if s.TotalRequests() != 0 {
		t.Error("ResetCounters")
	}
}

func TestConcurrentWrites(t *testing.T) {
	s, base := stServer(t, Options{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				id := stCreate(t, base, map[string]any{"schemas": []any{scimclient.SchemaUser}, "userName": fmt.Sprintf("w%d-%d", w, i)})
				stDo(t, base, "PATCH", "/Users/"+id, stOps(map[string]any{"op": "replace", "path": "title", "value": "t"}))
				stDo(t, base, "GET", "/Users?count=5&filter="+url.QueryEscape(`title eq "t"`), nil)
			}
		}(w)
	}
	wg.Wait()
	if n := len(s.Users()); n != 400 {
		t.Fatalf("users %d", n)
	}
}
