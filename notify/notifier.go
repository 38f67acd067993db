package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/logctx"
)

// Sender delivers one email. It is declared here, where it is used, so that tests (and a future HTTP
// mail API) can stand in for Mailer.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// NotifiedJobStopped is what Notify returns as notifiedReason after the job-stopped email, so that a
// caller that stores it does not send that email twice.
const NotifiedJobStopped = "JobStopped"

// NotifiedStateDamaged is what Notify returns after the damaged-state email. The damaged file cannot store
// it, so the caller keeps it elsewhere (scimsync: a file beside the state file).
const NotifiedStateDamaged = "StateDamaged"

// NotifiedSourceCredential prefixes the key Notify returns after a source-credential email
// ("SourceCredential:<reason>"), so that each distinct reason is announced once.
const NotifiedSourceCredential = "SourceCredential"

// NotifiedNoRecentSuccess is what Notify returns after the no-recent-success email.
const NotifiedNoRecentSuccess = "NoRecentSuccess"

// Notifier decides which events deserve an email and sends them, so that the engine can call it on
// every cycle without tracking what it already told the administrators.
type Notifier struct {
	// Timeout bounds one Notify call, whatever the Sender does; zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for relative times in the email; nil means time.Now. Tests fix it.
	Now func() time.Time
	// Host names this machine in emails whose Event leaves Host empty; NewNotifier sets the host name.
	Host string

	sender Sender
	log    *zap.Logger
}

// NewNotifier wraps a Sender (normally a *Mailer). log may be nil.
func NewNotifier(s Sender, log *zap.Logger) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	host, _ := os.Hostname()
	return &Notifier{Timeout: DefaultTimeout, Host: host, sender: s, log: log}
}

// Notify sends the email for e unless it would repeat one already sent. lastNotified is the reason of
// the last email for the current quarantine (the store's Quarantine.NotifiedReason; empty when the job
// is not quarantined, so a quarantine entered again after being lifted is announced again).
//
// Rules, after Entra (https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status and https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions):
//   - QuarantineEntered and QuarantineReasonChanged: sent when e.Reason differs from lastNotified; the
//     kind is chosen from lastNotified (empty means entered), so the caller may pass either.
//   - DeletionThreshold: sent once; its reason (TooManyDeletes) then dedupes the following cycles.
//   - JobStopped: sent once; NotifiedJobStopped dedupes it.
//
// notifiedReason is what the caller should store: the new reason when sent, lastNotified otherwise,
// so that an email that failed is tried again on the next cycle. Notify never returns an error and
// never panics: a failure to send is logged, because mail trouble must not break a cycle.
func (n *Notifier) Notify(ctx context.Context, e Event, lastNotified string) (notifiedReason string, sent bool) {
	if n == nil || n.sender == nil {
		return lastNotified, false
	}
	log := logctx.Logger(ctx, n.log).With(zap.String("job", e.Job), zap.Stringer("email", e.Kind), zap.String("reason", e.Reason))
	defer func() {
		if r := recover(); r != nil {
			log.Error("failure email not sent: panic", zap.Any("panic", r))
			notifiedReason, sent = lastNotified, false
		}
	}()

	key, ok := n.classify(&e, lastNotified)
	if !ok {
		log.Debug("failure email already sent", zap.String("notifiedReason", lastNotified))
		return lastNotified, false
	}
	if e.Now.IsZero() {
		if n.Now != nil {
			e.Now = n.Now()
		} else {
			e.Now = time.Now()
		}
	}
	if e.Host == "" {
		e.Host = n.Host
	}
	subject, body, err := Render(e)
	if err != nil {
		log.Error("failure email not sent", zap.Error(err))
		return lastNotified, false
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := n.send(ctx, Message{Subject: subject, Body: body}); err != nil {
		log.Warn("failure email not sent; it is tried again on the next cycle", zap.Error(err))
		return lastNotified, false
	}
	log.Info("failure email sent", zap.String("subject", subject))
	return key, true
}

// classify applies the dedupe rules; it returns the key to store and whether to send, and sets the
// kind and previous reason that the email shows.
func (n *Notifier) classify(e *Event, last string) (string, bool) {
	switch e.Kind {
	case QuarantineEntered, QuarantineReasonChanged:
		if e.Reason == "" {
			e.Reason = "Unknown"
		}
		if e.Reason == last {
			return "", false
		}
		if last == "" || last == NotifiedJobStopped {
			e.Kind, e.PreviousReason = QuarantineEntered, ""
		} else {
			e.Kind, e.PreviousReason = QuarantineReasonChanged, last
		}
		return e.Reason, true
	case DeletionThreshold:
		if e.Reason == "" {
			e.Reason = ReasonTooManyDeletes
		}
		if e.Reason == last {
			return "", false
		}
		return e.Reason, true
	case JobStopped:
		if last == NotifiedJobStopped {
			return "", false
		}
		return NotifiedJobStopped, true
	case StateDamaged:
		if last == NotifiedStateDamaged {
			return "", false
		}
		return NotifiedStateDamaged, true
	case SourceCredential:
		key := NotifiedSourceCredential + ":" + orDefault(e.Reason, "Unknown")
		if last == key {
			return "", false
		}
		return key, true
	case NoRecentSuccess:
		if last == NotifiedNoRecentSuccess {
			return "", false
		}
		return NotifiedNoRecentSuccess, true
	case Resolved, Test:
		// The caller sends these only when something was open (Resolved) or on request (Test).
		return last, true
	}
	// An unknown kind is a caller bug; Render reports it in the log.
	return e.Reason, true
}

// send runs the Sender in a goroutine so that even a Sender that ignores ctx cannot hold the cycle past
// the timeout, and turns its panic into an error.
func (n *Notifier) send(ctx context.Context, msg Message) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("sender panicked: %v", r)
			}
		}()
		done <- n.sender.Send(ctx, msg)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.Join(errors.New("gave up waiting for the mail relay"), ctx.Err())
	}
}

// SendNow renders and sends e without the dedupe rules and returns what went wrong, for `scimsync
// notify --test`, where the admin is waiting for the answer.
func (n *Notifier) SendNow(ctx context.Context, e Event) error {
	if e.Now.IsZero() {
		e.Now = time.Now()
	}
	if e.Host == "" {
		e.Host = n.Host
	}
	subject, body, err := Render(e)
	if err != nil {
		return err
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return n.send(ctx, Message{Subject: subject, Body: body})
}
