package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/scimserver"
)

// TestEndToEndDryRunShowsMemberChanges: after membership changes in the tenant (ben joins Deal Desk,
// fay leaves it and with it the app's assignment, cat is disabled), `sync --dry-run` lists each
// group's adds and removes and counts them, with an incremental and with an initial plan (which reads
// the groups' members from the target), and sends no write; the real sync that follows sends exactly
// those changes. The expected lists come from the tenant's changes, not from scimsync.
func TestEndToEndDryRunShowsMemberChanges(t *testing.T) {
	dir := t.TempDir()
	tenant := grpTenant()
	g := graphapi.StartForTest(t, tenant, graphapi.Options{ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: "members-secret"})
	var mu sync.Mutex
	var writes []string // non-GET requests the target received, while counting
	groupReads := 0     // reads of one group (its members), while counting
	counting := false
	target := scimserver.New(scimserver.Options{Token: "members-token", Fault: func(r *http.Request) *scimserver.Fault {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !counting:
		case r.Method != http.MethodGet:
			writes = append(writes, r.Method+" "+r.URL.Path)
		case strings.Contains(r.URL.Path, "/Groups/"):
			groupReads++
		}
		return nil
	}})
	url := target.Start()
	t.Cleanup(target.Close)
	ca := filepath.Join(dir, "ca.pem")
	if err := g.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "job.yaml")
	cfg := fmt.Sprintf("name: members\n%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN, concurrency: 1}\nusers: {preset: gong}\nstate: %s\nlogging: {level: warn, format: json}\n",
		emulatedSource(g, tenant.ServicePrincipal.ID, ca, "secretEnv: E2E_GRAPH_SECRET"), url, filepath.Join(dir, "state.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(args, "--config", cfgPath)...)
		cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET=members-secret", "E2E_TARGET_TOKEN=members-token")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	members := func(name string) []string {
		t.Helper()
		for _, grp := range target.Groups() {
			if grp["displayName"] != name {
				continue
			}
			var out []string
			list, _ := grp["members"].([]any)
			for _, m := range list {
				id, _ := m.(map[string]any)["value"].(string)
				if u := target.User(id); u != nil {
					out = append(out, u["userName"].(string))
				}
			}
			sort.Strings(out)
			return out
		}
		t.Fatalf("no target group %q", name)
		return nil
	}

	run("sync")
	deskBefore, salesBefore := members("Deal Desk"), members("Sales Team")
	for _, n := range []string{"ann", "cat", "fay"} {
		if !slices.Contains(deskBefore, grpUPN(n)) {
			t.Fatalf("setup: Deal Desk holds %v, want ann, cat and fay", deskBefore)
		}
	}
	if !slices.Contains(salesBefore, grpUPN("cat")) || slices.Contains(deskBefore, grpUPN("ben")) {
		t.Fatalf("setup: Sales Team %v, Deal Desk %v", salesBefore, deskBefore)
	}

	if err := g.AddMember(grpDesk, grpBen); err != nil {
		t.Fatal(err)
	}
	if err := g.RemoveMember(grpDesk, grpFay); err != nil {
		t.Fatal(err)
	}
	if err := g.DisableUser(grpCat); err != nil {
		t.Fatal(err)
	}
	wantDesk := fmt.Sprintf("Deal Desk (%s)\n      remove: %s, %s\n      add: %s\n", groupID(t, target, "Deal Desk"), grpUPN("cat"), grpUPN("fay"), grpUPN("ben"))
	wantSales := fmt.Sprintf("Sales Team (%s)\n      remove: %s\n", groupID(t, target, "Sales Team"), grpUPN("cat"))
	for _, args := range [][]string{{"sync", "--dry-run"}, {"sync", "--dry-run", "--initial"}} {
		mu.Lock()
		counting, writes, groupReads = true, nil, 0
		mu.Unlock()
		out := run(args...)
		mu.Lock()
		counting = false
		sent, reads := writes, groupReads
		mu.Unlock()
		// An initial plan cannot trust the record: it reads both groups' members from the target.
		if initial := len(args) == 3; initial != (reads >= 2) {
			t.Errorf("%v read %d groups from the target", args, reads)
		}
		t.Logf("%v:\n%s", args, out)
		if len(sent) > 0 {
			t.Errorf("%v sent writes: %v", args, sent)
		}
		for _, want := range []string{"memberships: 1 added, 3 removed", "Members   " + wantDesk, "Members   " + wantSales} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q", args, want)
			}
		}
	}
	if got := members("Deal Desk"); !slices.Equal(got, deskBefore) {
		t.Fatalf("the dry runs changed Deal Desk: %v, was %v", got, deskBefore)
	}

	out := run("sync")
	if !strings.Contains(out, "memberships: 1 added, 3 removed") {
		t.Errorf("the real sync did not send what the dry run listed:\n%s", out)
	}
	wantDeskAfter := slices.DeleteFunc(append([]string{grpUPN("ben")}, deskBefore...), func(n string) bool { return n == grpUPN("cat") || n == grpUPN("fay") })
	sort.Strings(wantDeskAfter)
	if got := members("Deal Desk"); !slices.Equal(got, wantDeskAfter) {
		t.Errorf("Deal Desk after the sync: %v, want %v", got, wantDeskAfter)
	}
}

func groupID(t *testing.T, target *scimserver.Server, name string) string {
	t.Helper()
	for _, grp := range target.Groups() {
		if grp["displayName"] == name {
			return grp["id"].(string)
		}
	}
	t.Fatalf("no target group %q", name)
	return ""
}
