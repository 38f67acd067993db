package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scimsync/scimsync/emulator/scimserver"
)

// TestEndToEndAdaptiveConcurrency: with target.maxConcurrency, a 429 on the 3rd and 4th create makes
// the binary halve its concurrency (and say so in the log) and wait out Retry-After, and the cycle
// still provisions every user without a failure.
func TestEndToEndAdaptiveConcurrency(t *testing.T) {
	var posts, throttled atomic.Int64
	l := newLocalTarget(t, scimserver.Options{Token: "aimd-token", Fault: func(r *http.Request) *scimserver.Fault {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Users") {
			return nil
		}
		if n := posts.Add(1); n == 3 || n == 4 {
			throttled.Add(1)
			return &scimserver.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0.2"}
		}
		return nil
	}})
	cfg := filepath.Join(l.dir, "job.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`name: aimd
%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN, concurrency: 4, maxConcurrency: 8, requestsPerSecond: 0}
users: {preset: gong}
groups: {enabled: false}
state: %s
logging: {level: warn, format: json}
`, l.source, l.url, filepath.Join(l.dir, "state.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(l.bin, "sync", "--config", cfg)
	cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=aimd-token")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, lastLines(string(out), 20))
	}
	if !strings.Contains(string(out), "halving concurrency") {
		t.Errorf("no halving logged:\n%s", lastLines(string(out), 20))
	}
	if throttled.Load() != 2 {
		t.Errorf("%d creates answered 429, want 2: the test proves nothing", throttled.Load())
	}
	// The same tenant and mapping against an unthrottled target give the expected set of users.
	want := newLocalTarget(t, scimserver.Options{Token: "aimd-token"})
	ref := filepath.Join(want.dir, "job.yaml")
	if err := os.WriteFile(ref, []byte(fmt.Sprintf(`name: ref
%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN}
users: {preset: gong}
groups: {enabled: false}
state: %s
`, want.source, want.url, filepath.Join(want.dir, "state.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(want.bin, "sync", "--config", ref)
	cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=aimd-token")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference sync: %v\n%s", err, lastLines(string(out), 20))
	}
	got, exp := userNames(l.target), userNames(want.target)
	if len(exp) == 0 || strings.Join(got, ",") != strings.Join(exp, ",") {
		t.Fatalf("users provisioned under throttling %v, want %v", got, exp)
	}
}

func userNames(s *scimserver.Server) []string {
	var out []string
	for _, u := range s.Users() {
		out = append(out, fmt.Sprint(u["userName"]))
	}
	slices.Sort(out)
	return out
}
