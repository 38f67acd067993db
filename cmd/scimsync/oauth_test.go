//go:build linux || darwin

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/internal/testenv/oidcprovider"
	"github.com/scimsync/scimsync/store"
)

// oauthEnv is an OAuth-protected target: the emulated tenant, the in-process SCIM target behind a
// guard that accepts only tokens oidc-provider issued (introspection), a gate in front of the token
// endpoint, and an SMTP sink for the failure emails.
type oauthEnv struct {
	*localTarget
	p      *oidcprovider.Provider
	guard  *oidcprovider.Guard
	gate   *oidcprovider.Gate
	mail   *mailSink
	cfg    string
	state  string
	key    []byte
	env    []string
	mu     sync.Mutex
	output bytes.Buffer // everything every command printed, for the leak checks
}

func newOAuthEnv(t *testing.T, auth string) *oauthEnv {
	t.Helper()
	e := &oauthEnv{localTarget: newLocalTarget(t, scimserver.Options{Token: "behind-the-guard"})}
	// Access tokens live an hour, so that only the test's deliberate expiry (Guard.ExpireAfter) makes
	// scimsync refresh, however slow the machine.
	e.p = oidcprovider.StartForTest(t, oidcprovider.Options{AccessTokenTTL: time.Hour})
	e.guard = oidcprovider.NewGuard(e.p, e.url, "behind-the-guard")
	t.Cleanup(e.guard.Close)
	e.gate = oidcprovider.NewGate(e.p)
	t.Cleanup(e.gate.Close)
	e.mail = startMailSink(t)
	e.key = make([]byte, 32)
	_, _ = rand.Read(e.key)
	e.state = filepath.Join(e.dir, "state.db")
	e.cfg = filepath.Join(e.dir, "job.yaml")
	e.env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TOKEN_KEY="+hex.EncodeToString(e.key),
		"E2E_CLIENT_SECRET="+e.p.Secret(oidcprovider.CCBasic))
	if err := os.WriteFile(e.cfg, []byte(fmt.Sprintf(`name: oauth
%starget:
  url: %s
  auth:
%s
scope: assigned
users: {preset: gong}
state: %s
logging: {format: json, level: debug}
notify:
  smtp: {host: 127.0.0.1, port: %d, tls: none}
  from: scimsync@example.com
  to: [admin@example.com]
`, e.source, e.guard.URL(), auth, e.state, e.mail.port)), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs a scimsync command to its end and returns its exit code and output.
func (e *oauthEnv) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(e.bin, append(args, "--config", e.cfg)...)
	cmd.Env = e.env
	out, err := cmd.CombinedOutput()
	e.record(out)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

func (e *oauthEnv) record(b []byte) {
	e.mu.Lock()
	e.output.Write(b)
	e.mu.Unlock()
}

// authorize runs `scimsync authorize` with the test as the admin's browser; with paste, `--no-browser`,
// and the test pastes the URL the browser was redirected to.
func (e *oauthEnv) authorize(t *testing.T, paste bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"authorize", "--config", e.cfg}
	if paste {
		args = append(args, "--no-browser")
	}
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(io.TeeReader(stdout, &out))
	authURL := ""
	for authURL == "" && sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "  http"); ok {
			authURL = "http" + u
		}
	}
	if authURL == "" {
		_ = cmd.Wait()
		t.Fatalf("authorize printed no URL:\n%s%s", out.String(), stderr.String())
	}
	redirect, err := oidcprovider.Consent(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	if paste {
		if !strings.HasPrefix(redirect, "http://127.0.0.1:8765/callback?") {
			t.Fatalf("paste mode redirect %s; want the default port", redirect)
		}
		if _, err := io.WriteString(stdin, redirect+"\n"); err != nil {
			t.Fatal(err)
		}
	} else if code, page, err := oidcprovider.Deliver(ctx, redirect); err != nil || code != 200 {
		t.Fatalf("callback answered %d %q: %v", code, page, err)
	}
	_, _ = io.Copy(io.Discard, io.TeeReader(stdout, &out))
	err = cmd.Wait()
	e.record(out.Bytes())
	e.record(stderr.Bytes())
	if err != nil {
		t.Fatalf("authorize: %v\n%s%s", err, out.String(), stderr.String())
	}
	return out.String()
}

// grant reads the stored refresh token; the binary must not hold the state file.
func (e *oauthEnv) grant(t *testing.T) store.Grant {
	t.Helper()
	st, err := store.Open(e.state, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Grant(nil); !errors.Is(err, store.ErrGrantKey) {
		t.Fatalf("reading the grant without the key: %v; want ErrGrantKey (the token must be encrypted)", err)
	}
	g, err := st.Grant(e.key)
	if err != nil || g == nil {
		t.Fatalf("grant: %v, %v", g, err)
	}
	return *g
}

// checkNoSecrets greps everything the commands printed, the emails and the state file's plain parts
// for the secrets and every token that was in play.
func (e *oauthEnv) checkNoSecrets(t *testing.T, refreshTokens ...string) {
	t.Helper()
	e.mu.Lock()
	out := e.output.String()
	e.mu.Unlock()
	for _, m := range e.mail.messages() {
		out += string(m)
	}
	secrets := map[string]string{"encryption key": hex.EncodeToString(e.key)}
	for _, id := range []string{oidcprovider.CCBasic, oidcprovider.ACConfidential} {
		secrets["client secret of "+id] = e.p.Secret(id)
	}
	for i, rt := range refreshTokens {
		secrets[fmt.Sprintf("refresh token %d", i)] = rt
	}
	for i, at := range e.guard.AcceptedTokens() {
		secrets[fmt.Sprintf("access token %d", i)] = at
	}
	if len(e.guard.AcceptedTokens()) == 0 {
		t.Fatal("the guard accepted no token: the leak check would prove nothing")
	}
	raw, _ := os.ReadFile(e.state)
	for what, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in the output, logs or emails", what)
		}
		if what != "encryption key" && bytes.Contains(raw, []byte(s)) {
			t.Errorf("the %s appears unencrypted in the state file", what)
		}
	}
}

func authCodeSection(e *oidcprovider.Provider, tokenURL string) string {
	return fmt.Sprintf(`    type: oauth2AuthorizationCode
    authorizeUrl: %s
    tokenUrl: %s
    clientId: %s
    scopes: [%s]
    redirectPort: 0
    encryptionKeyEnv: E2E_TOKEN_KEY`, e.AuthorizeURL(), tokenURL, oidcprovider.ACPublic, oidcprovider.Scope)
}

// TestOAuthClientCredentials: a sync through the guard with a client credentials token, a token that
// expires in the middle of the cycle (fetched again after the 401), and a wrong secret refused by
// test-connection without showing it.
func TestOAuthClientCredentials(t *testing.T) {
	e := newOAuthEnv(t, fmt.Sprintf(`    type: oauth2ClientCredentials
    tokenUrl: %s
    clientId: %s
    clientSecretEnv: E2E_CLIENT_SECRET
    scopes: [%s]`, "TOKENURL", oidcprovider.CCBasic, oidcprovider.Scope))
	// The env's own provider issues the tokens; rewrite the placeholder now that it is known.
	rewrite(t, e.cfg, "TOKENURL", e.p.TokenURL())
	if code, out := e.run(t, "test-connection"); code != 0 || !strings.Contains(out, "target "+e.guard.URL()+": ok") {
		t.Fatalf("test-connection: exit %d\n%s", code, out)
	}
	e.guard.ExpireAfter(4)
	if code, out := e.run(t, "sync"); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	if n := len(e.target.Users()); n == 0 {
		t.Fatal("no user was created")
	}
	if accepted, denied := e.guard.Tokens(); denied < 1 || accepted < 2 {
		t.Fatalf("accepted %d tokens, denied %d requests; want the expired token refused and a new one accepted", accepted, denied)
	}
	if code, out := e.run(t, "status"); code != 0 || !strings.Contains(out, "oauth2ClientCredentials: client "+oidcprovider.CCBasic) {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	e.env = append(e.env, "E2E_CLIENT_SECRET=wrong-secret-abcdef0123456789")
	code, out := e.run(t, "test-connection")
	if code != exitAborted || !strings.Contains(out, "invalid_client") {
		t.Fatalf("wrong secret: exit %d, want %d naming invalid_client\n%s", code, exitAborted, out)
	}
	if strings.Contains(out, "wrong-secret-abcdef0123456789") {
		t.Fatal("the wrong secret appears in the output")
	}
	e.checkNoSecrets(t)
}

func rewrite(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(old), []byte(new)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOAuthAuthorizationCode walks the gallery flow end to end: not authorized yet, `authorize` driven
// through the provider's login and consent pages, syncs with rotation (and an access token that expires
// mid-cycle), revocation at the provider → quarantine AuthorizationExpiredOrRevoked with one email that
// says to run `scimsync authorize`, re-authorization (with --no-browser) lifting it, and a wrong
// encryption key.
func TestOAuthAuthorizationCode(t *testing.T) {
	e := newOAuthEnv(t, "AUTH")
	rewrite(t, e.cfg, "AUTH", authCodeSection(e.p, e.gate.TokenURL()))

	code, out := e.run(t, "test-connection")
	if code != exitAborted || !strings.Contains(out, "scimsync authorize") {
		t.Fatalf("test-connection before authorize: exit %d, want %d telling to run scimsync authorize\n%s", code, exitAborted, out)
	}
	if out := e.authorize(t, false); !strings.Contains(out, "authorized: the refresh token is stored in "+e.state+" (encrypted)") {
		t.Fatalf("authorize output:\n%s", out)
	}
	first := e.grant(t)
	if code, out := e.run(t, "status"); code != 0 || !strings.Contains(out, "oauth2AuthorizationCode: authorized") || !strings.Contains(out, "(encrypted)") {
		t.Fatalf("status after authorize: exit %d\n%s", code, out)
	}

	e.guard.ExpireAfter(4)
	if code, out := e.run(t, "sync"); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	if len(e.target.Users()) == 0 {
		t.Fatal("no user was created")
	}
	second := e.grant(t)
	if second.RefreshToken == first.RefreshToken {
		t.Fatal("the refresh token was not rotated")
	}
	st, err := e.p.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// One refresh at the start, one after the access token expired mid-cycle.
	if st.TokenRequests["refresh_token"] != 2 || st.InvalidGrant != 0 {
		t.Fatalf("provider stats %+v; want 2 refreshes and no invalid_grant", st)
	}

	// An admin revokes scimsync's access at the provider.
	if err := e.p.RevokeGrants(context.Background()); err != nil {
		t.Fatal(err)
	}
	// --initial re-reads every object, so even an unchanged tenant makes the cycle talk to the target.
	code, out = e.run(t, "sync", "--initial")
	if code == 0 || !strings.Contains(out, "AuthorizationExpiredOrRevoked") {
		t.Fatalf("sync after revocation: exit %d, want quarantine AuthorizationExpiredOrRevoked\n%s", code, out)
	}
	if code, out := e.run(t, "status"); !strings.Contains(out, "Quarantine: AuthorizationExpiredOrRevoked") || !strings.Contains(out, "invalid_grant") {
		t.Fatalf("status after revocation: exit %d\n%s", code, out)
	}
	msgs := e.mail.messages()
	if len(msgs) != 1 || !bytes.Contains(msgs[0], []byte("AuthorizationExpiredOrRevoked")) || !bytes.Contains(msgs[0], []byte("scimsync authorize --config")) {
		t.Fatalf("want one email naming the reason and scimsync authorize, got %d:\n%s", len(msgs), bytes.Join(msgs, []byte("\n----\n")))
	}
	e.run(t, "logs") // the provisioning logs join the leak check

	if out := e.authorize(t, true); !strings.Contains(out, "the quarantine (AuthorizationExpiredOrRevoked) is lifted") {
		t.Fatalf("re-authorize output:\n%s", out)
	}
	third := e.grant(t)
	if code, out := e.run(t, "sync", "--initial"); code != 0 {
		t.Fatalf("sync after re-authorize: exit %d\n%s", code, out)
	}
	fourth := e.grant(t)

	// Another encryption key cannot read the stored token: the job says so and is quarantined for
	// authorization instead of retrying forever; the token itself is untouched.
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	e.env = append(e.env, "E2E_TOKEN_KEY="+hex.EncodeToString(other))
	if code, out := e.run(t, "sync", "--initial"); code == 0 || !strings.Contains(out, "AuthorizationExpiredOrRevoked") ||
		!strings.Contains(out, "cannot be decrypted with the configured key") {
		t.Fatalf("sync with another key: exit %d\n%s", code, out)
	}
	// status loads no secrets (it cannot try the key itself): it shows the quarantine and its cause.
	if _, out := e.run(t, "status"); !strings.Contains(out, "AuthorizationExpiredOrRevoked") || !strings.Contains(out, "cannot be decrypted") {
		t.Fatalf("status with another key:\n%s", out)
	}
	if e.grant(t).RefreshToken != fourth.RefreshToken {
		t.Fatal("the stored token changed")
	}
	e.checkNoSecrets(t, first.RefreshToken, second.RefreshToken, third.RefreshToken, fourth.RefreshToken)
}

// TestOAuthKillDuringRefresh kills `scimsync sync` with SIGKILL around the refresh that rotates the
// refresh token:
//   - after the provider answered but before scimsync received (and so saved) the answer: the state
//     still holds the previous token, intact. The provider has consumed it, and oidc-provider (like
//     Gong) revokes the grant when a consumed token comes back, so the next run is quarantined
//     AuthorizationExpiredOrRevoked: no OAuth client can keep a token it never received.
//   - after the rotated token was written, while the first SCIM request with the new access token is
//     in flight: the state holds the new token and the next run refreshes with it and succeeds.
func TestOAuthKillDuringRefresh(t *testing.T) {
	e := newOAuthEnv(t, "AUTH")
	rewrite(t, e.cfg, "AUTH", authCodeSection(e.p, e.gate.TokenURL()))
	e.authorize(t, false)
	if code, out := e.run(t, "sync"); code != 0 {
		t.Fatalf("first sync: exit %d\n%s", code, out)
	}

	// After the write: hold the first SCIM request of the next run.
	before := e.grant(t)
	held := e.guard.HoldNext()
	killAt(t, e, func() { <-held })
	after := e.grant(t)
	if after.RefreshToken == before.RefreshToken {
		t.Fatal("killed after the refresh: the rotated refresh token was not saved before the access token was used")
	}
	if code, out := e.run(t, "sync", "--initial"); code != 0 {
		t.Fatalf("sync after a kill past the write: exit %d\n%s", code, out)
	}

	// Between the token response and the write: the gate withholds the provider's answer.
	before = e.grant(t)
	accepted, _ := e.guard.Tokens()
	refreshed := e.gate.HoldNextRefresh()
	killAt(t, e, func() { <-refreshed })
	if got := e.grant(t); got.RefreshToken != before.RefreshToken {
		t.Fatal("killed before the answer arrived, yet the stored refresh token changed")
	}
	if now, _ := e.guard.Tokens(); now != accepted {
		t.Fatal("an access token was used although its refresh never completed")
	}
	code, out := e.run(t, "sync", "--initial")
	if code == 0 || !strings.Contains(out, "AuthorizationExpiredOrRevoked") {
		t.Fatalf("sync after a kill before the write: exit %d, want quarantine AuthorizationExpiredOrRevoked\n%s", code, out)
	}
	e.checkNoSecrets(t, before.RefreshToken, after.RefreshToken)
}

// killAt starts `scimsync sync --initial` (which talks to the target even when nothing changed), waits
// for reached, and kills it with SIGKILL.
func killAt(t *testing.T, e *oauthEnv, reached func()) {
	t.Helper()
	cmd := exec.Command(e.bin, "sync", "--initial", "--config", e.cfg)
	cmd.Env = e.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		reached()
		close(done)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-done:
	case err := <-exited:
		t.Fatalf("sync ended (%v) before the point to kill it at:\n%s", err, out.String())
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	e.record(out.Bytes())
}
