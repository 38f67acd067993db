package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
)

// TestEndToEndUnreachableTargetAborts: `scimsync sync` against a target that refuses connections, or
// accepts them and never answers, ends with exit 3 after a bounded number of connections, records no
// watermark and quarantines nothing.
func TestEndToEndUnreachableTargetAborts(t *testing.T) {
	l := newLocalTarget(t, scimserver.Options{Token: "t"})
	closed := freeAddr(t)
	silent, conns := scimserver.Silent(t)
	for name, addr := range map[string]string{"connection refused": closed, "accepts, never answers": silent} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state.db")
			cfg := filepath.Join(dir, "job.yaml")
			if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`name: dead
%starget: {url: "http://%s/scim/v2", tokenEnv: E2E_TARGET_TOKEN, timeout: 100ms, concurrency: 4}
users: {preset: gong}
state: %s
`, l.source, addr, state)), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(l.bin, "sync", "--config", cfg)
			cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=t0k3n-value")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != exitAborted || !strings.Contains(string(out), "target unreachable") {
				t.Fatalf("exit %d, want %d naming the unreachable target:\n%s", code, exitAborted, lastLines(string(out), 10))
			}
			if strings.Contains(string(out), "t0k3n-value") {
				t.Fatal("the token reached the output")
			}
			// Default retries (4) and the breaker: at most threshold+concurrency-1 requests of 5 attempts.
			if n, max := conns(), (scimclient.DefaultBreakerThreshold+3)*(1+scimclient.DefaultMaxRetries); n > max {
				t.Fatalf("%d connections, want at most %d", n, max)
			}
			st, err := store.Open(state, store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if wm, _ := st.Watermark("users"); wm != "" {
				t.Fatalf("watermark %q recorded by an aborted cycle", wm)
			}
			if q, _ := st.Quarantine(); q != nil {
				t.Fatalf("quarantined: %+v", q)
			}
		})
	}
}
