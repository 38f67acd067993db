package scimserver

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/scimclient"
)

func bulkBody(failOnErrors int, ops ...map[string]any) map[string]any {
	b := map[string]any{"schemas": []string{scimclient.SchemaBulkRequest}, "Operations": ops}
	if failOnErrors > 0 {
		b["failOnErrors"] = failOnErrors
	}
	return b
}

func bulkUser(bulkID, name string) map[string]any {
	return map[string]any{"method": "POST", "path": "/Users", "bulkId": bulkID,
		"data": map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name}}
}

func bulkGroup(bulkID, name string, members ...string) map[string]any {
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	return map[string]any{"method": "POST", "path": "/Groups", "bulkId": bulkID,
		"data": map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": ms}}
}

// statuses lists "bulkId:status" of the answer's operations, in answer order.
func statuses(t *testing.T, body map[string]any) string {
	t.Helper()
	ops, _ := body["Operations"].([]any)
	var out []string
	for _, o := range ops {
		m := o.(map[string]any)
		out = append(out, fmt.Sprintf("%v:%v", m["bulkId"], m["status"]))
	}
	return strings.Join(out, " ")
}

func TestBulkSemantics(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      map[string]any
		status    int
		want      string // bulkId:status per answered operation
		users     int
		groups    int
		groupSize int
	}{
		{name: "forward reference waits for its create",
			body:   bulkBody(0, bulkGroup("g", "G", "bulkId:u"), bulkUser("u", "u@x")),
			status: 200, want: "u:201 g:201", users: 1, groups: 1, groupSize: 1},
		{name: "reference to a failed create is 409",
			body:   bulkBody(0, bulkUser("a", "dup@x"), bulkUser("b", "DUP@x"), bulkGroup("g", "G", "bulkId:b")),
			status: 200, want: "a:201 b:409 g:409", users: 1},
		{name: "circular references are 409",
			body:   bulkBody(0, bulkGroup("g1", "G1", "bulkId:g2"), bulkGroup("g2", "G2", "bulkId:g1")),
			status: 200, want: "g1:409 g2:409"},
		{name: "failOnErrors stops after that many errors",
			body:   bulkBody(1, bulkUser("a", "dup@x"), bulkUser("b", "dup@x"), bulkUser("c", "c@x")),
			status: 200, want: "a:201 b:409", users: 1},
		{name: "POST without bulkId is 400",
			body:   bulkBody(0, map[string]any{"method": "POST", "path": "/Users", "data": map[string]any{"userName": "x"}}),
			status: 200, want: "<nil>:400"},
		{name: "too many operations is 413",
			body:   bulkBody(0, bulkUser("a", "a@x"), bulkUser("b", "b@x"), bulkUser("c", "c@x"), bulkUser("d", "d@x")),
			status: 413},
		{name: "duplicate bulkId is 400",
			body:   bulkBody(0, bulkUser("a", "a@x"), bulkUser("a", "b@x")),
			status: 400},
		{name: "missing schema is 400",
			body:   map[string]any{"Operations": []any{bulkUser("a", "a@x")}},
			status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := New(Options{Token: stToken, Bulk: &Bulk{MaxOperations: 3}})
			base := srv.Start()
			defer srv.Close()
			status, body := stDo(t, base, http.MethodPost, "/Bulk", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if status != 200 {
				return
			}
			if got := statuses(t, body); got != tc.want {
				t.Fatalf("operations %q, want %q", got, tc.want)
			}
			if len(srv.Users()) != tc.users || len(srv.Groups()) != tc.groups {
				t.Fatalf("%d users and %d groups, want %d and %d", len(srv.Users()), len(srv.Groups()), tc.users, tc.groups)
			}
			if tc.groups > 0 {
				g := srv.Groups()[0]
				ms, _ := g["members"].([]any)
				if len(ms) != tc.groupSize || ms[0].(map[string]any)["value"] != srv.Users()[0].ID() {
					t.Fatalf("group members %v, want the created user %s", ms, srv.Users()[0].ID())
				}
			}
		})
	}
}

func TestBulkPayloadLimitAndDiscovery(t *testing.T) {
	srv := New(Options{Token: stToken, Bulk: &Bulk{MaxPayloadSize: 200}})
	base := srv.Start()
	defer srv.Close()
	status, _ := stDo(t, base, http.MethodPost, "/Bulk", bulkBody(0, bulkUser("a", "a@x"), bulkUser("b", strings.Repeat("b", 200))))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized payload: %d, want 413", status)
	}
	if n := len(srv.Users()); n != 0 {
		t.Fatalf("%d users created by a refused request", n)
	}
	_, spc := stDo(t, base, http.MethodGet, "/ServiceProviderConfig", nil)
	bulk, _ := spc["bulk"].(map[string]any)
	if bulk["supported"] != true || bulk["maxOperations"] != float64(1000) || bulk["maxPayloadSize"] != float64(200) {
		t.Fatalf("ServiceProviderConfig bulk %v", bulk)
	}

	off := New(Options{Token: stToken})
	offBase := off.Start()
	defer off.Close()
	if status, _ := stDo(t, offBase, http.MethodPost, "/Bulk", bulkBody(0, bulkUser("a", "a@x"))); status != http.StatusNotImplemented {
		t.Fatalf("Bulk off: %d, want 501", status)
	}
	_, spc = stDo(t, offBase, http.MethodGet, "/ServiceProviderConfig", nil)
	if bulk, _ := spc["bulk"].(map[string]any); bulk["supported"] != false {
		t.Fatalf("Bulk off advertised: %v", bulk)
	}
}
