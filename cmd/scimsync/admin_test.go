package main

// In-process tests of the admin commands (status, logs, restart, allow-deletes) against a state file
// prepared with the store package, as an administrator would meet it after failures.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
)

const adminToken = "admin-target-token"

// adminEnv is a job configuration and its state file.
type adminEnv struct {
	dir, cfg, state string
}

// newAdminEnv writes a configuration whose target is targetURL (nothing listens there unless the
// test starts a server: status, logs and restart never contact it).
func newAdminEnv(t *testing.T, targetURL string) *adminEnv {
	t.Helper()
	e := &adminEnv{dir: t.TempDir()}
	write := func(name, content string) string {
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := write("graph-secret", "admin-graph-secret\n")
	token := write("target-token", adminToken+"\n")
	e.state = filepath.Join(e.dir, "state.db")
	e.cfg = write("job.yaml", fmt.Sprintf(`name: admin
source:
  tenantId: 11111111-1111-1111-1111-111111111111
  clientId: 22222222-2222-2222-2222-222222222222
  credential: {type: clientSecret, secretFile: %s}
  servicePrincipalId: 33333333-3333-3333-3333-333333333333
target:
  url: %s
  tokenFile: %s
  compatibility: aadOptscim062020
users:
  preset: gong
groups:
  enabled: false
deletionThreshold: 2
state: %s
logging: {level: error, format: json}
`, secret, targetURL, token, e.state))
	return e
}

// prepare opens the state file for writing, runs fn and closes it again.
func (e *adminEnv) prepare(t *testing.T, fn func(st *store.Store)) {
	t.Helper()
	st, err := store.Open(e.state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fn(st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// cli runs one scimsync command in process and returns its standard output.
func (e *adminEnv) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append(args, "--config", e.cfg))
	err := root.ExecuteContext(ctx)
	t.Logf("scimsync %s (err %v):\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	return out.String(), err
}

// cliIn is cli with stdin.
func (e *adminEnv) cliIn(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--config", e.cfg))
	err := root.ExecuteContext(ctx)
	t.Logf("scimsync %s (err %v):\n%s", strings.Join(args, " "), err, out.String())
	return out.String(), err
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q", l)
		}
	}
}

var adminT0 = time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC)

// failedJob fills a state like the one a few cycles leave behind: three linked users, one escrow,
// two staged disables, a TooManyDeletes quarantine, two cycles and their provisioning log.
func failedJob(t *testing.T, st *store.Store, qBegan time.Time) {
	t.Helper()
	must(t, st.PutLinks(
		store.Link{Kind: store.KindUser, SourceID: "src-ann", TargetID: "t-ann", Managed: true, Values: map[string]any{"userName": "ann@contoso.com", "active": true}},
		store.Link{Kind: store.KindUser, SourceID: "src-bob", TargetID: "t-bob", Managed: true, Values: map[string]any{"userName": "bob@contoso.com", "active": true}},
		store.Link{Kind: store.KindUser, SourceID: "src-cy", TargetID: "t-cy", Managed: true, Values: map[string]any{"userName": "cy@contoso.com", "active": true}},
	))
	must(t, st.SetWatermark("users", "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc"))
	must(t, st.PutEscrow(store.Escrow{Kind: store.KindUser, SourceID: "src-fay", Op: "create", Attempts: 3, FirstFailed: adminT0,
		LastFailed: adminT0.Add(2 * time.Hour), NextRetry: adminT0.Add(2*time.Hour + 40*time.Minute), ErrorClass: "InternalServerError",
		Error: "create user fay@contoso.com: POST /Users: 500 Internal Server Error"}))
	must(t, st.StageOps(
		store.StagedOp{Kind: store.KindUser, SourceID: "src-bob", TargetID: "t-bob", Op: "disable", StagedAt: adminT0.Add(2 * time.Hour)},
		store.StagedOp{Kind: store.KindUser, SourceID: "src-cy", TargetID: "t-cy", Op: "disable", StagedAt: adminT0.Add(2 * time.Hour)},
	))
	must(t, st.SetQuarantine(store.Quarantine{Reason: "TooManyDeletes", SeriesBegan: qBegan, CurrentBegan: qBegan,
		NextAttempt: qBegan.Add(6 * time.Hour), Error: "deletions held back by the accidental-deletion threshold"}))
	must(t, st.AddCycle(store.Cycle{ID: "cycle-1", Kind: "initial", Started: adminT0, Finished: adminT0.Add(1500 * time.Millisecond),
		Created: 3, Failed: 1}))
	must(t, st.AddCycle(store.Cycle{ID: "cycle-2", Kind: "incremental", Started: adminT0.Add(2 * time.Hour),
		Finished: adminT0.Add(2*time.Hour + 200*time.Millisecond), Skipped: 2, Failed: 1, Quarantined: true}))
	steps := func(last store.Step) []store.Step {
		return []store.Step{{Name: "import", Status: "success"}, {Name: "scoping", Status: "success"}, {Name: "matching", Status: "success"}, last}
	}
	must(t, st.AppendLog(
		store.LogEntry{ID: "e1", CycleID: "cycle-1", Time: adminT0, Kind: store.KindUser, SourceID: "src-ann", TargetID: "t-ann",
			Identity: "ann@contoso.com", Action: "Create", Status: "Success", Steps: steps(store.Step{Name: "export", Status: "success"}),
			Modified: []store.Property{{Name: "userName", New: "ann@contoso.com"}, {Name: "externalId", New: "[Redact]"}}},
		store.LogEntry{ID: "e2", CycleID: "cycle-1", Time: adminT0, Kind: store.KindUser, SourceID: "src-fay",
			Identity: "fay@contoso.com", Action: "Create", Status: "Failure", ErrorCode: "InternalServerError",
			Error: "create user fay@contoso.com: POST /Users: 500 Internal Server Error", Steps: steps(store.Step{Name: "export", Status: "failure"})},
		store.LogEntry{ID: "e3", CycleID: "cycle-2", Time: adminT0.Add(2 * time.Hour), Kind: store.KindUser, SourceID: "src-bob", TargetID: "t-bob",
			Identity: "bob@contoso.com", Action: "StagedDelete", Status: "Skipped",
			Steps:    steps(store.Step{Name: "processing", Status: "skipped", Description: "StagedDelete: held"}),
			Modified: []store.Property{{Name: "active", Old: "true", New: "false"}}},
		store.LogEntry{ID: "e4", CycleID: "cycle-2", Time: adminT0.Add(2 * time.Hour), Kind: store.KindUser, SourceID: "src-cy", TargetID: "t-cy",
			Identity: "cy@contoso.com", Action: "StagedDelete", Status: "Skipped",
			Steps:    steps(store.Step{Name: "processing", Status: "skipped", Description: "StagedDelete: held"}),
			Modified: []store.Property{{Name: "active", Old: "true", New: "false"}}},
	))
}

func TestAdminStatus(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	began := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	learned := time.Date(2026, 3, 2, 9, 6, 0, 0, time.UTC)
	e.prepare(t, func(st *store.Store) {
		failedJob(t, st, began)
		must(t, st.SetTargetDialect(store.TargetDialect{TargetURL: "http://127.0.0.1:9/scim", ElementAdds: true, LearnedAt: learned}))
	})
	out, err := e.cli(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, out,
		"job        admin\n",
		"config     "+e.cfg+"\n",
		"state      "+e.state+"\n",
		"status     Quarantine: TooManyDeletes since "+began.Format(time.RFC3339)+", next attempt "+began.Add(6*time.Hour).Format(time.RFC3339)+"\n",
		"           cause: deletions held back by the accidental-deletion threshold\n",
		"next cycle incremental\n",
		"linked     3 users, 0 groups\n",
		"dialect    filtered adds not supported → element form (learned 2026-03-02T09:06:00Z from http://127.0.0.1:9/scim)\n",
		"escrows    1\n",
		"           user src-fay: create after 3 attempts (InternalServerError), next retry 2026-03-02T11:45:00Z\n",
		"staged     2 disables/deletes held by the deletion threshold",
		"scimsync allow-deletes",
		"last cycles:\n",
	)
	// The cycle table: newest first.
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "2026-03-02T") {
			rows = append(rows, strings.Join(strings.Fields(l), " "))
		}
	}
	want := []string{
		"2026-03-02T11:05:00Z incremental 200ms 0 0 0 0 0 1 quarantined",
		"2026-03-02T09:05:00Z initial 1.5s 3 0 0 0 0 1",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("cycle rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}

	// After 28 days in quarantine the job shows as stopped.
	e2 := newAdminEnv(t, "http://127.0.0.1:9/scim")
	old := time.Now().UTC().Add(-29 * 24 * time.Hour).Truncate(time.Second)
	e2.prepare(t, func(st *store.Store) {
		must(t, st.SetQuarantine(store.Quarantine{Reason: "EncounteredQuarantineException", SeriesBegan: old, CurrentBegan: old.Add(27 * 24 * time.Hour),
			Error: "PATCH /Users/t-ann: 401: invalid token"}))
	})
	out, err = e2.cli(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, out,
		"status     Stopped: quarantined (EncounteredQuarantineException) since "+old.Format(time.RFC3339)+"; run `scimsync restart` after fixing the cause\n",
		"           cause: PATCH /Users/t-ann: 401: invalid token\n",
		"next cycle initial (no watermark)\n",
		"escrows    0\n",
		"cycles     none yet\n",
	)
	if strings.Contains(out, "staged ") {
		t.Error("status shows staged operations that do not exist")
	}
	if strings.Contains(out, "dialect") {
		t.Error("status shows a dialect that was never learned")
	}
}

func TestAdminLogs(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, adminT0.Add(2*time.Hour)) })

	table := func(args ...string) [][]string {
		t.Helper()
		out, err := e.cli(t, append([]string{"logs"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if h := strings.Fields(lines[0]); strings.Join(h, " ") != "time cycle kind action status identity target id details" {
			t.Fatalf("header %q", lines[0])
		}
		var rows [][]string
		for _, l := range lines[1:] {
			rows = append(rows, strings.Fields(l))
		}
		return rows
	}
	rows := table()
	if len(rows) != 4 {
		t.Fatalf("logs shows %d rows, want 4", len(rows))
	}
	// Newest first: the staged deletes of cycle-2, then cycle-1.
	for i, want := range []string{"cycle-2", "cycle-2", "cycle-1", "cycle-1"} {
		if rows[i][1] != want {
			t.Errorf("row %d cycle %s, want %s", i, rows[i][1], want)
		}
	}
	rows = table("--status", "failure")
	if len(rows) != 1 || strings.Join(rows[0][:6], " ") != "2026-03-02T09:05:00Z cycle-1 user Create Failure fay@contoso.com" ||
		!strings.Contains(strings.Join(rows[0], " "), "InternalServerError: create user fay@contoso.com: POST /Users: 500 Internal Server Error") {
		t.Errorf("--status failure rows = %q", rows)
	}
	rows = table("--action", "StagedDelete")
	if len(rows) != 2 || rows[0][3] != "StagedDelete" || rows[0][4] != "Skipped" || !strings.Contains(strings.Join(rows[0], " "), `active: "true" -> "false"`) {
		t.Errorf("--action StagedDelete rows = %q", rows)
	}
	rows = table("--object", "ANN")
	if len(rows) != 1 || rows[0][5] != "ann@contoso.com" || rows[0][6] != "t-ann" ||
		!strings.Contains(strings.Join(rows[0], " "), `externalId: "" -> "[Redact]"`) {
		t.Errorf("--object ANN rows = %q", rows)
	}
	if rows = table("--object", "t-cy"); len(rows) != 1 || rows[0][5] != "cy@contoso.com" {
		t.Errorf("--object t-cy rows = %q", rows)
	}
	if rows = table("--cycle", "cycle-1"); len(rows) != 2 {
		t.Errorf("--cycle cycle-1 rows = %q", rows)
	}
	if rows = table("--since", "2026-03-02T10:00:00Z"); len(rows) != 2 || rows[0][1] != "cycle-2" {
		t.Errorf("--since rows = %q", rows)
	}
	if rows = table("--until", "2026-03-02T10:00:00Z", "--status", "Success"); len(rows) != 1 || rows[0][5] != "ann@contoso.com" {
		t.Errorf("--until rows = %q", rows)
	}
	out, err := e.cli(t, "logs", "--object", "nobody")
	if err != nil || !strings.Contains(out, "(no entries)") {
		t.Errorf("no match: %q, %v", out, err)
	}

	// JSON lines carry the whole entry: steps and modified properties.
	out, err = e.cli(t, "logs", "--json", "--action", "StagedDelete")
	if err != nil {
		t.Fatal(err)
	}
	// Graph's provisioningObjectSummary casing, decoded into a shape written here, not the code's.
	type summary struct {
		ActivityDateTime       time.Time `json:"activityDateTime"`
		CycleID                string    `json:"cycleId"`
		ProvisioningAction     string    `json:"provisioningAction"`
		ProvisioningStatusInfo struct {
			Status string `json:"status"`
		} `json:"provisioningStatusInfo"`
		ProvisioningSteps []struct {
			Name, ProvisioningStepType string
		} `json:"provisioningSteps"`
		ModifiedProperties []struct {
			DisplayName, OldValue, NewValue string
		} `json:"modifiedProperties"`
		SourceIdentity struct {
			ID, IdentityType string
		} `json:"sourceIdentity"`
	}
	var got []summary
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var raw map[string]json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("--json output is not JSON lines: %v\n%s", err, out)
		}
		for _, k := range []string{"id", "activityDateTime", "cycleId", "changeId", "durationInMilliseconds", "provisioningAction",
			"provisioningStatusInfo", "provisioningSteps", "modifiedProperties", "sourceIdentity", "targetIdentity"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("--json entry lacks %s", k)
			}
		}
		b, _ := json.Marshal(raw)
		var le summary
		if err := json.Unmarshal(b, &le); err != nil {
			t.Fatal(err)
		}
		got = append(got, le)
	}
	if len(got) != 2 {
		t.Fatalf("--json: %d entries, want 2", len(got))
	}
	for _, le := range got {
		if le.ProvisioningAction != "stagedDelete" || le.CycleID != "cycle-2" || le.ProvisioningStatusInfo.Status != "skipped" ||
			len(le.ProvisioningSteps) != 4 || le.ProvisioningSteps[3].Name != "processing" ||
			len(le.ModifiedProperties) != 1 || le.ModifiedProperties[0].DisplayName != "active" ||
			le.ModifiedProperties[0].OldValue != "true" || le.ModifiedProperties[0].NewValue != "false" ||
			le.SourceIdentity.IdentityType != "User" || !le.ActivityDateTime.Equal(adminT0.Add(2*time.Hour)) {
			t.Errorf("--json entry %+v", le)
		}
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("--json should print one entry per line:\n%s", out)
	}
}

func TestAdminRestart(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, adminT0.Add(2*time.Hour)) })
	out, err := e.cli(t, "restart")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, out, "restarted job admin: watermark, escrows, quarantine and staged deletions cleared; 3 user and 0 group links kept; the next cycle is an initial one\n")
	e.prepare(t, func(st *store.Store) {
		q, _ := st.Quarantine()
		es, _ := st.Escrows()
		ops, _ := st.StagedOps()
		wm, _ := st.Watermark("users")
		n, _ := st.CountLinks(store.KindUser)
		if q != nil || len(es) != 0 || len(ops) != 0 || wm != "" || n != 3 {
			t.Errorf("after restart: quarantine %+v, escrows %d, staged %d, watermark %q, links %d", q, len(es), len(ops), wm, n)
		}
	})
	out, err = e.cli(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, out, "status     Active\n", "next cycle initial (no watermark)\n", "escrows    0\n")
}

func TestAdminAllowDeletes(t *testing.T) {
	srv := scimserver.New(scimserver.Options{Token: adminToken})
	url := srv.Start()
	t.Cleanup(srv.Close)
	for _, u := range []string{"ann", "bob", "cy"} {
		must(t, srv.Seed(scimclient.Resource{"id": "t-" + u, "userName": u + "@contoso.com", "active": true}))
	}
	e := newAdminEnv(t, url)
	e.prepare(t, func(st *store.Store) { failedJob(t, st, adminT0.Add(2*time.Hour)) })
	// Without a terminal and without --yes: the list, a refusal naming --yes, nothing sent.
	out, err := e.cliIn(t, "yes\n", "allow-deletes")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitConfig || !strings.Contains(err.Error(), "allow-deletes --yes") {
		t.Fatalf("allow-deletes without a terminal: %v, want exit 2 naming --yes", err)
	}
	wantLines(t, out, "2 operation(s) held by the deletion threshold:\n", "would be disabled in the target (active=false)")
	// At a terminal, anything but "yes" sends nothing.
	defer func(f func(io.Reader) bool) { stdinIsTerminal = f }(stdinIsTerminal)
	stdinIsTerminal = func(io.Reader) bool { return true }
	_, err = e.cliIn(t, "no\n", "allow-deletes")
	if !errors.Is(err, errNotConfirmed) || srv.TotalRequests() != 0 {
		t.Fatalf("answer no: %v, %d requests", err, srv.TotalRequests())
	}
	out, err = e.cliIn(t, "yes\n", "allow-deletes")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, out, "Type yes to continue", "applied 2 staged operation(s), 0 failed\n")
	if reqs := srv.Requests(); reqs["PATCH /Users/{id}"] != 2 || srv.TotalRequests() != 2 {
		t.Errorf("allow-deletes sent %v, want exactly 2 PATCHes", reqs)
	}
	for id, want := range map[string]any{"t-ann": true, "t-bob": false, "t-cy": false} {
		if got := srv.User(id)["active"]; got != want {
			t.Errorf("%s active = %v, want %v", id, got, want)
		}
	}
	e.prepare(t, func(st *store.Store) {
		q, _ := st.Quarantine()
		ops, _ := st.StagedOps()
		if q != nil || len(ops) != 0 {
			t.Errorf("after allow-deletes: quarantine %+v, staged %+v", q, ops)
		}
		es, _ := st.Escrows()
		if len(es) != 1 {
			t.Errorf("allow-deletes touched the escrows: %+v", es)
		}
		logs, _ := st.QueryLog(store.LogQuery{Action: "Disable"})
		if len(logs) != 2 {
			t.Errorf("allow-deletes logged %d disables, want 2", len(logs))
		}
	})
	out, err = e.cli(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, out, "status     Active\n")
	if strings.Contains(out, "staged ") {
		t.Error("status still shows staged operations")
	}
	// Nothing left: a second run applies nothing and sends nothing.
	srv.ResetCounters()
	out, err = e.cli(t, "allow-deletes")
	if err != nil || !strings.Contains(out, "applied 0 staged operation(s), 0 failed") || srv.TotalRequests() != 0 {
		t.Errorf("second allow-deletes: %q, %v, %d requests", out, err, srv.TotalRequests())
	}
}

// TestAdminWithoutSecrets: status, logs and validate --offline read no secret, so an admin can run them
// without the service's environment or secret files; validate without --offline still checks them.
func TestAdminWithoutSecrets(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, adminT0.Add(2*time.Hour)) })
	for _, f := range []string{"graph-secret", "target-token"} {
		if err := os.Remove(filepath.Join(e.dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"status"}, {"logs"}, {"validate", "--offline"}} {
		if _, err := e.cli(t, args...); err != nil {
			t.Errorf("%v without the secret files: %v", args, err)
		}
	}
	_, err := e.cli(t, "validate")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitConfig || !strings.Contains(err.Error(), "cannot read the secret file") {
		t.Errorf("validate without the secret files: %v, want exit 2 naming the secret file", err)
	}
}

// TestAdminFlagEnums: a flag value outside its set is exit 2 with the allowed values named.
func TestAdminFlagEnums(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, adminT0.Add(2*time.Hour)) })
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "--status", "failed"}, `--status "failed": must be one of Success, Failure, Skipped, Warning`},
		{[]string{"logs", "--action", "remove"}, `--action "remove": must be one of Create, Update, Disable, Delete, StagedDelete, Other`},
	} {
		_, err := e.cli(t, c.args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitConfig || err.Error() != c.want {
			t.Errorf("%v: %v, want exit 2 with %q", c.args, err, c.want)
		}
	}
	// Any case is accepted and means the same.
	if _, err := e.cli(t, "logs", "--status", "failure"); err != nil {
		t.Errorf("logs --status failure: %v", err)
	}
}
