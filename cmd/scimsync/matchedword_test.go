package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
)

// TestEndToEndOneWordForMatched: a pre-existing target account linked by the matching attributes is
// called "matched" everywhere a person reads about it (the dry run, the summary, the JSON log lines,
// status, the provisioning log), and "adopt" appears nowhere.
func TestEndToEndOneWordForMatched(t *testing.T) {
	l := newLocalTarget(t, scimserver.Options{Token: "word-token"})
	const upn = "megan.bowen@contoso.example"
	if err := l.target.Seed(scimclient.Resource{"userName": upn, "active": true, "title": "Stale title"}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(l.dir, "job.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("name: words\n%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN}\nusers: {preset: gong}\nstate: %s\nlogging: {level: debug, format: json}\n",
		l.source, l.url, filepath.Join(l.dir, "state.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(l.bin, append(args, "--config", cfg)...)
		cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=word-token")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	outputs := map[string]string{}
	for _, args := range [][]string{{"sync", "--dry-run"}, {"sync"}, {"status"}, {"status", "-o", "json"}, {"logs", "--object", upn}, {"logs", "--json", "--object", upn}} {
		outputs[strings.Join(args, " ")] = run(args...)
	}
	for name, out := range outputs {
		if strings.Contains(strings.ToLower(out), "adopt") {
			t.Errorf("%s says adopt:\n%s", name, out)
		}
	}
	want := map[string]*regexp.Regexp{
		"sync --dry-run":              regexp.MustCompile(`(?m)^  match\s+` + regexp.QuoteMeta(upn)),
		"sync":                        regexp.MustCompile(`(?m)^  matched\s+1\b`),
		"logs --json --object " + upn: regexp.MustCompile(`Matched the existing target user by userName`),
	}
	for name, re := range want {
		if !re.MatchString(outputs[name]) {
			t.Errorf("%s does not say matched (%s):\n%s", name, re, outputs[name])
		}
	}
	if !strings.Contains(outputs["sync"], `"op":"match"`) || !strings.Contains(outputs["sync"], `"matched":1`) {
		t.Errorf("the sync's JSON log lines do not say match/matched:\n%s", outputs["sync"])
	}
}
