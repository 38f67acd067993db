package job

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/metrics"
	"github.com/scimsync/scimsync/graph"
	"github.com/scimsync/scimsync/logctx"
	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// HealthPath is where the job remembers the health emails it sent (Graph sign-in, no recent success)
// and its last success. It is beside the state file rather than in it: these emails matter most when
// the state file cannot be opened or a cycle never gets far enough to write it.
func HealthPath(statePath string) string { return statePath + ".alerts" }

// health is that file's content.
type health struct {
	// Watching is when this job was first watched: the reference for "no success" when no cycle ever
	// succeeded.
	Watching time.Time
	// LastSuccess is the end of the last successful cycle.
	LastSuccess time.Time `json:",omitzero"`
	// LastError is the error of the last failed cycle, for the no-success email.
	LastError string `json:",omitempty"`
	// Source is the notifier's key for the Graph sign-in email sent ("SourceCredential:<reason>").
	Source string `json:",omitempty"`
	// Open maps each email sent and not yet resolved to its subject in plain words.
	Open map[string]string `json:",omitempty"`
}

// Resolved-email lines for what an earlier email announced.
const (
	openSource      = "scimsync could not sign in to Microsoft Graph"
	openNoSuccess   = "no provisioning cycle had succeeded for a long time"
	openQuarantined = "provisioning was paused (quarantine)"
)

// watchHealth sends the emails that do not depend on a cycle running at all, after every attempt: a
// Graph credential that fails (at once, once per reason), no success for notify.noSuccessAlertAfter,
// and "resolved" when a cycle succeeds after any of them. It never fails the cycle.
func (j *Job) watchHealth(ctx context.Context, res *engine.Result, err error) {
	if j.alerter == nil || j.dryRun || j.cfg.Notify == nil || errors.Is(err, store.ErrLocked) ||
		(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return
	}
	now := time.Now()
	path := HealthPath(j.cfg.StatePath)
	h := loadHealth(path)
	if h.Watching.IsZero() {
		h.Watching = now
		h.LastSuccess = lastSuccessFromState(j.cfg)
	}
	if h.Open == nil {
		h.Open = map[string]string{}
	}
	host, _ := os.Hostname()
	base := notify.Event{Job: j.cfg.Name, Host: host, StatePath: j.cfg.StatePath, ConfigPath: j.cfg.File, Now: now}

	success := err == nil && res != nil && res.Ran && res.Quarantine == nil
	if success {
		h.LastSuccess, h.LastError, h.Source = now, "", ""
		if res.Event == quarantine.Lifted {
			h.Open[openQuarantined] = openQuarantined
		}
		if len(h.Open) > 0 {
			ev := base
			ev.Kind = notify.Resolved
			for _, v := range h.Open {
				ev.Resolves = append(ev.Resolves, v)
			}
			sort.Strings(ev.Resolves)
			if _, sent := j.alerter.Notify(ctx, ev, ""); sent {
				h.Open = nil
			}
		}
		saveHealth(path, h, j.log)
		return
	}
	if err != nil {
		h.LastError = err.Error()
	}
	if res != nil && res.Quarantine != nil && res.Quarantine.NotifiedReason != "" {
		// The engine emailed about the quarantine; remember it so that its end is announced.
		h.Open[openQuarantined] = openQuarantined
	}
	if reason, detail, ok := sourceCredentialFailure(err); ok {
		ev := base
		ev.Kind, ev.Reason, ev.ReasonText, ev.Since = notify.SourceCredential, reason, detail, now
		if key, sent := j.alerter.Notify(ctx, ev, h.Source); sent {
			h.Source = key
			h.Open[notify.NotifiedSourceCredential] = openSource
		}
	}
	limit := j.cfg.Notify.NoSuccessAlertAfter
	ref := h.LastSuccess
	if ref.IsZero() {
		ref = h.Watching
	}
	if _, open := h.Open[notify.NotifiedNoRecentSuccess]; limit > 0 && !open && now.Sub(ref) >= limit {
		ev := base
		ev.Kind, ev.StaleAfter, ev.LastSuccess, ev.ReasonText = notify.NoRecentSuccess, limit, h.LastSuccess, h.LastError
		if _, sent := j.alerter.Notify(ctx, ev, ""); sent {
			h.Open[notify.NotifiedNoRecentSuccess] = openNoSuccess
		}
	}
	saveHealth(path, h, j.log)
}

// oneCause is the alerter the engine gets: one cause, one email. A quarantine caused by a Graph
// sign-in failure is not emailed, because watchHealth sends the sign-in email for that cause (at once,
// once per reason, saying what to fix); a second email about the same failure teaches admins to ignore
// both. The quarantine email goes out as soon as its cause is anything else (nothing is recorded as
// sent, so the next cycle's quarantine decides again); the job-stopped email always goes out.
type oneCause struct {
	next engine.Alerter
	log  *zap.Logger
}

func (o oneCause) Notify(ctx context.Context, ev notify.Event, lastNotified string) (string, bool) {
	if ev.Kind == notify.QuarantineEntered || ev.Kind == notify.QuarantineReasonChanged {
		if reason, _, ok := sourceCredentialFailure(ev.Cause); ok {
			logctx.Logger(ctx, o.log).Info("quarantine email not sent: the Graph sign-in email covers this cause",
				zap.String("reason", ev.Reason), zap.String("signIn", reason))
			return lastNotified, false
		}
	}
	return o.next.Notify(ctx, ev, lastNotified)
}

// aadCode finds the AADSTS error code in a token-service answer: it names the cause (7000222 an
// expired secret, 7000215 a wrong one, 700016 an unknown app, 65001 missing consent) and is what
// Microsoft's error lookup takes, so it keys the once-per-reason email.
var aadCode = regexp.MustCompile(`AADSTS\d+`)

// sourceCredentialFailure says whether err means scimsync cannot sign in to Graph or is no longer
// allowed to read it: the token service refused the credential, the credential cannot be used here,
// or Graph answered 401 or 403 (consent revoked). Waiting cannot fix these.
func sourceCredentialFailure(err error) (reason, detail string, ok bool) {
	if err == nil {
		return "", "", false
	}
	var afe *azidentity.AuthenticationFailedError
	var cue *azidentity.AuthenticationRequiredError
	var ge *graph.Error
	switch {
	case errors.As(err, &afe):
		reason = aadCode.FindString(afe.Error())
		if reason == "" {
			reason = "TokenRequestRefused"
		}
		return reason, err.Error(), true
	case errors.As(err, &cue):
		return "AuthenticationRequired", err.Error(), true
	case errors.As(err, &ge) && (ge.Status == 401 || ge.Status == 403):
		reason = "Graph" + strconv.Itoa(ge.Status)
		if ge.Code != "" {
			reason += ":" + ge.Code
		}
		return reason, err.Error(), true
	}
	return "", "", false
}

func loadHealth(path string) health {
	var h health
	if raw, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(raw, &h) // a damaged file starts over: at worst one email is repeated
	}
	return h
}

func saveHealth(path string, h health, log *zap.Logger) {
	raw, _ := json.Marshal(h)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err == nil {
		err = os.Rename(tmp, path)
		if err == nil {
			return
		}
	}
	log.Warn("could not record which alert emails were sent; one may be sent again", zap.String("file", path))
}

// lastSuccessFromState reads the last successful cycle from the state file's history, so that a new
// daemon (or an upgrade) counts "no success" from the truth, not from its own start.
func lastSuccessFromState(cfg *config.Config) time.Time {
	st, err := OpenState(cfg, true)
	if err != nil {
		return time.Time{}
	}
	defer st.Close()
	return metrics.LastSuccess(st)
}
