package notify

import (
	"bytes"
	"embed"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// Kind says which failure an Event reports; each kind has its own template and dedupe rule.
type Kind int

// The kinds start at 1 so that a zero Event (a caller that forgot to set Kind) fails to render
// instead of silently sending the wrong email.
const (
	// QuarantineEntered is the first email of a quarantine (https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status: "a one-time notification").
	QuarantineEntered Kind = iota + 1
	// QuarantineReasonChanged goes out when a quarantine continues for a different reason
	// (https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status: "an updated email is sent showing the new reason").
	QuarantineReasonChanged
	// DeletionThreshold reports disables and deletes held back by the accidental-deletion threshold
	// (https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions); only an admin can release them.
	DeletionThreshold
	// JobStopped reports that the job stopped after 28 days in quarantine and will not retry by itself.
	JobStopped
	// StateDamaged reports a damaged state file: no cycle can run until an administrator rebuilds it,
	// and waiting cannot fix it, so it is sent at once rather than after a quarantine.
	StateDamaged
	// SourceCredential reports that scimsync cannot sign in to Microsoft Graph (an expired secret or
	// certificate, revoked consent, a deleted app). Nothing is read, so nothing syncs, and waiting does
	// not help: it is sent at once, once per reason, not after the aborted-cycle streak.
	SourceCredential
	// NoRecentSuccess reports that no cycle has succeeded for the configured time, whatever the cause:
	// the backstop for every failure that has no email of its own.
	NoRecentSuccess
	// Resolved reports that a cycle succeeded after one of the emails above.
	Resolved
	// Test is `scimsync notify --test`.
	Test
)

// String names the kind in logs.
func (k Kind) String() string {
	switch k {
	case QuarantineEntered:
		return "QuarantineEntered"
	case QuarantineReasonChanged:
		return "QuarantineReasonChanged"
	case DeletionThreshold:
		return "DeletionThreshold"
	case JobStopped:
		return "JobStopped"
	case StateDamaged:
		return "StateDamaged"
	case SourceCredential:
		return "SourceCredential"
	case NoRecentSuccess:
		return "NoRecentSuccess"
	case Resolved:
		return "Resolved"
	case Test:
		return "Test"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Quarantine reasons (Graph synchronizationQuarantine.reason) that change what an email advises.
const (
	// ReasonQuarantineException is a credentials, connectivity or SCIM-compliance failure.
	ReasonQuarantineException = "EncounteredQuarantineException"
	// ReasonEscrowProportion is "more than 40% of provisioning events failed".
	ReasonEscrowProportion = "EncounteredEscrowProportionThreshold"
	// ReasonBaseEscrow is the minimum-failures escrow threshold; it gets the same advice as a proportion.
	ReasonBaseEscrow = "EncounteredBaseEscrowThreshold"
	// ReasonTotalEscrow is the absolute escrow threshold (60,000 failures including references).
	ReasonTotalEscrow = "EncounteredTotalEscrowThreshold"
	// ReasonTooManyDeletes is the accidental-deletion threshold (https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions).
	ReasonTooManyDeletes = "TooManyDeletes"
	// ReasonCycleAborted is scimsync's own: cycles could not run at all (Graph or the target unreachable)
	// several times in a row; the fix is connectivity, not data.
	ReasonCycleAborted = "CycleAborted"
	// ReasonAuthorization is scimsync's own: the target's OAuth 2.0 authorization expired or was revoked;
	// the fix is `scimsync authorize`.
	ReasonAuthorization = "AuthorizationExpiredOrRevoked"
)

// reasonWords says each reason in plain words, for subjects and the first line of a body: an admin
// should not need Microsoft's enum reference to know what happened. The code still appears in the body
// so that it can be searched.
var reasonWords = map[string]string{
	ReasonQuarantineException: "the target rejected scimsync's credentials or broke the SCIM protocol",
	ReasonEscrowProportion:    "most provisioning calls failed",
	ReasonBaseEscrow:          "too many provisioning calls failed",
	ReasonTotalEscrow:         "too many provisioning calls failed",
	ReasonTooManyDeletes:      "too many disables and deletes at once",
	ReasonCycleAborted:        "cycles could not run: Microsoft Graph or the target was unreachable",
	ReasonAuthorization:       "the target app's authorization expired or was revoked",
}

// MaxHeld is how many held operations the deletion-threshold email (and allow-deletes) lists.
const MaxHeld = 50

// HeldObject is one disable or delete the deletion threshold held back.
type HeldObject struct {
	// Identity is what a person recognises: userPrincipalName or group display name.
	Identity string
	// Kind is "user" or "group".
	Kind string
	// SourceID is the Entra object id.
	SourceID string
	// Op is "disable" or "delete".
	Op string
	// Unmanage is a disable of an object that left the scope: scimsync stops managing it afterwards.
	Unmanage bool
}

// Effect says in plain words what releasing the hold does to the object.
func (h HeldObject) Effect() string {
	switch {
	case h.Op == "delete":
		return "deleted from the target"
	case h.Unmanage:
		return "disabled in the target (active=false), then no longer managed"
	default:
		return "disabled in the target (active=false)"
	}
}

// MaxListedFailures is how many failing objects an email lists; the rest are counted, because a
// quarantine can hold thousands of escrows and an email is read by a person.
const MaxListedFailures = 10

// stopAfter is how long a job may stay in quarantine before it stops (https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status: 28 days).
const stopAfter = 28 * 24 * time.Hour

// ObjectFailure is one failing object as an email shows it: enough to find it in the source and in the
// provisioning log without opening the state file.
type ObjectFailure struct {
	// Identity is what a person recognises: userPrincipalName, mail or group display name.
	Identity string
	// SourceID is the Entra object id.
	SourceID string
	// Op is the provisioning action that failed (Create, Update, Disable, Delete, ...).
	Op string
	// ErrorCode is the provisioning-log error code, e.g. SystemForCrossDomainIdentityManagementServiceIncompatible.
	ErrorCode string
	// Error is the error message; it is shown on one line and shortened.
	Error string
}

// Event is everything an email says; the engine fills it from its quarantine decision and the store so
// that notify needs no knowledge of the engine's internals.
type Event struct {
	// Kind picks the template; Notifier corrects Entered and ReasonChanged from what was last sent.
	Kind Kind
	// Job is the job name as the configuration gives it.
	Job string
	// Reason is the Graph quarantine reason code.
	Reason string
	// ReasonText is a human sentence: the error that caused the quarantine.
	ReasonText string
	// Cause is the error behind a quarantine, when known, so that a caller can tell one cause from
	// another with errors.Is/As (its Graph sign-in email already covers some); it is never rendered.
	Cause error
	// PreviousReason is the reason of the earlier email; Notifier fills it for QuarantineReasonChanged.
	PreviousReason string
	// Since is when the quarantine series began (or when the threshold was hit).
	Since time.Time
	// NextAttempt is the next scheduled cycle; zero when none is scheduled (a stopped job).
	NextAttempt time.Time
	// Failures are the failing objects; the first MaxListedFailures are listed.
	Failures []ObjectFailure
	// TotalFailures counts all failing objects; 0 means len(Failures).
	TotalFailures int
	// Staged is how many disables and deletes the deletion threshold held back.
	Staged int
	// Held are those operations; the first MaxHeld are listed.
	Held []HeldObject
	// Resolves names what a Resolved email ends (the earlier emails' subjects in plain words).
	Resolves []string
	// StaleAfter is the NoRecentSuccess limit; LastSuccess the last successful cycle (zero: none known).
	StaleAfter  time.Duration
	LastSuccess time.Time
	// Threshold is the configured deletion threshold.
	Threshold int
	// Host is the machine the daemon runs on, so that a reader of several jobs knows where to log in.
	Host string
	// StatePath and ConfigPath go into the commands the email suggests.
	StatePath, ConfigPath string
	// Now is the clock for relative times ("3 hours ago"); zero means time.Now. Tests fix it.
	Now time.Time
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// templateFiles maps each kind to its template; every kind file defines "subject" and "body" and may
// use the blocks of common.tmpl.
var templateFiles = map[Kind]string{
	QuarantineEntered:       "quarantine_entered.tmpl",
	QuarantineReasonChanged: "quarantine_reason_changed.tmpl",
	DeletionThreshold:       "deletion_threshold.tmpl",
	JobStopped:              "job_stopped.tmpl",
	StateDamaged:            "state_damaged.tmpl",
	SourceCredential:        "source_credential.tmpl",
	NoRecentSuccess:         "no_recent_success.tmpl",
	Resolved:                "resolved.tmpl",
	Test:                    "test.tmpl",
}

// templates are parsed once at start-up: they are embedded, so a parse error is a build defect that the
// golden tests catch, not a runtime condition.
var templates = func() map[Kind]*template.Template {
	funcs := template.FuncMap{"quote": shellQuote}
	m := make(map[Kind]*template.Template, len(templateFiles))
	for k, f := range templateFiles {
		m[k] = template.Must(template.New(f).Funcs(funcs).ParseFS(templateFS, "templates/common.tmpl", "templates/"+f))
	}
	return m
}()

// view is the data the templates see: every value already formatted, so that templates hold wording,
// not logic.
type view struct {
	Job, Reason, ReasonText, PreviousReason string
	ReasonWords, PreviousWords              string
	// Cmd is how the suggested commands start: as the service user, so that they can open the state
	// file the daemon owns.
	Cmd                     string
	Held                    []heldView
	HeldMore                int
	Groups                  []failureGroup
	Resolves                []string
	StaleFor, LastSuccess   string
	LastSuccessRel          string
	Since, SinceRel         string
	Next, NextRel           string
	StopsAt                 string
	Failures                []failureView
	Total, More             int
	Staged, Threshold       int
	Host, StatePath, Config string
	Advice                  string
}

type heldView struct {
	N                                int
	Identity, Kind, SourceID, Effect string
}

// failureGroup is failures that share an operation and error: one line for the error, then the
// objects, so a thousand identical rejections read as one problem.
type failureGroup struct {
	Op, Code, Error string
	// Varied is set when the group's messages differ; Error is then the first, as an example.
	Varied     bool
	Count      int
	Identities []string
	More       int
}

type failureView struct {
	N                                   int
	Identity, SourceID, Op, Code, Error string
}

// Render builds the subject and plain-text body of the email for e. The body uses "\n" line endings;
// Mailer turns them into CRLF.
func Render(e Event) (subject, body string, err error) {
	t, ok := templates[e.Kind]
	if !ok {
		return "", "", fmt.Errorf("render email: unknown event kind %v", e.Kind)
	}
	v := makeView(e)
	var sb, bb bytes.Buffer
	if err := t.ExecuteTemplate(&sb, "subject", v); err != nil {
		return "", "", fmt.Errorf("render %v subject: %w", e.Kind, err)
	}
	if err := t.ExecuteTemplate(&bb, "body", v); err != nil {
		return "", "", fmt.Errorf("render %v body: %w", e.Kind, err)
	}
	return oneLine(sb.String(), 200), tidyBody(bb.String()), nil
}

func makeView(e Event) view {
	now := e.Now
	if now.IsZero() {
		now = time.Now()
	}
	v := view{
		Job:            oneLine(orDefault(e.Job, "(unnamed job)"), 100),
		Reason:         oneLine(orDefault(e.Reason, "Unknown"), 100),
		ReasonText:     oneLine(e.ReasonText, 500),
		PreviousReason: oneLine(e.PreviousReason, 100),
		Staged:         e.Staged,
		Threshold:      e.Threshold,
		Host:           oneLine(e.Host, 200),
		StatePath:      oneLine(e.StatePath, 500),
		Config:         oneLine(absPath(orDefault(e.ConfigPath, "/etc/scimsync/scimsync.yaml")), 500),
		ReasonWords:    words(e.Reason),
		PreviousWords:  words(e.PreviousReason),
		Cmd:            "sudo -u scimsync scimsync",
	}
	for i, h := range e.Held {
		if i == MaxHeld {
			v.HeldMore = len(e.Held) - MaxHeld
			break
		}
		v.Held = append(v.Held, heldView{N: i + 1, Identity: oneLine(orDefault(h.Identity, "(no name)"), 200),
			Kind: oneLine(orDefault(h.Kind, "object"), 20), SourceID: oneLine(h.SourceID, 100), Effect: h.Effect()})
	}
	if e.Staged > len(e.Held) && len(e.Held) > 0 {
		v.HeldMore = e.Staged - len(v.Held)
	}
	for _, r := range e.Resolves {
		v.Resolves = append(v.Resolves, oneLine(r, 200))
	}
	if e.StaleAfter > 0 {
		v.StaleFor = humanDuration(e.StaleAfter)
	}
	if !e.LastSuccess.IsZero() {
		v.LastSuccess, v.LastSuccessRel = formatTime(e.LastSuccess), relative(e.LastSuccess, now)
	}
	v.Groups = groupFailures(e.Failures)
	if !e.Since.IsZero() {
		v.Since, v.SinceRel = formatTime(e.Since), relative(e.Since, now)
		v.StopsAt = formatTime(e.Since.Add(stopAfter))
	}
	if !e.NextAttempt.IsZero() {
		v.Next, v.NextRel = formatTime(e.NextAttempt), relative(e.NextAttempt, now)
	}
	v.Total = max(e.TotalFailures, len(e.Failures))
	for i, f := range e.Failures {
		if i == MaxListedFailures {
			break
		}
		v.Failures = append(v.Failures, failureView{
			N: i + 1, Identity: oneLine(orDefault(f.Identity, "(no name)"), 200), SourceID: oneLine(f.SourceID, 100),
			Op: oneLine(f.Op, 50), Code: oneLine(f.ErrorCode, 100), Error: oneLine(f.Error, 300),
		})
	}
	v.More = v.Total - len(v.Failures)
	v.Advice = adviceFor(e)
	return v
}

// groupFailures groups failures by operation and error code (or message, when there is no code), largest group first, so that the same
// error on many objects is shown once with the objects it hit.
func groupFailures(fs []ObjectFailure) []failureGroup {
	idx := map[[3]string]int{}
	var gs []failureGroup
	for _, f := range fs {
		op, code, msg := oneLine(f.Op, 50), oneLine(f.ErrorCode, 100), oneLine(f.Error, 300)
		// Messages usually name the object, so the code is the key; without one, the message is.
		k := [3]string{op, code}
		if code == "" {
			k[2] = msg
		}
		i, ok := idx[k]
		if !ok {
			i = len(gs)
			idx[k] = i
			gs = append(gs, failureGroup{Op: op, Code: code, Error: msg})
		}
		g := &gs[i]
		if g.Error != msg {
			g.Varied = true
		}
		g.Count++
		if len(g.Identities) < 5 {
			g.Identities = append(g.Identities, oneLine(orDefault(f.Identity, f.SourceID), 200))
		} else {
			g.More++
		}
	}
	sort.SliceStable(gs, func(a, b int) bool { return gs[a].Count > gs[b].Count })
	if len(gs) > MaxListedFailures {
		gs = gs[:MaxListedFailures]
	}
	return gs
}

// words is a reason in plain words, or the code itself when it has none.
func words(reason string) string {
	if w, ok := reasonWords[reason]; ok {
		return w
	}
	return oneLine(reason, 100)
}

// absPath makes the config path absolute so that the suggested commands work from any directory.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// adviceFor picks the "what to do" block: the fix differs between a rejected token, bad data and held
// deletions, and an email that names the wrong fix is worse than none.
func adviceFor(e Event) string {
	switch {
	case e.Kind == JobStopped:
		return "stopped"
	case e.Kind == StateDamaged:
		return "damaged"
	case e.Kind == SourceCredential:
		return "source"
	case e.Kind == NoRecentSuccess, e.Kind == Resolved, e.Kind == Test:
		return ""
	case e.Reason == ReasonCycleAborted:
		return "aborted"
	case e.Kind == DeletionThreshold || e.Reason == ReasonTooManyDeletes:
		return "deletes"
	case e.Reason == ReasonAuthorization:
		return "authorize"
	case e.Reason == ReasonQuarantineException:
		return "credentials"
	case e.Reason == ReasonEscrowProportion || e.Reason == ReasonBaseEscrow || e.Reason == ReasonTotalEscrow:
		return "escrow"
	}
	return "generic"
}

// formatTime is RFC 1123 in UTC: unambiguous for readers in any time zone, and what mail clients show.
func formatTime(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04 MST") }

// relative says "3 hours ago" or "in 6 hours", coarse on purpose: the exact time is next to it.
func relative(t, now time.Time) string {
	d := t.Sub(now)
	if d > -time.Minute && d < time.Minute {
		return "just now"
	}
	if d < 0 {
		return humanDuration(-d) + " ago"
	}
	return "in " + humanDuration(d)
}

func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	var parts []string
	add := func(n int, unit string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+unit)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", n, unit))
		}
	}
	switch {
	case days > 0:
		add(days, "day")
		add(hours, "hour")
	case hours > 0:
		add(hours, "hour")
		add(mins, "minute")
	default:
		add(mins, "minute")
	}
	return strings.Join(parts, " ")
}

// oneLine collapses whitespace and control characters (so that a value cannot inject headers into the
// subject or break the layout) and shortens long values.
func oneLine(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit-1]) + "…"
	}
	return s
}

// tidyBody removes trailing spaces and runs of blank lines that template conditionals leave behind.
func tidyBody(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := true // also drops leading blank lines
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// shellQuote makes a path safe to paste into a shell, so that the suggested commands work as written.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == '@' || r == '+' || r == ',' ||
			r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
