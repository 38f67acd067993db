package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/store"
)

// mailSink is a go-smtp server on 127.0.0.1 that keeps the messages it receives, parsed and raw.
type mailSink struct {
	addr string
	port int
	mu   sync.Mutex
	msgs []*mail.Message
	raw  [][]byte
}

// messages are the raw messages received so far.
func (m *mailSink) messages() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.raw...)
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	m := &mailSink{}
	srv := smtp.NewServer(m)
	srv.Domain = "relay.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr, m.port = ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return m
}

func (m *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

type mailSession struct{ m *mailSink }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.msgs = append(s.m.msgs, msg)
	s.m.raw = append(s.m.raw, raw)
	return nil
}

// subjects are the decoded subjects received so far.
func (m *mailSink) subjects(t *testing.T) []string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, msg := range m.msgs {
		s, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func (m *mailSink) notifyBlock() string {
	host, port, _ := net.SplitHostPort(m.addr)
	return fmt.Sprintf("notify:\n  smtp: {host: %s, port: %s, tls: none}\n  from: scimsync@contoso.example\n  to: [ops@contoso.example]\n", host, port)
}

// alertJob is a job against the emulated tenant (whose token endpoint checks the client secret) and an
// in-process target, with failure emails to a sink; secret is the Graph secret it signs in with.
type alertJob struct {
	bin, cfg, state string
	sink            *mailSink
	secret          string
	// targetToken, when set, replaces the token the target accepts.
	targetToken string
	graph       *graphapi.Server
}

func newAlertJob(t *testing.T) *alertJob {
	t.Helper()
	dir := t.TempDir()
	tenant := graphapi.SampleTenant()
	g := graphapi.StartForTest(t, tenant, graphapi.Options{ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: "right-secret"})
	target := scimserver.New(scimserver.Options{Token: "alert-token"})
	url := target.Start()
	t.Cleanup(target.Close)
	ca := filepath.Join(dir, "ca.pem")
	if err := g.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	a := &alertJob{bin: binary(t), cfg: filepath.Join(dir, "job.yaml"), state: filepath.Join(dir, "state.db"), sink: startMailSink(t), secret: "right-secret", graph: g}
	cfg := fmt.Sprintf("name: alerts\n%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN, concurrency: 2}\nusers: {preset: gong}\nstate: %s\nlogging: {level: warn, format: json}\n%s",
		emulatedSource(g, tenant.ServicePrincipal.ID, ca, "secretEnv: E2E_GRAPH_SECRET"), url, a.state, a.sink.notifyBlock())
	if err := os.WriteFile(a.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *alertJob) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.bin, append(args, "--config", a.cfg)...)
	tok := "alert-token"
	if a.targetToken != "" {
		tok = a.targetToken
	}
	cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET="+a.secret, "E2E_TARGET_TOKEN="+tok)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	if a.secret != "" && strings.Contains(out.String(), a.secret) {
		t.Fatal("the Graph secret appeared in the output")
	}
	return out.String(), code
}

// TestEndToEndSourceCredentialAlert: a rejected Graph secret emails at once (not after the abort
// streak) and once, a cycle that succeeds afterwards sends "resolved", and a job without a success
// for longer than notify.noSuccessAlertAfter says so once.
func TestEndToEndSourceCredentialAlert(t *testing.T) {
	a := newAlertJob(t)
	a.secret = "wrong-secret"
	for i := range 2 {
		if out, code := a.run(t, "sync"); code == 0 {
			t.Fatalf("sync %d with a wrong secret: exit 0\n%s", i, out)
		} else {
			t.Logf("sync %d: exit %d\n%s", i, code, out)
		}
	}
	got := a.sink.subjects(t)
	if len(got) != 1 || got[0] != "[scimsync] alerts: cannot sign in to Microsoft Graph; nothing is synced" {
		t.Fatalf("after two failed cycles: emails %q, want one sign-in email", got)
	}

	a.secret = "right-secret"
	if out, code := a.run(t, "sync"); code != 0 {
		t.Fatalf("sync with the right secret: exit %d\n%s", code, out)
	}
	got = a.sink.subjects(t)
	if len(got) != 2 || got[1] != "[scimsync] alerts: resolved, provisioning works again" {
		t.Fatalf("after a success: emails %q, want a resolved email", got)
	}
	if out, code := a.run(t, "sync"); code != 0 || len(a.sink.subjects(t)) != 2 {
		t.Fatalf("a second success emailed again or failed (exit %d)\n%s", code, out)
	}

	// No success for 25 hours (the record says so), then a failed cycle: the no-success email, once.
	var h map[string]any // the alerts file, as job.health writes it
	raw, err := os.ReadFile(healthPath(a.state))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	h["LastSuccess"] = time.Now().Add(-25 * time.Hour).Format(time.RFC3339Nano)
	raw, _ = json.Marshal(h)
	if err := os.WriteFile(healthPath(a.state), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	a.secret = "wrong-again"
	a.run(t, "sync")
	a.run(t, "sync")
	got = a.sink.subjects(t)
	want := []string{"[scimsync] alerts: cannot sign in to Microsoft Graph; nothing is synced",
		"[scimsync] alerts: no provisioning cycle has succeeded for 1 day"}
	if len(got) != 4 || got[2] != want[0] || got[3] != want[1] {
		t.Fatalf("after 25 hours without success: emails %q, want %q added", got, want)
	}
}

// TestEndToEndNotifyTest: `notify --test` reaches the relay; with the relay down it fails with exit 3
// and says why.
func TestEndToEndNotifyTest(t *testing.T) {
	a := newAlertJob(t)
	out, code := a.run(t, "notify", "--test")
	if code != 0 || !strings.Contains(out, "Test email sent to ops@contoso.example") {
		t.Fatalf("notify --test: exit %d\n%s", code, out)
	}
	if got := a.sink.subjects(t); len(got) != 1 || got[0] != "[scimsync] alerts: test email" {
		t.Fatalf("emails %q", got)
	}
	if out, code := a.run(t, "notify"); code != 2 || !strings.Contains(out, "--test") {
		t.Fatalf("notify without --test: exit %d\n%s", code, out)
	}
	dead := freeAddr(t)
	_, port, _ := net.SplitHostPort(dead)
	cfg, _ := os.ReadFile(a.cfg)
	_, oldPort, _ := net.SplitHostPort(a.sink.addr)
	if err := os.WriteFile(a.cfg, bytes.Replace(cfg, []byte("port: "+oldPort), []byte("port: "+port), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := a.run(t, "notify", "--test"); code != 3 || !strings.Contains(out, "the test email was not sent") {
		t.Fatalf("notify --test with the relay down: exit %d\n%s", code, out)
	}
}

// TestEndToEndQuarantineExitCode: a cycle the target refuses (wrong token) quarantines the job and
// exits 1, as docs/commands.md says of a quarantine; the quarantine email goes out.
func TestEndToEndQuarantineExitCode(t *testing.T) {
	a := newAlertJob(t)
	a.targetToken = "revoked-token"
	out, code := a.run(t, "sync")
	if code != exitFailures || !strings.Contains(out, "the job is quarantined (EncounteredQuarantineException)") {
		t.Fatalf("sync with a refused target token: exit %d, want 1\n%s", code, out)
	}
	if got := a.sink.subjects(t); len(got) != 1 || !strings.Contains(got[0], "provisioning paused") {
		t.Errorf("emails %q, want the quarantine email", got)
	}
}

// TestEndToEndLogFlagsAndNoColor: --log-format and --log-level override the configuration, a bad value
// is exit 2, and NO_COLOR removes the colour codes from console logs.
func TestEndToEndLogFlagsAndNoColor(t *testing.T) {
	a := newAlertJob(t)
	a.secret = "wrong-secret" // the cycle fails and logs an error line
	out, _ := a.run(t, "sync", "--log-format", "console")
	if !strings.Contains(out, "\x1b[") {
		t.Errorf("console logs without NO_COLOR have no colour:\n%s", out)
	}
	t.Setenv("NO_COLOR", "1")
	out, _ = a.run(t, "sync", "--log-format", "console")
	if strings.Contains(out, "\x1b[") || !strings.Contains(out, "ERROR") {
		t.Errorf("NO_COLOR=1: colour codes or no ERROR level:\n%s", out)
	}
	out, _ = a.run(t, "sync", "--log-format", "json", "--log-level", "error")
	if !strings.Contains(out, `"level":"error"`) || strings.Contains(out, `"level":"warn"`) {
		t.Errorf("--log-format json --log-level error:\n%s", out)
	}
	for _, args := range [][]string{{"sync", "--log-format", "xml"}, {"sync", "--log-level", "loud"}} {
		if out, code := a.run(t, args...); code != exitConfig || !strings.Contains(out, "must be") {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, out)
		}
	}
}

// TestEndToEndProvisionGuest: `provision --user` with a guest's userPrincipalName (#EXT#) reads,
// processes and reports that user, and does not call it not found.
func TestEndToEndProvisionGuest(t *testing.T) {
	a := newAlertJob(t)
	out, code := a.run(t, "provision", "--user", "taylor.reed_fabrikam.example#EXT#@contoso.onmicrosoft.example")
	t.Logf("%s", out)
	if code != 0 || strings.Contains(strings.ToLower(out), "not found") || !strings.Contains(out, "result: Create Success") ||
		!strings.Contains(out, `userName: "" -> "taylor.reed@fabrikam.example"`) {
		t.Fatalf("provision of a guest: exit %d\n%s", code, out)
	}
	// Asked for in another case, it is the same user (now matched, nothing to change).
	if out, code := a.run(t, "provision", "--user", "Taylor.Reed_fabrikam.example#ext#@contoso.onmicrosoft.example"); code != 0 ||
		strings.Contains(strings.ToLower(out), "not found") {
		t.Fatalf("provision of a guest, other case: exit %d\n%s", code, out)
	}
}

// TestEndToEndDryRunShowsThresholdHold: when a change of scope would disable more users than the
// deletion threshold allows, `sync --dry-run` says that the cycle would hold them, and holds nothing.
func TestEndToEndDryRunShowsThresholdHold(t *testing.T) {
	a := newAlertJob(t)
	if out, code := a.run(t, "sync"); code != 0 {
		t.Fatalf("first sync: exit %d\n%s", code, out)
	}
	cfg, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	narrowed := strings.Replace(string(cfg), "users: {preset: gong}",
		"deletionThreshold: 2\nusers:\n  preset: gong\n  scoping:\n    - clauses:\n        - {attribute: department, operator: EQUALS, value: NoSuchDepartment}", 1)
	if err := os.WriteFile(a.cfg, []byte(narrowed), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := a.run(t, "sync", "--dry-run")
	t.Logf("%s", out)
	if code != 0 || !strings.Contains(out, "deletion threshold:") || !strings.Contains(out, "reach the threshold of 2") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if out, _ := a.run(t, "status"); strings.Contains(out, "staged") || strings.Contains(out, "Quarantine") {
		t.Errorf("the dry run staged or quarantined:\n%s", out)
	}
}

// TestEndToEndSignInQuarantineOneEmail: one cause, one email. A Graph sign-in failure that lasts long
// enough to quarantine the job (three aborted cycles over more than two hours) sends the sign-in email
// only, not a quarantine email too. When the cause changes (the secret is fixed, then Graph refuses the
// reads), the quarantine email goes out; the recovery sends one resolved email naming both.
func TestEndToEndSignInQuarantineOneEmail(t *testing.T) {
	a := newAlertJob(t)
	a.secret = "wrong-secret"
	a.run(t, "sync")
	a.run(t, "sync")
	// The streak began three hours ago: the next aborted cycle quarantines the job (CycleAborted).
	st, err := store.Open(a.state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	streak, err := st.AbortStreak()
	if err == nil && streak.Count == 2 {
		streak.Since = streak.Since.Add(-3 * time.Hour)
		err = st.SetAbortStreak(streak)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil || streak.Count != 2 {
		t.Fatalf("abort streak after two failed sign-ins: %+v, %v", streak, err)
	}
	out, code := a.run(t, "sync")
	if code != exitAborted || !strings.Contains(out, "QUARANTINED: CycleAborted") {
		t.Fatalf("third failed sign-in: exit %d, want the CycleAborted quarantine\n%s", code, out)
	}
	signIn := "[scimsync] alerts: cannot sign in to Microsoft Graph; nothing is synced"
	if got := a.sink.subjects(t); len(got) != 1 || got[0] != signIn {
		t.Fatalf("after the quarantine for a failed sign-in: emails %q, want only the sign-in email", got)
	}

	// Another cause: the secret works, but Graph refuses the reads.
	a.secret = "right-secret"
	a.graph.InjectFaults(graphapi.Fault{PathContains: "/v1.0/", Status: 400, Code: "BadRequest", Count: 1000})
	if out, code := a.run(t, "sync"); code == 0 {
		t.Fatalf("sync with Graph refusing reads: exit 0\n%s", out)
	}
	got := a.sink.subjects(t)
	if len(got) != 2 || !strings.Contains(got[1], "provisioning paused") {
		t.Fatalf("after a quarantine with another cause: emails %q, want the quarantine email added", got)
	}

	a.graph.ClearFaults()
	if out, code := a.run(t, "sync"); code != 0 {
		t.Fatalf("sync after recovery: exit %d\n%s", code, out)
	}
	got = a.sink.subjects(t)
	if len(got) != 3 || got[2] != "[scimsync] alerts: resolved, provisioning works again" {
		t.Fatalf("after recovery: emails %q, want one resolved email", got)
	}
	body := string(a.sink.messages()[2])
	for _, want := range []string{"sign in to Microsoft Graph", "paused"} {
		if !strings.Contains(body, want) {
			t.Errorf("the resolved email does not name %q:\n%s", want, body)
		}
	}
}
