package notify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeSender records messages and fails when told to.
type fakeSender struct {
	mu   sync.Mutex
	sent []Message
	err  error
}

func (f *fakeSender) Send(_ context.Context, m Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, m)
	return nil
}

func newTestNotifier(s Sender) (*Notifier, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	n := NewNotifier(s, zap.New(core))
	n.Now = func() time.Time { return fixedNow }
	n.Host = "sync01.example.com"
	return n, logs
}

func quarantine(reason string) Event {
	return Event{Kind: QuarantineEntered, Job: "gong", Reason: reason, Since: fixedNow.Add(-time.Hour),
		NextAttempt: fixedNow.Add(5 * time.Hour), ConfigPath: "/etc/scimsync/gong.yaml"}
}

// TestNotifyDedupe walks one job through a quarantine's life; the store's NotifiedReason is carried
// from step to step as the engine would, and cleared when the quarantine is lifted.
func TestNotifyDedupe(t *testing.T) {
	const cred, escrow = ReasonQuarantineException, ReasonEscrowProportion
	steps := []struct {
		name        string
		event       Event
		lift        bool // the quarantine was lifted before this step: the store forgets NotifiedReason
		wantSent    bool
		wantStored  string
		wantSubject string
	}{
		{"enter", quarantine(cred), false, true, cred, "[scimsync] gong: provisioning paused: the target rejected scimsync's credentials or broke the SCIM protocol"},
		{"same reason next cycle", quarantine(cred), false, false, cred, ""},
		{"same reason, caller says changed", func() Event { e := quarantine(cred); e.Kind = QuarantineReasonChanged; return e }(), false, false, cred, ""},
		{"reason changed", quarantine(escrow), false, true, escrow, "[scimsync] gong: still paused, now because most provisioning calls failed"},
		{"changed reason again next cycle", quarantine(escrow), false, false, escrow, ""},
		{"lifted, then entered again", quarantine(escrow), true, true, escrow, "[scimsync] gong: provisioning paused: most provisioning calls failed"},
		{"deletion threshold after a lift", Event{Kind: DeletionThreshold, Job: "gong", Staged: 612, Threshold: 500}, true, true, ReasonTooManyDeletes, "[scimsync] gong: 612 disables and deletes held for your approval (threshold 500)"},
		{"deletion threshold, next cycle", Event{Kind: DeletionThreshold, Job: "gong", Staged: 640, Threshold: 500}, false, false, ReasonTooManyDeletes, ""},
		{"quarantine for held deletes is the same email", quarantine(ReasonTooManyDeletes), false, false, ReasonTooManyDeletes, ""},
		{"credentials fail while deletes are held", quarantine(cred), false, true, cred, "[scimsync] gong: still paused, now because the target rejected scimsync's credentials or broke the SCIM protocol"},
		{"job stopped", Event{Kind: JobStopped, Job: "gong", Reason: cred}, false, true, NotifiedJobStopped, "[scimsync] gong: provisioning stopped after 28 days in quarantine"},
		{"job stopped, again", Event{Kind: JobStopped, Job: "gong", Reason: cred}, false, false, NotifiedJobStopped, ""},
		{"graph sign-in fails", Event{Kind: SourceCredential, Job: "gong", Reason: "AADSTS7000222"}, true, true, "SourceCredential:AADSTS7000222", "[scimsync] gong: cannot sign in to Microsoft Graph; nothing is synced"},
		{"graph sign-in fails again", Event{Kind: SourceCredential, Job: "gong", Reason: "AADSTS7000222"}, false, false, "SourceCredential:AADSTS7000222", ""},
		{"graph sign-in fails, another reason", Event{Kind: SourceCredential, Job: "gong", Reason: "AADSTS65001"}, false, true, "SourceCredential:AADSTS65001", "[scimsync] gong: cannot sign in to Microsoft Graph; nothing is synced"},
		{"no success for a day", Event{Kind: NoRecentSuccess, Job: "gong", StaleAfter: 24 * time.Hour}, true, true, NotifiedNoRecentSuccess, "[scimsync] gong: no provisioning cycle has succeeded for 1 day"},
		{"no success, next tick", Event{Kind: NoRecentSuccess, Job: "gong", StaleAfter: 24 * time.Hour}, false, false, NotifiedNoRecentSuccess, ""},
	}
	f := &fakeSender{}
	n, _ := newTestNotifier(f)
	stored := ""
	for _, s := range steps {
		if s.lift {
			stored = ""
		}
		before := len(f.sent)
		got, sent := n.Notify(context.Background(), s.event, stored)
		if sent != s.wantSent || got != s.wantStored {
			t.Fatalf("%s: Notify = (%q, %v), want (%q, %v)", s.name, got, sent, s.wantStored, s.wantSent)
		}
		if s.wantSent {
			if len(f.sent) != before+1 {
				t.Fatalf("%s: %d emails sent, want 1", s.name, len(f.sent)-before)
			}
			if subj := f.sent[len(f.sent)-1].Subject; subj != s.wantSubject {
				t.Errorf("%s: subject %q, want %q", s.name, subj, s.wantSubject)
			}
		} else if len(f.sent) != before {
			t.Fatalf("%s: an email was sent", s.name)
		}
		stored = got
	}
}

func TestNotifyReasonChangedShowsPrevious(t *testing.T) {
	f := &fakeSender{}
	n, _ := newTestNotifier(f)
	if _, sent := n.Notify(context.Background(), quarantine(ReasonEscrowProportion), ReasonQuarantineException); !sent {
		t.Fatal("not sent")
	}
	body := f.sent[0].Body
	for _, want := range []string{"Was:           the target rejected scimsync's credentials or broke the SCIM protocol", "Host:          sync01.example.com", "(1 hour ago)"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestNotifySendFailureIsLoggedAndRetried(t *testing.T) {
	f := &fakeSender{err: errors.New("554 rejected")}
	n, logs := newTestNotifier(f)
	got, sent := n.Notify(context.Background(), quarantine(ReasonQuarantineException), "")
	if sent || got != "" {
		t.Fatalf("Notify = (%q, %v), want (\"\", false) so that the next cycle tries again", got, sent)
	}
	entries := logs.FilterMessageSnippet("failure email not sent").All()
	if len(entries) != 1 || entries[0].Level != zapcore.WarnLevel {
		t.Fatalf("want one warning, got %v", logs.All())
	}
	if !strings.Contains(entries[0].ContextMap()["error"].(string), "554 rejected") {
		t.Errorf("logged error %v", entries[0].ContextMap())
	}
	f.err = nil
	if got, sent := n.Notify(context.Background(), quarantine(ReasonQuarantineException), got); !sent || got != ReasonQuarantineException {
		t.Fatalf("retry: Notify = (%q, %v)", got, sent)
	}
}

// stuckSender ignores its context, the worst case for a cycle that waits on it.
type stuckSender struct{ release chan struct{} }

func (s stuckSender) Send(context.Context, Message) error { <-s.release; return nil }

func TestNotifyNeverBlocksPastTimeout(t *testing.T) {
	s := stuckSender{release: make(chan struct{})}
	defer close(s.release)
	n, logs := newTestNotifier(s)
	n.Timeout = 100 * time.Millisecond
	start := time.Now()
	if _, sent := n.Notify(context.Background(), quarantine(ReasonQuarantineException), ""); sent {
		t.Fatal("sent = true")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Notify blocked for %v with a 100ms timeout", d)
	}
	if logs.FilterMessageSnippet("failure email not sent").Len() != 1 {
		t.Fatalf("no warning logged: %v", logs.All())
	}
}

type panicSender struct{}

func (panicSender) Send(context.Context, Message) error { panic("boom") }

func TestNotifyNeverPanics(t *testing.T) {
	n, logs := newTestNotifier(panicSender{})
	if _, sent := n.Notify(context.Background(), quarantine(ReasonQuarantineException), ""); sent {
		t.Fatal("sent = true")
	}
	if logs.FilterMessageSnippet("failure email not sent").Len() != 1 {
		t.Fatalf("no warning logged: %v", logs.All())
	}
	// A nil Notifier (notify block absent) is a no-op, so that callers need no nil checks.
	var nilN *Notifier
	if got, sent := nilN.Notify(context.Background(), quarantine(ReasonQuarantineException), "x"); sent || got != "x" {
		t.Fatalf("nil Notifier: (%q, %v)", got, sent)
	}
}

func TestNotifyUnknownKindIsLogged(t *testing.T) {
	f := &fakeSender{}
	n, logs := newTestNotifier(f)
	if _, sent := n.Notify(context.Background(), Event{Job: "gong"}, ""); sent || len(f.sent) != 0 {
		t.Fatal("sent an email for a zero Kind")
	}
	if logs.FilterLevelExact(zapcore.ErrorLevel).Len() != 1 {
		t.Fatalf("no error logged: %v", logs.All())
	}
}

// TestNotifyOverSMTP runs the whole path: Notifier, Mailer, a real SMTP conversation on loopback.
func TestNotifyOverSMTP(t *testing.T) {
	s := (&sink{}).start(t, modeStartTLS)
	cfg := s.config(TLSStartTLS)
	cfg.RootCAs = testPool(t)
	n, _ := newTestNotifier(newMailer(t, cfg))
	e := goldenEvents()["quarantine_credentials"]
	if got, sent := n.Notify(context.Background(), e, ""); !sent || got != ReasonQuarantineException {
		t.Fatalf("Notify = (%q, %v)", got, sent)
	}
	subject, body, err := Render(e)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, s, Message{Subject: subject, Body: body}, true)
}
