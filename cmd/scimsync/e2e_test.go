package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/internal/testenv/scimmy"
)

const (
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	gongURN       = "urn:ietf:params:scim:schemas:extension:Gong:2.0:User"
)

// binary returns the scimsync binary under test: the one `make test` built (SCIMSYNC_BIN), or a fresh
// build, so the end-to-end test always runs the real command, not the package's functions.
func binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SCIMSYNC_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "scimsync")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build scimsync: %v", err)
	}
	return out
}

// e2eEnv is an emulated tenant, a SCIMMY target and a job configuration pointing at both.
type e2eEnv struct {
	bin    string
	graph  *graphapi.Server
	tenant *graphapi.Tenant
	scimmy *scimmy.Server
	cfg    string
	dir    string
}

func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	e := &e2eEnv{bin: binary(t), dir: t.TempDir(), tenant: graphapi.SampleTenant()}
	e.graph = graphapi.StartForTest(t, e.tenant, graphapi.Options{PageSize: 7})
	e.scimmy = scimmy.ForTest(t)
	ca := filepath.Join(e.dir, "ca.pem")
	if err := e.graph.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := write("graph-secret", "e2e-secret\n")
	token := write("target-token", e.scimmy.Token()+"\n")
	e.cfg = write("job.yaml", fmt.Sprintf(`name: e2e
%starget:
  url: %s
  tokenFile: %s
  compatibility: strict
  concurrency: 4
users:
  preset: gong
groups:
  enabled: false
state: %s
logging: {level: info, format: json}
`, emulatedSource(e.graph, e.tenant.ServicePrincipal.ID, ca, "secretFile: "+secret),
		e.scimmy.URL(), token, filepath.Join(e.dir, "state.db")))
	return e
}

func (e *e2eEnv) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append(args, "--config", e.cfg)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	if strings.Contains(errb.String()+out.String(), "e2e-secret") || strings.Contains(errb.String()+out.String(), e.scimmy.Token()) {
		t.Fatalf("a secret appeared in the output")
	}
	t.Logf("scimsync %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), lastLines(errb.String(), 15))
	return out.String(), code
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// expectedUser is what the Gong preset must produce for one source user, computed here from the
// tenant file without any scimsync code.
type expectedUser struct {
	id                                       string
	userName, title, email, given, family    string
	phone, externalID, locale, state, county string
	managerSourceID                          string
}

func expectedUsers(t *Tenant) map[string]expectedUser {
	assigned := map[string]bool{}
	groups := map[string]bool{}
	for _, a := range t.Assignments {
		switch a.PrincipalType {
		case "User":
			assigned[a.PrincipalID] = true
		case "Group":
			groups[a.PrincipalID] = true
		}
	}
	for _, g := range t.Groups {
		if groups[g.ID] {
			for _, m := range g.Members {
				assigned[m] = true // nested groups are not users and never match a user id below
			}
		}
	}
	out := map[string]expectedUser{}
	for _, u := range t.Users {
		id := s(u["id"])
		if !assigned[id] || u["accountEnabled"] == false {
			continue
		}
		upn := s(u["userPrincipalName"])
		if i := strings.Index(upn, "#EXT#"); i >= 0 {
			local := upn[:i]
			j := strings.LastIndex(local, "_")
			upn = local[:j] + "@" + local[j+1:]
		}
		phone := ""
		if ps, ok := u["businessPhones"].([]any); ok && len(ps) > 0 {
			phone = s(ps[0])
		}
		out[upn] = expectedUser{id: id, userName: upn, title: s(u["jobTitle"]), email: s(u["mail"]), given: s(u["givenName"]),
			family: s(u["surname"]), phone: phone, externalID: s(u["mailNickname"]), locale: s(u["preferredLanguage"]),
			state: s(u["state"]), county: s(u["country"]), managerSourceID: t.Managers[id]}
	}
	return out
}

// Tenant aliases graphapi.Tenant for brevity.
type Tenant = graphapi.Tenant

func s(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// field reads a nested attribute of a stored SCIMMY resource: "name.givenName",
// "emails[work]", "<urn>.manager.value".
func field(r map[string]any, path string) string {
	switch path {
	case "emails[work]", "phoneNumbers[work]":
		list, _ := r[strings.TrimSuffix(path, "[work]")].([]any)
		for _, e := range list {
			if m, ok := e.(map[string]any); ok && m["type"] == "work" {
				return s(m["value"])
			}
		}
		return ""
	}
	var cur any = r
	for _, part := range splitPath(path) {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[part]
	}
	return s(cur)
}

func splitPath(p string) []string {
	for _, urn := range []string{enterpriseURN, gongURN} {
		if strings.HasPrefix(p, urn+".") {
			return append([]string{urn}, strings.Split(strings.TrimPrefix(p, urn+"."), ".")...)
		}
	}
	return strings.Split(p, ".")
}

func TestEndToEndInitialSyncIntoSCIMMY(t *testing.T) {
	e := newE2E(t)
	want := expectedUsers(e.tenant)
	if len(want) < 10 {
		t.Fatalf("the sample tenant assigns only %d enabled users", len(want))
	}
	// A pre-existing target account with the same userName as one assigned user: it must be adopted
	// (linked and updated), never duplicated.
	// (one with a title, so the stale title must be replaced; a null source value would leave it, as
	// Entra never clears a target attribute).
	var adoptUPN string
	for upn, w := range want {
		if w.title != "" && (adoptUPN == "" || upn < adoptUPN) {
			adoptUPN = upn
		}
	}
	preID := createRaw(t, e.scimmy, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": adoptUPN, "title": "Stale title", "active": true,
	})
	// A pre-existing account of a user without a title: adopted, and its title left alone, because
	// null source values never flow (Entra does not clear target attributes).
	var nullUPN string
	for upn, w := range want {
		if w.title == "" && (nullUPN == "" || upn < nullUPN) {
			nullUPN = upn
		}
	}
	nullID := ""
	if nullUPN != "" {
		nullID = createRaw(t, e.scimmy, map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": nullUPN, "title": "Title set in the app", "active": true,
		})
	}
	// A pre-existing account nobody in the tenant matches: it must stay untouched.
	otherID := createRaw(t, e.scimmy, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "contractor@elsewhere.example", "title": "Contractor", "active": true,
	})

	out, code := e.run(t, "sync")
	if code != 0 {
		t.Fatalf("sync exit code %d", code)
	}
	if !strings.Contains(out, "created") {
		t.Fatalf("no summary printed:\n%s", out)
	}

	users := dumpUsers(t, e.scimmy)
	if len(users) != len(want)+1 {
		t.Fatalf("target holds %d users, want %d provisioned + 1 unmanaged", len(users), len(want))
	}
	bySource := map[string]string{} // source id -> target id
	for upn, w := range want {
		u, ok := users[upn]
		if !ok {
			t.Errorf("%s was not provisioned", upn)
			continue
		}
		bySource[w.id] = s(u["id"])
	}
	for upn, w := range want {
		u := users[upn]
		if u == nil {
			continue
		}
		check := func(path, got, wantV string) {
			if got != wantV {
				t.Errorf("%s: %s = %q, want %q", upn, path, got, wantV)
			}
		}
		check("active", field(u, "active"), "true")
		if upn == nullUPN {
			check("title (null in the source)", field(u, "title"), "Title set in the app")
		} else {
			check("title", field(u, "title"), w.title)
		}
		check("emails[work]", field(u, "emails[work]"), w.email)
		check("name.givenName", field(u, "name.givenName"), w.given)
		check("name.familyName", field(u, "name.familyName"), w.family)
		check("phoneNumbers[work]", field(u, "phoneNumbers[work]"), w.phone)
		check("externalId", field(u, "externalId"), w.externalID)
		check("locale", field(u, "locale"), w.locale)
		check("stateOrProvince", field(u, gongURN+".stateOrProvince"), w.state)
		check("country", field(u, gongURN+".country"), w.county)
		wantMgr := bySource[w.managerSourceID] // empty when the manager is not provisioned
		check("manager", field(u, enterpriseURN+".manager.value"), wantMgr)
	}
	if got := s(users[adoptUPN]["id"]); got != preID {
		t.Errorf("the pre-existing account %s was replaced: id %s, want %s", adoptUPN, got, preID)
	}
	if nullUPN != "" {
		if got := s(users[nullUPN]["id"]); got != nullID {
			t.Errorf("the pre-existing account %s was replaced: id %s, want %s", nullUPN, got, nullID)
		}
	} else {
		t.Fatal("the sample tenant has no assigned user without a title: the null-value check cannot run")
	}
	if other := users["contractor@elsewhere.example"]; other == nil || s(other["id"]) != otherID || field(other, "title") != "Contractor" {
		t.Errorf("the unmanaged account was changed: %v", other)
	}

	// A second run with nothing changed sends no write at all.
	writes := func() int {
		st, err := e.scimmy.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.ByMethod["POST"] + st.ByMethod["PATCH"] + st.ByMethod["PUT"] + st.ByMethod["DELETE"]
	}
	before := writes()
	if _, code := e.run(t, "sync"); code != 0 {
		t.Fatalf("second sync exit code %d", code)
	}
	if n := writes() - before; n != 0 {
		t.Fatalf("the second run wrote %d times", n)
	}
}

func TestEndToEndValidateReportsFileLineKey(t *testing.T) {
	e := &e2eEnv{bin: binary(t), dir: t.TempDir()}
	e.cfg = filepath.Join(e.dir, "bad.yaml")
	bad := "name: bad\nsource:\n  tenantId: t\n  clientId: c\n  credential: {type: clientSecret, secretEnv: NOPE_NOT_SET}\ntarget:\n  url: ftp://x\n  tokenEnv: NOPE\nusers:\n  preset: gong\n  mappings:\n    - target: title\n      expression: 'Append([jobTitle], \"x\"'\n"
	if err := os.WriteFile(e.cfg, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.bin, "validate", "--config", e.cfg)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitConfig {
		t.Fatalf("validate: err %v, output:\n%s", err, out)
	}
	for _, want := range []string{"bad.yaml:7:", "target.url", "bad.yaml:13:", "users.mappings[0].expression"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}

func createRaw(t *testing.T, sc *scimmy.Server, body map[string]any) string {
	t.Helper()
	return createResource(t, sc, "Users", body)
}

// createResource creates a user or group directly in SCIMMY (endpoint "Users" or "Groups"), as
// something that exists in the target before scimsync ever runs.
func createResource(t *testing.T, sc *scimmy.Server, endpoint string, body map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, sc.URL()+"/"+endpoint, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+sc.Token())
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("seed %s: %d %v", endpoint, resp.StatusCode, out)
	}
	return s(out["id"])
}

func dumpUsers(t *testing.T, sc *scimmy.Server) map[string]map[string]any {
	t.Helper()
	users, _, err := sc.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, u := range users {
		name := s(u["userName"])
		if _, dup := out[name]; dup {
			t.Errorf("duplicate account for %s", name)
		}
		out[name] = u
	}
	return out
}

// TestEndToEndDaemon runs `scimsync run`: the first cycle at start, more on the schedule, a clean stop
// on SIGTERM, and a state file that `status` reads afterwards.
func TestEndToEndDaemon(t *testing.T) {
	l := newLocalTarget(t, scimserver.Options{Token: "daemon-token"})
	bin, dir, target := l.bin, l.dir, l.target
	metricsAddr := freeAddr(t)
	cfg := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`name: daemon
%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN}
users: {preset: gong}
schedule: "@every 1s"
state: %s
logging: {level: info, format: json}
metrics: {listen: "%s"}
`, l.source, l.url, filepath.Join(dir, "state.db"), metricsAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET=daemon-secret", "E2E_TARGET_TOKEN=daemon-token")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(logs.String(), `"cycle finished"`) < 2 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the daemon did not run two cycles:\n%s", lastLines(logs.String(), 20))
		}
		select {
		case err := <-done:
			t.Fatalf("the daemon exited early: %v\n%s", err, lastLines(logs.String(), 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(target.Users()) == 0 {
		t.Fatal("the first cycle provisioned nobody")
	}
	// /status and /status.json answer from memory: with a cycle every second, also while one runs.
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": `scimsync_cycles_total{job="daemon",result="success"}`,
		"/status": "<h2>Last cycles</h2>", "/status.json": `"phase": `} {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s lacks %q:\n%s", path, want, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), `scimsync_scim_requests_total{job="daemon",status="201"}`) {
			t.Errorf("/metrics lacks the SCIM request counts:\n%s", body)
		}
	}
	// SIGHUP re-reads the configuration; a broken one is refused and the running one kept.
	orig, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(orig, []byte("bogusKey: 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("the daemon never logged %q:\n%s", what, lastLines(logs.String(), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("keeping the running one")
	if err := os.WriteFile(cfg, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitLog("configuration reloaded")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the daemon did not stop cleanly: %v\n%s", err, lastLines(logs.String(), 20))
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the daemon did not stop within 30s of SIGTERM")
	}
	if strings.Contains(logs.String(), "daemon-secret") || strings.Contains(logs.String(), "daemon-token") {
		t.Fatal("a secret reached the logs")
	}
	st := exec.Command(bin, "status", "--config", cfg)
	st.Env = cmd.Env
	out, err := st.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "status     Active") || !strings.Contains(string(out), "linked     ") {
		t.Fatalf("status after the daemon stopped: %v\n%s", err, out)
	}
}

// syncBuffer is a bytes.Buffer safe for the exec package's copying goroutine and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEndToEndTestConnection runs `test-connection` against the emulated Graph and an in-process
// target: ok with the right token, exit 3 naming the target with a wrong one.
func TestEndToEndTestConnection(t *testing.T) {
	l := newLocalTarget(t, scimserver.Options{Token: "right-token"})
	bin, dir, g := l.bin, l.dir, l.graph
	for _, scope := range []string{"assigned", "all"} {
		cfg := filepath.Join(dir, scope+".yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`name: conn
%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN}
scope: %s
users: {preset: gong}
state: %s
`, l.source, l.url, scope, filepath.Join(dir, "state.db"))), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			token string
			code  int
		}{{"right-token", 0}, {"wrong-token", exitAborted}} {
			cmd := exec.Command(bin, "test-connection", "--config", cfg)
			cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN="+tc.token)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tc.code {
				t.Fatalf("scope %s, token %s: exit %d, want %d\n%s", scope, tc.token, code, tc.code, out)
			}
			if tc.code == 0 && !strings.Contains(string(out), "graph "+g.GraphURL()+": ok") {
				t.Errorf("scope %s: output lacks the Graph check:\n%s", scope, out)
			}
			if strings.Contains(string(out), tc.token) {
				t.Errorf("the token reached the output")
			}
		}
	}
}

// TestEndToEndCrashMidCycleCreatesNoDuplicate kills `scimsync sync` with SIGKILL while it is creating
// users (some creates done, their links maybe not yet recorded) and runs it again: every user ends up
// with exactly one account, and the second run creates only the users the first did not.
func TestEndToEndCrashMidCycleCreatesNoDuplicate(t *testing.T) {
	var mu sync.Mutex
	slow, posts := true, 0
	l := newLocalTarget(t, scimserver.Options{Token: "crash-token", Fault: func(r *http.Request) *scimserver.Fault {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Users") {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		posts++
		if slow {
			return &scimserver.Fault{Delay: 300 * time.Millisecond}
		}
		return nil
	}})
	bin, dir, tenant, target := l.bin, l.dir, l.tenant, l.target
	cfg := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`name: crash
%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN, concurrency: 2}
users: {preset: gong}
groups: {enabled: false}
state: %s
logging: {level: warn, format: json}
`, l.source, l.url, filepath.Join(dir, "state.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=crash-token")
	cmd := exec.Command(bin, "sync", "--config", cfg)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(target.Users()) < 4 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the first run created no users in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	// Requests in flight when the process died may still land in the target: let them settle.
	time.Sleep(time.Second)
	before := len(target.Users())
	mu.Lock()
	slow, posts = false, 0
	mu.Unlock()

	cmd = exec.Command(bin, "sync", "--config", cfg)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the run after the crash failed: %v\n%s", err, out)
	}
	users := target.Users()
	seen := map[string]bool{}
	for _, u := range users {
		name := strings.ToLower(fmt.Sprint(u["userName"]))
		if seen[name] {
			t.Errorf("duplicate account for %s", name)
		}
		seen[name] = true
	}
	want := len(expectedUsers(tenant))
	if len(users) != want {
		t.Fatalf("the target holds %d users, want %d", len(users), want)
	}
	mu.Lock()
	defer mu.Unlock()
	if posts != want-before {
		t.Fatalf("the run after the crash sent %d creates, want %d (%d users existed already)", posts, want-before, before)
	}
}

// freeAddr returns a free 127.0.0.1 address for a listener the test does not own.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// emulatedSource is the source section of a job that reads the emulated tenant g, with the client
// secret given by credential ("secretFile: PATH" or "secretEnv: NAME").
func emulatedSource(g *graphapi.Server, servicePrincipalID, ca, credential string) string {
	return fmt.Sprintf(`source:
  tenantId: %s
  clientId: 11111111-2222-3333-4444-555555555555
  credential: {type: clientSecret, %s}
  graphEndpoint: %s
  authorityHost: %s
  caFile: %s
  servicePrincipalId: %s
`, g.TenantID(), credential, g.GraphURL(), g.AuthorityHost(), ca, servicePrincipalID)
}

// localTarget is the emulated sample tenant and an in-process SCIM target, for end-to-end tests of
// the binary that need no third-party server; source is the job's source section for them.
type localTarget struct {
	bin, dir string
	tenant   *graphapi.Tenant
	graph    *graphapi.Server
	target   *scimserver.Server
	url      string
	source   string
}

func newLocalTarget(t testing.TB, o scimserver.Options) *localTarget {
	t.Helper()
	l := &localTarget{bin: binary(t), dir: t.TempDir(), tenant: graphapi.SampleTenant()}
	l.graph = graphapi.StartForTest(t, l.tenant, graphapi.Options{})
	l.target = scimserver.New(o)
	l.url = l.target.Start()
	t.Cleanup(l.target.Close)
	ca := filepath.Join(l.dir, "ca.pem")
	if err := l.graph.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	l.source = emulatedSource(l.graph, l.tenant.ServicePrincipal.ID, ca, "secretEnv: E2E_GRAPH_SECRET")
	return l
}
