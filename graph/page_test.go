package graph

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
)

// The page decoder reads Graph properties into fixed records; a property added to the attribute table
// without a field here would silently never be filled.
func TestDecoderCoversAttributeTable(t *testing.T) {
	for _, n := range directory.UserAttributeNames() {
		a, _ := directory.UserAttribute(n)
		if a.Kind == directory.AttrComputed || a.Kind == directory.AttrReference {
			continue
		}
		get, ok := userProperties[a.Property]
		if !ok {
			t.Errorf("user attribute %s: property %s not decoded", n, a.Property)
			continue
		}
		if a.Sub != "" {
			s := "x"
			rec := &userRecord{OnPremisesExtensionAttributes: &extensionAttributes{}}
			setExtension(t, rec.OnPremisesExtensionAttributes, a.Sub, &s)
			if v, ok := attributeValue(get(rec), a); !ok || v.String() != "x" {
				t.Errorf("user attribute %s: sub-property %s not decoded", n, a.Sub)
			}
		}
	}
	for _, n := range directory.GroupAttributeNames() {
		a, _ := directory.GroupAttribute(n)
		if a.Kind == directory.AttrComputed || a.Kind == directory.AttrReference {
			continue
		}
		if _, ok := groupProperties[a.Property]; !ok {
			t.Errorf("group attribute %s: property %s not decoded", n, a.Property)
		}
	}
}

func setExtension(t *testing.T, e *extensionAttributes, name string, v *string) {
	t.Helper()
	for _, p := range []**string{&e.A1, &e.A2, &e.A3, &e.A4, &e.A5, &e.A6, &e.A7, &e.A8, &e.A9, &e.A10,
		&e.A11, &e.A12, &e.A13, &e.A14, &e.A15} {
		*p = v
		if e.get(name) == v {
			return
		}
		*p = nil
	}
	t.Fatalf("no field for %s", name)
}

// Every attribute of the table survives a full round through the emulator with the right shape.
func TestUsersAllAttributes(t *testing.T) {
	s, tn := newEmulator(t, graphapi.Options{PageSize: 20})
	id := tn.User("alex.wilber@contoso.example")["id"].(string)
	ext := map[string]any{}
	for i := 1; i <= 15; i++ {
		ext["extensionAttribute"+itoa(i)] = "ext-" + itoa(i)
	}
	props := map[string]any{
		"employeeHireDate": "2021-03-01T08:00:00Z", "otherMails": []string{"a@x.example", "b@x.example"},
		"faxNumber": "+1 555 0199", "streetAddress": "1 Main St", "postalCode": "98052", "mobilePhone": "+1 555 0111",
		"onPremisesSamAccountName": "alexw", "onPremisesImmutableId": "aW1tdXRhYmxl",
		"onPremisesDistinguishedName": "CN=Alex,DC=contoso", "onPremisesDomainName": "contoso.example",
		"onPremisesSecurityIdentifier": "S-1-5-21-1", "onPremisesUserPrincipalName": "alexw@contoso.example",
		"onPremisesExtensionAttributes": ext, "mailNickname": "alexw", "userType": "Member",
	}
	if err := s.UpdateUser(id, props); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, s, secretCredential(t, s))
	all := directory.UserAttributeNames()
	round, err := r.Users(context.Background(), all, "")
	if err != nil {
		t.Fatal(err)
	}
	u := tn.User(id)
	for k, v := range props {
		u[k] = v
	}
	got := usersByID(round.Users.All())[id]
	for _, n := range all {
		a, _ := directory.UserAttribute(n)
		if a.Kind == directory.AttrComputed || a.Kind == directory.AttrReference {
			continue
		}
		v, ok := got.Attributes[n]
		if !ok {
			t.Errorf("%s missing", n)
			continue
		}
		var want any = u[a.Property]
		if a.Property == "id" {
			want = id
		}
		switch {
		case a.Sub != "":
			want = ext[a.Sub]
		case a.Index >= 0 && a.Kind != directory.AttrMulti: // businessPhones[0]
			want = toStrings(u[a.Property])[a.Index]
		}
		switch a.Kind {
		case directory.AttrBool:
			if v.Kind() != mapping.KindBool || v.String() != "True" {
				t.Errorf("%s = %v", n, v)
			}
		case directory.AttrMulti:
			w := toStrings(want)
			if v.Kind() != mapping.KindMulti || strings.Join(v.Strings(), "|") != strings.Join(w, "|") {
				t.Errorf("%s = %v, want %v", n, v.Strings(), w)
			}
		case directory.AttrDate:
			tm, ok := v.AsTime()
			if v.Kind() != mapping.KindDate || !ok || !tm.Equal(time.Date(2021, 3, 1, 8, 0, 0, 0, time.UTC)) {
				t.Errorf("%s = %v (%v)", n, v, v.Kind())
			}
		default:
			if v.Kind() != mapping.KindString || v.String() != want {
				t.Errorf("%s = %v, want %v", n, v, want)
			}
		}
	}
}

// Annotations and odd but valid shapes, served as a hand-written page.
func TestUsersPageShapes(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{})
	r := newReader(t, s, secretCredential(t, s))
	link := s.GraphURL() + "/users/delta?$deltatoken=x"
	s.InjectFaults(graphapi.Fault{PathContains: "delta", Body: `{"@odata.deltaLink":"` + link + `","value":[
		null,
		{"id":"u1","displayName":null,"givenName":"","accountEnabled":false,"businessPhones":[],
		 "proxyAddresses":[],"manager@delta":[{"id":"m1"},{"id":"m1","@removed":{"reason":"deleted"}}],
		 "unknownProperty":{"deep":[1,2,{"x":null}]}},
		{"id":"u2","manager@delta":null,"displayName":"Ünïcödé \u00e9 \"q\""},
		{"id":"u3","@removed":null},
		{"id":"u4","@removed":{"reason":"Deleted"}},
		{"id":"u5","@removed":"odd"},
		{"id":"u6","manager@delta":[{"id":"m2","@removed":null}]}
	]}`})
	round, err := r.Users(context.Background(), []string{"displayName", "givenName", "telephoneNumber",
		"proxyAddresses", "manager"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if round.DeltaLink != link || round.Users.Len() != 6 {
		t.Fatalf("round %+v", round)
	}
	u := usersByID(round.Users.All())
	u1 := u["u1"]
	if _, ok := u1.Attributes["displayName"]; ok {
		t.Error("null displayName filled")
	}
	if v, ok := u1.Attributes["givenName"]; !ok || v.Kind() != mapping.KindString || v.String() != "" {
		t.Errorf("empty givenName %v", v)
	}
	if v := u1.Attributes["accountEnabled"]; v.Kind() != mapping.KindBool || v.String() != "False" {
		t.Errorf("accountEnabled %v", v)
	}
	if _, ok := u1.Attributes["telephoneNumber"]; ok {
		t.Error("telephoneNumber from empty businessPhones")
	}
	if v := u1.Attributes["proxyAddresses"]; v.Kind() != mapping.KindMulti || len(v.Strings()) != 0 {
		t.Errorf("empty proxyAddresses %v", v)
	}
	if !u1.ManagerKnown || !u1.Attributes["manager"].IsNull() {
		t.Errorf("manager added then removed: %+v", u1)
	}
	if u2 := u["u2"]; !u2.ManagerKnown || !u2.Attributes["manager"].IsNull() ||
		u2.Attributes["displayName"].String() != "Ünïcödé é \"q\"" {
		t.Errorf("u2 %+v", u2)
	}
	if u["u3"].Removed != directory.SoftDeleted || u["u4"].Removed != directory.HardDeleted ||
		u["u5"].Removed != directory.SoftDeleted {
		t.Errorf("removals %q %q %q", u["u3"].Removed, u["u4"].Removed, u["u5"].Removed)
	}
	if u6 := u["u6"]; !u6.ManagerKnown || !u6.Attributes["manager"].IsNull() {
		t.Errorf("@removed:null entry still removes: %+v", u6)
	}
}

// Wrongly typed properties or annotations make the page malformed: an error, never a partial round.
func TestMalformedRecords(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{PageSize: 20})
	r := newReader(t, s, secretCredential(t, s))
	for _, rec := range []string{
		`{"id":"u1","displayName":42}`,
		`{"id":"u1","accountEnabled":"yes"}`,
		`{"id":"u1","businessPhones":"+1 555"}`,
		`{"id":"u1","manager@delta":{"id":"m"}}`,
		`{"id":"u1","manager@delta":[{"id":7}]}`,
		`{"id":7}`,
		`{"displayName":"no id"}`,
	} {
		s.InjectFaults(graphapi.Fault{PathContains: "skiptoken",
			Body: `{"@odata.deltaLink":"` + s.GraphURL() + `/users/delta?$deltatoken=x","value":[` + rec + `]}`})
		round, err := r.Users(context.Background(), []string{"displayName", "telephoneNumber", "manager"}, "")
		if err == nil || round != nil {
			t.Errorf("%s: round=%v err=%v", rec, round != nil, err)
		}
		t.Logf("%s -> %v", rec, err)
		s.ClearFaults()
	}
	// Groups and assignments too.
	s.InjectFaults(graphapi.Fault{PathContains: "groups/delta",
		Body: `{"@odata.deltaLink":"x","value":[{"id":"g","members@delta":[{"id":{}}]}]}`})
	if round, err := r.Groups(context.Background(), nil, ""); err == nil || round != nil {
		t.Errorf("members@delta: %v", err)
	}
	s.ClearFaults()
	s.InjectFaults(graphapi.Fault{PathContains: "appRoleAssignedTo",
		Body: `{"value":[{"principalId":"not-a-guid","principalType":"User","appRoleId":"` + graphapi.DefaultAccessRole + `"}]}`})
	if as, err := r.AppRoleAssignedTo(context.Background(), s.ServicePrincipal().ID); err == nil || as != nil {
		t.Errorf("bad principalId: %v", err)
	}
}

// A malformed record on a page that is not the last fails the round as on the last one, although the
// next page is asked for before the records are decoded: an error naming the page, never a partial
// round.
func TestMalformedMiddlePage(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{PageSize: 2})
	r := newReader(t, s, secretCredential(t, s))
	s.InjectFaults(graphapi.Fault{PathContains: "skiptoken", Skip: 1,
		Body: `{"@odata.nextLink":"` + s.GraphURL() + `/users/delta?$skiptoken=more","value":[{"id":"u1","displayName":42}]}`})
	round, err := r.Users(context.Background(), []string{"displayName"}, "")
	if err == nil || round != nil || !strings.Contains(err.Error(), "users delta page: malformed page") {
		t.Fatalf("round=%v err=%v", round != nil, err)
	}
	t.Log(err)
}

func TestGroupsPageShapes(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{})
	r := newReader(t, s, secretCredential(t, s))
	s.InjectFaults(graphapi.Fault{PathContains: "delta", Body: `{"@odata.deltaLink":"` + s.GraphURL() +
		`/groups/delta?$deltatoken=x","value":[
		{"id":"g1","displayName":"G","mailEnabled":true,"members@delta":[
			{"@odata.type":"#microsoft.graph.user","id":"a"},{"@odata.type":"#microsoft.graph.group","id":"b"},
			{"id":""},{"@odata.type":"#microsoft.graph.user","id":"a","@removed":{"reason":"deleted"}}]},
		{"id":"g1","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"c"}]},
		{"id":"g2","displayName":"H","members@delta":null},
		{"id":"g3","@removed":{"reason":"changed"}}]}`})
	round, err := r.Groups(context.Background(), []string{"mailEnabled"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(round.Groups) != 3 {
		t.Fatalf("%+v", round.Groups)
	}
	g1 := round.Groups[0]
	if !g1.MembersKnown || len(g1.Members) != 3 || g1.Members[0] != (directory.Member{ID: "a", Type: "user", Removed: true}) ||
		g1.Members[1] != (directory.Member{ID: "b", Type: "group"}) || g1.Members[2].ID != "c" {
		t.Errorf("g1 members %+v", g1.Members)
	}
	if v := g1.Attributes["mailEnabled"]; v.Kind() != mapping.KindBool || v.String() != "True" {
		t.Errorf("mailEnabled %v", v)
	}
	if g2 := round.Groups[1]; !g2.MembersKnown || len(g2.Members) != 0 || g2.Attributes["displayName"].String() != "H" {
		t.Errorf("g2 %+v", g2)
	}
	if g3 := round.Groups[2]; g3.Removed != directory.SoftDeleted || g3.Attributes["objectId"].String() != "g3" {
		t.Errorf("g3 %+v", g3)
	}
}

// An empty 200 body is an error, not an empty round.
func TestEmptyBody(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{})
	r := newReader(t, s, secretCredential(t, s))
	s.InjectFaults(graphapi.Fault{PathContains: "delta", Status: 200, Body: " "})
	if round, err := r.Users(context.Background(), nil, ""); err == nil || round != nil {
		t.Errorf("blank body: %v", err)
	}
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

// BenchmarkEmulatorUsersRound10k is the floor under BenchmarkUsersFullRound10k: the same round
// fetched with plain net/http, not decoded at all, so the difference is the reader's own cost.
func BenchmarkEmulatorUsersRound10k(b *testing.B) {
	s := graphapi.NewServer(graphapi.GenerateTenant(10000, 1), graphapi.Options{PageSize: 200, Token: "bench"})
	s.Start()
	defer s.Close()
	hc := s.Client()
	sel := strings.Join(directory.UserSelect(userAttrNames), ",")
	for b.Loop() {
		link := s.GraphURL() + "/users/delta?$select=" + sel
		for link != "" {
			req, _ := http.NewRequest(http.MethodGet, link, nil)
			req.Header.Set("Authorization", "Bearer bench")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("%d %s", resp.StatusCode, body)
			}
			link = ""
			const key = `"@odata.nextLink":"`
			if i := bytes.Index(body, []byte(key)); i >= 0 {
				rest := body[i+len(key):]
				link = string(rest[:bytes.IndexByte(rest, '"')])
			}
		}
	}
}

// The same user twice in one round, the second record with only what changed (Graph's delta query may
// do this): the round holds the user once, merged, the later values winning, the rest kept.
func TestUsersSameUserOnTwoPages(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{})
	r := newReader(t, s, secretCredential(t, s))
	next := s.GraphURL() + "/users/delta?$skiptoken=page2"
	link := s.GraphURL() + "/users/delta?$deltatoken=x"
	s.InjectFaults(
		graphapi.Fault{PathContains: "skiptoken=page2", Body: `{"@odata.deltaLink":"` + link + `","value":[
			{"id":"u1","displayName":"Ann Two","manager@delta":[{"id":"m2"}]},
			{"id":"u3","displayName":"Cy"}]}`},
		graphapi.Fault{PathContains: "users/delta", Body: `{"@odata.nextLink":"` + next + `","value":[
			{"id":"u1","displayName":"Ann","givenName":"Ann","accountEnabled":true,"manager@delta":[{"id":"m1"}]},
			{"id":"u2","displayName":"Bo"}]}`})
	round, err := r.Users(context.Background(), []string{"displayName", "givenName", "manager"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if round.Users.Len() != 3 || round.Users.ID(0) != "u1" || round.Users.ID(1) != "u2" || round.Users.ID(2) != "u3" {
		t.Fatalf("users %+v", round.Users.All())
	}
	u1 := round.Users.At(0)
	if u1.Attributes["displayName"].String() != "Ann Two" || u1.Attributes["givenName"].String() != "Ann" ||
		u1.Attributes["manager"].String() != "m2" || !u1.ManagerKnown {
		t.Errorf("merged u1 %+v", u1)
	}
}

// The next page is fetched while this one is converted, but a round stops at a record it cannot take
// (here one without id on the first page): the error is the record's, and the round reads no page
// beyond the one already asked for.
func TestUsersRoundStopsAtABadRecordWithAPageInFlight(t *testing.T) {
	s, _ := newEmulator(t, graphapi.Options{PageSize: 2})
	r := newReader(t, s, secretCredential(t, s))
	next := s.GraphURL() + "/users/delta?$skiptoken=page2"
	s.InjectFaults(graphapi.Fault{PathContains: "users/delta", Body: `{"@odata.nextLink":"` + next + `","value":[
		{"id":"u1","displayName":"Ann"},{"displayName":"no id"}]}`})
	s.ResetRequests()
	round, err := r.Users(context.Background(), []string{"displayName"}, "")
	if round != nil || err == nil || !strings.Contains(err.Error(), "record without id") {
		t.Fatalf("round %v, err %v; want the record's error", round, err)
	}
	pages := 0
	for _, rq := range s.Requests() {
		if strings.Contains(rq.Path, "/users/delta") {
			pages++
		}
	}
	if pages < 1 || pages > 2 {
		t.Errorf("%d page requests, want the first and at most the one in flight", pages)
	}
}
