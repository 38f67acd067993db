package notify

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedNow is the clock of every golden file.
var fixedNow = time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)

func failures(n int) []ObjectFailure {
	out := make([]ObjectFailure, n)
	for i := range out {
		out[i] = ObjectFailure{
			Identity:  fmt.Sprintf("user%02d@contoso.com", i+1),
			SourceID:  fmt.Sprintf("6f1c2b3a-0000-4000-8000-0000000000%02d", i+1),
			Op:        "Update",
			ErrorCode: "SystemForCrossDomainIdentityManagementServiceIncompatible",
			Error:     "400 Bad Request: attribute 'emails' is required\nby the target",
		}
	}
	return out
}

// goldenEvents are the emails the golden files pin down, one per kind and advice.
func goldenEvents() map[string]Event {
	base := Event{
		Job:        "gong",
		Host:       "sync01.example.com",
		ConfigPath: "/etc/scimsync/gong.yaml",
		StatePath:  "/var/lib/scimsync/gong.db",
		Now:        fixedNow,
	}
	credentials := base
	credentials.Kind = QuarantineEntered
	credentials.Reason = ReasonQuarantineException
	credentials.ReasonText = "The target rejected the credentials: 401 Unauthorized from https://api.gong.io/v2/scim/Users"
	credentials.Since = fixedNow.Add(-5 * time.Hour)
	credentials.NextAttempt = fixedNow.Add(time.Hour)
	credentials.Failures = []ObjectFailure{{
		Identity: "alice@contoso.com", SourceID: "0a1b2c3d-1111-4222-8333-444455556666", Op: "Create",
		ErrorCode: "ScimUnauthorized", Error: "401 Unauthorized: invalid bearer token",
	}}

	authorization := base
	authorization.Kind = QuarantineEntered
	authorization.Reason = ReasonAuthorization
	authorization.ReasonText = "authorization expired or revoked: GET /Users: token: authorization expired or revoked: invalid_grant (HTTP 400): grant request is invalid"
	authorization.Since = fixedNow.Add(-time.Hour)
	authorization.NextAttempt = fixedNow.Add(5 * time.Hour)

	escrow := base
	escrow.Kind = QuarantineEntered
	escrow.Reason = ReasonEscrowProportion
	escrow.ReasonText = "More than 40% of provisioning events failed (5,012 of 9,870)."
	escrow.Since = fixedNow.Add(-26*time.Hour - 30*time.Minute)
	escrow.NextAttempt = fixedNow.Add(21*time.Hour + 55*time.Minute)
	escrow.Failures = failures(12)

	changed := base
	changed.Kind = QuarantineReasonChanged
	changed.Reason = ReasonEscrowProportion
	changed.PreviousReason = ReasonQuarantineException
	changed.ReasonText = "More than 40% of provisioning events failed (5,012 of 9,870)."
	changed.Since = fixedNow.Add(-3 * 24 * time.Hour)
	changed.NextAttempt = fixedNow.Add(10 * time.Hour)
	changed.Failures = failures(3)
	changed.TotalFailures = 5012

	deletes := base
	deletes.Kind = DeletionThreshold
	deletes.Reason = ReasonTooManyDeletes
	deletes.ReasonText = "612 users and groups left the scope in one cycle."
	deletes.Since = fixedNow.Add(-2 * time.Minute)
	deletes.NextAttempt = fixedNow.Add(38 * time.Minute)
	deletes.Staged = 612
	deletes.Threshold = 500
	deletes.Held = []HeldObject{
		{Identity: "carol@contoso.com", Kind: "user", SourceID: "1d2e3f40-1111-4222-8333-444455556666", Op: "disable", Unmanage: true},
		{Identity: "dave@contoso.com", Kind: "user", SourceID: "2d2e3f40-1111-4222-8333-444455556666", Op: "delete"},
		{Identity: "Sales EMEA", Kind: "group", SourceID: "3d2e3f40-1111-4222-8333-444455556666", Op: "delete"},
	}

	stopped := base
	stopped.Kind = JobStopped
	stopped.Reason = ReasonQuarantineException
	stopped.ReasonText = "The target rejected the credentials: 401 Unauthorized."
	stopped.Since = fixedNow.Add(-28 * 24 * time.Hour)

	aborted := base
	aborted.Kind = QuarantineEntered
	aborted.Reason = ReasonCycleAborted
	aborted.ReasonText = "4 cycles in a row since Mon, 02 Mar 2026 07:40 UTC could not run; last error: read users: Get https://graph.microsoft.com/v1.0/users/delta: dial tcp: i/o timeout"
	aborted.Since = fixedNow.Add(-2 * time.Minute)
	aborted.NextAttempt = fixedNow.Add(6*time.Hour - 2*time.Minute)

	damaged := base
	damaged.Kind = StateDamaged
	damaged.ReasonText = "state file /var/lib/scimsync/gong.db is damaged: anchor user/0a1b2c3d: unknown anchor record version 9"
	damaged.Since = fixedNow

	source := base
	source.Kind = SourceCredential
	source.Reason = "AADSTS7000222"
	source.ReasonText = "AADSTS7000222: The provided client secret keys for app '1f0e...' are expired."
	source.Since = fixedNow.Add(-10 * time.Minute)

	stale := base
	stale.Kind = NoRecentSuccess
	stale.StaleAfter = 24 * time.Hour
	stale.LastSuccess = fixedNow.Add(-25 * time.Hour)
	stale.ReasonText = "read users: Get https://graph.microsoft.com/v1.0/users/delta: dial tcp: i/o timeout"

	resolved := base
	resolved.Kind = Resolved
	resolved.Resolves = []string{"cannot sign in to Microsoft Graph", "no provisioning cycle had succeeded for 1 day"}

	test := base
	test.Kind = Test

	return map[string]Event{
		"source_credential":         source,
		"no_recent_success":         stale,
		"resolved":                  resolved,
		"test":                      test,
		"quarantine_aborted":        aborted,
		"state_damaged":             damaged,
		"quarantine_credentials":    credentials,
		"quarantine_authorization":  authorization,
		"quarantine_escrow":         escrow,
		"quarantine_reason_changed": changed,
		"deletion_threshold":        deletes,
		"job_stopped":               stopped,
	}
}

// goldenText is how a golden file stores an email: the subject, a blank line, the body.
func goldenText(subject, body string) string { return "Subject: " + subject + "\n\n" + body }

func TestRenderGolden(t *testing.T) {
	for name, e := range goldenEvents() {
		t.Run(name, func(t *testing.T) {
			subject, body, err := Render(e)
			if err != nil {
				t.Fatal(err)
			}
			got := goldenText(subject, body)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./notify -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendered email (go test ./notify -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestRenderGroupsIdenticalFailures: twelve objects failing with the same error are one group that
// names five of them; a different error is its own group, and the larger group comes first.
func TestRenderGroupsIdenticalFailures(t *testing.T) {
	e := goldenEvents()["quarantine_escrow"]
	e.Failures = append(e.Failures, ObjectFailure{Identity: "bob@contoso.com", Op: "Create", ErrorCode: "Conflict", Error: "409 userName exists"})
	e.Failures[3].Error = "400 Bad Request: attribute 'title' is too long"
	_, body, err := Render(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Failing objects: 13, 2 different errors", "12 × Update failed with SystemForCrossDomainIdentityManagementServiceIncompatible\n      for example: 400 Bad Request: attribute 'emails' is required by the target",
		"user05@contoso.com", "... and 7 more", "1 × Create failed with Conflict\n      409 userName exists", "bob@contoso.com"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	if strings.Contains(body, "user06@contoso.com") {
		t.Error("body lists a sixth object of one group")
	}
	if strings.Index(body, "12 ×") > strings.Index(body, "1 × Create") {
		t.Error("the larger group is not first")
	}
}

// TestRenderHeldList: the deletion-threshold email lists the first MaxHeld held operations with their
// effect, then counts the rest.
func TestRenderHeldList(t *testing.T) {
	e := goldenEvents()["deletion_threshold"]
	e.Held = nil
	for i := range 60 {
		h := HeldObject{Identity: fmt.Sprintf("u%02d@contoso.com", i), Kind: "user", Op: "disable"}
		if i == 1 {
			h.Op = "delete"
		}
		e.Held = append(e.Held, h)
	}
	e.Staged = 60
	_, body, err := Render(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"user u00@contoso.com\n      would be disabled in the target (active=false)",
		"user u01@contoso.com\n      would be deleted from the target", "u49@contoso.com", "... and 10 more."} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	if strings.Contains(body, "u50@contoso.com") {
		t.Error("body lists a 51st held operation")
	}
}

func TestRenderAdvice(t *testing.T) {
	ev := goldenEvents()
	cases := []struct {
		name string
		want []string
	}{
		{"quarantine_credentials", []string{"Check the target token", "sudo -u scimsync scimsync sync --config /etc/scimsync/gong.yaml", "sudo -u scimsync scimsync restart --config /etc/scimsync/gong.yaml", "lifts the quarantine"}},
		{"deletion_threshold", []string{"sudo -u scimsync scimsync logs --config /etc/scimsync/gong.yaml --status Skipped --action StagedDelete", "sudo -u scimsync scimsync allow-deletes --config /etc/scimsync/gong.yaml", "apply the 612 held operations", "scimsync restart"}},
		{"job_stopped", []string{"stopped after 28 days in quarantine", "sudo -u scimsync scimsync restart --config /etc/scimsync/gong.yaml"}},
	}
	for _, c := range cases {
		_, body, err := Render(ev[c.name])
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body lacks %q", c.name, w)
			}
		}
	}
}

func TestRenderSanitises(t *testing.T) {
	e := goldenEvents()["quarantine_credentials"]
	e.Job = "gong\r\nBcc: evil@example.com"
	e.ConfigPath = "/etc/scim sync/it's.yaml"
	subject, body, err := Render(e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject has a line break: %q", subject)
	}
	if !strings.Contains(body, `scimsync sync --config '/etc/scim sync/it'\''s.yaml'`) {
		t.Errorf("config path not shell-quoted:\n%s", body)
	}
}

func TestRenderUnknownKind(t *testing.T) {
	if _, _, err := Render(Event{Job: "gong"}); err == nil {
		t.Fatal("want an error for a zero Kind")
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Second:              "less than a minute",
		time.Minute:                   "1 minute",
		90 * time.Minute:              "1 hour 30 minutes",
		5 * time.Hour:                 "5 hours",
		26*time.Hour + 30*time.Minute: "1 day 2 hours",
		28 * 24 * time.Hour:           "28 days",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
