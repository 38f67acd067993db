package target_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/scimclient/target"
	"github.com/scimsync/scimsync/sync/plan"
)

// groupServer holds one group g1 holding u1, leaves members out of GET /Groups/g1, answers Entra's
// member query, and records PATCH bodies.
func groupServer(t *testing.T, mode scimclient.Mode) (*scimclient.Client, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var patches []string
	list := func(w http.ResponseWriter, rs ...map[string]any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"schemas": []string{scimclient.SchemaListResponse},
			"totalResults": len(rs), "Resources": rs})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/Groups/g1"):
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "g1", "displayName": "Sales"})
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/Groups"):
			if f := r.URL.Query().Get("filter"); strings.Contains(f, `members[value eq "u1"]`) || strings.Contains(f, `displayName eq "Sales"`) {
				list(w, map[string]any{"id": "g1", "displayName": "Sales"})
				return
			}
			list(w)
		case r.Method == http.MethodPatch:
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			patches = append(patches, string(b))
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "unexpected", http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := scimclient.New(scimclient.Options{BaseURL: srv.URL + "/scim", Token: "t", Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return c, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), patches...) }
}

func TestGroupTargetAsksForEachMemberWhenTheGroupDoesNotListThem(t *testing.T) {
	c, _ := groupServer(t, scimclient.ModeDefault)
	ids, listed, err := target.Groups(c).Members(context.Background(), "g1", []string{"u1", "u2"})
	if err != nil {
		t.Fatal(err)
	}
	if listed || len(ids) != 1 || ids[0] != "u1" {
		t.Errorf("members = %v, listed %v; want u1 confirmed, not listed", ids, listed)
	}
}

func TestGroupTargetFindsByDisplayNameOnly(t *testing.T) {
	c, _ := groupServer(t, scimclient.ModeDefault)
	found, err := target.Groups(c).Find(context.Background(), "displayName", "Sales", []string{"displayName"})
	if err != nil || len(found) != 1 || found[0].TargetID != "g1" || found[0].Values["displayName"] != "Sales" {
		t.Fatalf("found %+v, %v", found, err)
	}
	if _, err := target.Groups(c).Find(context.Background(), "externalId", "x", nil); !errors.Is(err, target.ErrMatchPath) {
		t.Errorf("err = %v, want ErrMatchPath", err)
	}
}

// The target sees the client's compatibility mode; the engine's changes carry none.
func TestTargetsSendTheClientsMode(t *testing.T) {
	for _, tc := range []struct {
		mode         scimclient.Mode
		update, drop string
	}{
		{scimclient.ModeDefault, `"op":"Replace"`, `"op":"Remove","path":"members","value":[{"value":"u1"}]`},
		{scimclient.ModeAADOptSCIM062020, `"op":"replace"`, `"op":"remove","path":"members[value eq \"u1\"]"`},
	} {
		c, patches := groupServer(t, tc.mode)
		g := target.Groups(c)
		if err := g.Update(context.Background(), "g1", []plan.AttrChange{{Path: "displayName", Old: "Sales", New: "Sales EU"}}); err != nil {
			t.Fatal(err)
		}
		if err := g.RemoveMembers(context.Background(), "g1", []string{"u1"}); err != nil {
			t.Fatal(err)
		}
		got := patches()
		if len(got) != 2 || !strings.Contains(got[0], tc.update) || !strings.Contains(got[1], tc.drop) {
			t.Errorf("%s: PATCH bodies %q", tc.mode, got)
		}
	}
}
