package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/scimserver"
)

// TestCycleFieldOnReaderAndClientLines: the Graph reader and the SCIM client are built once per job,
// yet the lines they write during a cycle carry that cycle's id: the reader's retry and round lines
// (one 503 from Graph) and the client's retry line (one 429 from the target), in two cycles, each
// with its own id; then a cycle Graph refuses (401): its failure line and the sign-in email's line.
func TestCycleFieldOnReaderAndClientLines(t *testing.T) {
	dir := t.TempDir()
	tenant := graphapi.SampleTenant()
	g := graphapi.StartForTest(t, tenant, graphapi.Options{ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: "cycle-secret"})
	var mu sync.Mutex
	throttle := 0 // POSTs to answer with 429 before handling
	target := scimserver.New(scimserver.Options{Token: "cycle-token", Fault: func(r *http.Request) *scimserver.Fault {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPost && throttle > 0 {
			throttle--
			return &scimserver.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0.01"}
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
	sink := startMailSink(t)
	cfg := fmt.Sprintf("name: cycles\n%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN, concurrency: 1}\nusers: {preset: gong}\nstate: %s\n%s",
		emulatedSource(g, tenant.ServicePrincipal.ID, ca, "secretEnv: E2E_GRAPH_SECRET"), url, filepath.Join(dir, "state.db"), sink.notifyBlock())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("E2E_GRAPH_SECRET", "cycle-secret")
	t.Setenv("E2E_TARGET_TOKEN", "cycle-token")
	c, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	j, err := openJob(c, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}

	var ids []string
	for i := range 2 {
		mu.Lock()
		throttle = 1
		mu.Unlock()
		g.InjectFaults(graphapi.Fault{PathContains: "/users", Status: http.StatusServiceUnavailable})
		if i == 1 {
			id := g.UpsertUser(map[string]any{"userPrincipalName": "new.hire@contoso.example", "displayName": "New Hire",
				"givenName": "New", "surname": "Hire", "mailNickname": "new.hire", "accountEnabled": true})
			if err := g.Assign(id, "User"); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		rep, err := j.Cycle(ctx, false)
		cancel()
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		ids = append(ids, rep.CycleID)
	}
	// Graph refuses the reads (consent revoked): the cycle fails and the sign-in email goes out.
	g.InjectFaults(graphapi.Fault{PathContains: "/v1.0/", Status: http.StatusForbidden, Code: "Authorization_RequestDenied", Count: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	rep, err := j.Cycle(ctx, false)
	cancel()
	if err == nil || rep.CycleID == "" {
		t.Fatalf("a cycle Graph refuses: %v, report %+v", err, rep)
	}
	ids = append(ids, rep.CycleID)
	if got := sink.subjects(t); len(got) != 1 {
		t.Fatalf("emails %q, want the sign-in email", got)
	}
	seen := map[string]int{}
	for _, l := range logs.All() {
		msg := l.Message
		if !strings.HasPrefix(msg, "graph ") && !strings.HasPrefix(msg, "scim ") && !strings.HasPrefix(msg, "cycle ") &&
			!strings.HasPrefix(msg, "failure email") {
			continue
		}
		cyc, _ := l.ContextMap()["cycle"].(string)
		if cyc == "" {
			t.Errorf("%q has no cycle: %v", msg, l.ContextMap())
			continue
		}
		seen[cyc+" "+msg]++
	}
	if seen[ids[2]+" cycle failed"] == 0 || seen[ids[2]+" failure email sent"] == 0 {
		t.Errorf("cycle %s: the failure or the email line does not carry it (lines: %v)", ids[2], seen)
	}
	for _, id := range ids[:2] {
		for _, msg := range []string{"graph request failed, retrying", "graph users round", "scim request failed, retrying", "cycle finished"} {
			if seen[id+" "+msg] == 0 {
				t.Errorf("cycle %s: no %q line carrying it (lines: %v)", id, msg, seen)
			}
		}
	}
}
