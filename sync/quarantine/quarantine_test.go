package quarantine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/targetauth"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const (
	h   = time.Hour
	day = 24 * time.Hour
)

var (
	errAuth       = fmt.Errorf("test connection: %w", &scimclient.Error{Kind: scimclient.ErrUnauthorized, Status: 401, Method: "GET", Path: "/Users"})
	errCompliance = fmt.Errorf("list users: %w", scimclient.ErrCompliance)
	errTransient  = fmt.Errorf("connect: %w", scimclient.ErrTransient)
)

// failed builds the outcome of a cycle where n objects failed and were escrowed.
func failed(n, ok int) Outcome { return Outcome{Failed: n, Escrowed: n, Succeeded: ok} }

func TestThresholds(t *testing.T) {
	tests := []struct {
		name string
		out  Outcome
		want string // "" = not quarantined
	}{
		{"clean cycle", Outcome{Succeeded: 100}, ""},
		{"empty cycle", Outcome{}, ""},
		// The reference's worked examples (§2).
		{"45,000 failed", failed(45000, 0), ReasonTotalEscrow},
		{"30,000 failed + 5,000 ok", failed(30000, 5000), ReasonEscrowProportion},
		{"20,000 failed + 100,000 ok", failed(20000, 100000), ""},
		{"4,000 failed", failed(4000, 0), ""},
		{"40,000 user + 21,000 manager failures", Outcome{Failed: 40000, Escrowed: 40000, Succeeded: 100000,
			ReferenceFailed: 21000, EscrowedReferences: 21000}, ReasonBaseEscrow},
		// Edges of each threshold.
		{"4,999 failed, 100 %", failed(4999, 0), ""},
		{"5,000 failed, 100 %", failed(5000, 0), ReasonEscrowProportion},
		{"exactly 40 %", failed(8000, 12000), ""},
		{"just over 40 %", failed(8001, 12000), ReasonEscrowProportion},
		{"exactly 40,000", failed(40000, 1000000), ""},
		{"40,001", failed(40001, 1000000), ReasonTotalEscrow},
		{"exactly 60,000 with references", Outcome{Failed: 30000, ReferenceFailed: 30000, Succeeded: 1000000}, ""},
		{"60,001 with references", Outcome{Failed: 30000, ReferenceFailed: 30001, Succeeded: 1000000}, ReasonBaseEscrow},
		// References never count toward the proportion or the 40,000.
		{"references only, 50,000", Outcome{ReferenceFailed: 50000, EscrowedReferences: 50000}, ""},
		{"references beside a few object failures", Outcome{Failed: 100, Succeeded: 10, ReferenceFailed: 9000}, ""},
		// Escrows held from earlier cycles count toward the absolute thresholds, not the proportion.
		{"41,000 held in escrow, quiet cycle", Outcome{Escrowed: 41000, Succeeded: 3}, ReasonTotalEscrow},
		{"30,000 held in escrow, quiet cycle", Outcome{Escrowed: 30000, Succeeded: 3}, ""},
		{"cycle failures exceed escrows (re-matched, not escrowed)", Outcome{Failed: 41000}, ReasonTotalEscrow},
		// Fatal errors quarantine regardless of counts; other fatal errors are an aborted attempt.
		{"unauthorized", Outcome{Fatal: errAuth, Succeeded: 1000}, ReasonQuarantineException},
		{"compliance", Outcome{Fatal: errCompliance}, ReasonQuarantineException},
		{"unauthorized in an aborted cycle", Outcome{Fatal: errAuth, Aborted: true}, ReasonQuarantineException},
		{"target unreachable", Outcome{Fatal: errTransient}, ""},
		{"graph outage", Outcome{Aborted: true, Failed: 50000}, ""},
		{"too many deletes", Outcome{TooManyDeletes: true, Succeeded: 10}, ReasonTooManyDeletes},
		{"too many deletes beats thresholds", Outcome{TooManyDeletes: true, Failed: 45000}, ReasonTooManyDeletes},
		{"fatal beats too many deletes", Outcome{TooManyDeletes: true, Fatal: errAuth}, ReasonQuarantineException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, ev := Judge(nil, tt.out, t0)
			if tt.want == "" {
				if q != nil || ev != None {
					t.Fatalf("Judge = %+v, %v; want not quarantined", q, ev)
				}
				return
			}
			if q == nil || ev != Entered {
				t.Fatalf("Judge = %+v, %v; want Entered %s", q, ev, tt.want)
			}
			if q.Reason != tt.want {
				t.Errorf("Reason = %s, want %s (error %q)", q.Reason, tt.want, q.Error)
			}
			if q.Error == "" {
				t.Error("Error is empty")
			}
		})
	}
}

func TestJudgeTransitions(t *testing.T) {
	quar := func(reason string, count int) *store.Quarantine {
		return &store.Quarantine{Reason: reason, SeriesBegan: t0, CurrentBegan: at(time.Duration(count) * h),
			SeriesCount: count, Error: "old", NotifiedReason: reason}
	}
	tests := []struct {
		name       string
		prev       *store.Quarantine
		out        Outcome
		now        time.Time
		wantEv     Event
		wantReason string // "" = nil result
		wantCount  int
		wantError  string
	}{
		{"healthy stays healthy", nil, Outcome{Succeeded: 5}, at(0), None, "", 0, ""},
		{"healthy, aborted", nil, Outcome{Aborted: true}, at(0), None, "", 0, ""},
		{"enter", nil, Outcome{Fatal: errAuth}, at(0), Entered, ReasonQuarantineException, 0, errAuth.Error()},
		{"lift", quar(ReasonQuarantineException, 1), Outcome{Succeeded: 5}, at(6 * h), Lifted, "", 0, ""},
		{"lift threshold quarantine", quar(ReasonTotalEscrow, 1), failed(100, 50000), at(6 * h), Lifted, "", 0, ""},
		{"same reason", quar(ReasonQuarantineException, 1), Outcome{Fatal: errAuth}, at(6 * h),
			StillQuarantined, ReasonQuarantineException, 2, errAuth.Error()},
		{"aborted keeps reason and error", quar(ReasonTotalEscrow, 1), Outcome{Aborted: true}, at(6 * h),
			StillQuarantined, ReasonTotalEscrow, 2, "old"},
		{"unreachable target is an aborted attempt", quar(ReasonQuarantineException, 0), Outcome{Fatal: errTransient},
			at(6 * h), StillQuarantined, ReasonQuarantineException, 1, "old"},
		{"reason changes", quar(ReasonQuarantineException, 1), failed(45000, 0), at(6 * h),
			ReasonChanged, ReasonTotalEscrow, 2, "45000 objects failed (more than 40000)"},
		{"too many deletes is not lifted by a clean cycle", quar(ReasonTooManyDeletes, 0), Outcome{Succeeded: 5},
			at(6 * h), StillQuarantined, ReasonTooManyDeletes, 1, "old"},
		{"too many deletes keeps its reason, records the new error", quar(ReasonTooManyDeletes, 0),
			Outcome{Fatal: errAuth}, at(6 * h), StillQuarantined, ReasonTooManyDeletes, 1, errAuth.Error()},
		{"deletes staged again", quar(ReasonTotalEscrow, 0), Outcome{TooManyDeletes: true}, at(6 * h),
			ReasonChanged, ReasonTooManyDeletes, 1, ""},
		{"last retry fails", quar(ReasonQuarantineException, 28), Outcome{Fatal: errAuth}, at(27 * day),
			Stopped, ReasonQuarantineException, 29, errAuth.Error()},
		{"manual run after expiry fails", quar(ReasonQuarantineException, 29), Outcome{Aborted: true}, at(40 * day),
			Stopped, ReasonQuarantineException, 30, "old"},
		{"manual run after expiry succeeds", quar(ReasonQuarantineException, 29), Outcome{}, at(40 * day),
			Lifted, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before store.Quarantine
			if tt.prev != nil {
				before = *tt.prev
			}
			q, ev := Judge(tt.prev, tt.out, tt.now)
			if ev != tt.wantEv {
				t.Errorf("event = %v, want %v", ev, tt.wantEv)
			}
			if tt.prev != nil && *tt.prev != before {
				t.Errorf("Judge modified prev: %+v", *tt.prev)
			}
			if tt.wantReason == "" {
				if q != nil {
					t.Errorf("quarantine = %+v, want nil", q)
				}
				return
			}
			if q == nil {
				t.Fatal("quarantine = nil")
			}
			if q.Reason != tt.wantReason || q.SeriesCount != tt.wantCount {
				t.Errorf("reason, count = %s, %d; want %s, %d", q.Reason, q.SeriesCount, tt.wantReason, tt.wantCount)
			}
			if tt.wantError != "" && q.Error != tt.wantError {
				t.Errorf("Error = %q, want %q", q.Error, tt.wantError)
			}
			wantBegan := t0
			if tt.prev == nil {
				wantBegan = tt.now
			} else if q.NotifiedReason != tt.prev.NotifiedReason {
				t.Errorf("NotifiedReason = %q, want it carried over", q.NotifiedReason)
			}
			if !q.SeriesBegan.Equal(wantBegan) || !q.CurrentBegan.Equal(tt.now) {
				t.Errorf("SeriesBegan, CurrentBegan = %v, %v; want %v, %v", q.SeriesBegan, q.CurrentBegan, wantBegan, tt.now)
			}
			if !q.NextAttempt.Equal(NextAttempt(*q)) {
				t.Errorf("NextAttempt = %v, want %v", q.NextAttempt, NextAttempt(*q))
			}
		})
	}
}

func TestNextAttempt(t *testing.T) {
	tests := []struct {
		last time.Duration // CurrentBegan - SeriesBegan
		want time.Duration
	}{
		{0, 6 * h},
		{-time.Minute, 6 * h}, // clock skew: never before the first slot
		{time.Minute, 6 * h},
		{6*h - time.Nanosecond, 6 * h},
		{6 * h, 12 * h},
		{7 * h, 12 * h}, // a manual sync in between
		{12 * h, 24 * h},
		{13 * h, 24 * h},
		{24 * h, 48 * h},
		{25 * h, 48 * h}, // a retry that ran late keeps the day grid
		{48 * h, 72 * h},
		{26 * day, 27 * day},
		{27 * day, 28 * day},
		{30 * day, 31 * day},
	}
	for _, tt := range tests {
		q := store.Quarantine{SeriesBegan: t0, CurrentBegan: at(tt.last)}
		if got := NextAttempt(q); !got.Equal(at(tt.want)) {
			t.Errorf("last evaluation at +%v: NextAttempt = +%v, want +%v", tt.last, got.Sub(t0), tt.want)
		}
	}
	if got := NextAttempt(store.Quarantine{}); !got.IsZero() {
		t.Errorf("zero quarantine: NextAttempt = %v, want zero", got)
	}
	// CurrentBegan unset (older state): schedule from the series start.
	if got := NextAttempt(store.Quarantine{SeriesBegan: t0}); !got.Equal(at(6 * h)) {
		t.Errorf("CurrentBegan unset: NextAttempt = %v", got)
	}
}

func TestExpiredExhausted(t *testing.T) {
	tests := []struct {
		last, now          time.Duration
		expired, exhausted bool
	}{
		{0, 0, false, false},
		{0, 27 * day, false, false}, // daemon down: the day-27 slot is still owed
		{26 * day, 27*day + h, false, false},
		{27 * day, 27*day + h, false, true}, // the last retry ran and failed
		{27 * day, 28*day - time.Nanosecond, false, true},
		{0, 28 * day, true, false},
		{27 * day, 28 * day, true, true},
		{27 * day, 60 * day, true, true},
	}
	for _, tt := range tests {
		q := store.Quarantine{SeriesBegan: t0, CurrentBegan: at(tt.last)}
		if got := Expired(q, at(tt.now)); got != tt.expired {
			t.Errorf("Expired(last +%v, now +%v) = %v, want %v", tt.last, tt.now, got, tt.expired)
		}
		if got := Exhausted(q); got != tt.exhausted {
			t.Errorf("Exhausted(last +%v) = %v, want %v", tt.last, got, tt.exhausted)
		}
	}
	if Expired(store.Quarantine{}, at(100*day)) || Exhausted(store.Quarantine{}) {
		t.Error("a zero quarantine never expires")
	}
}

func TestDue(t *testing.T) {
	q := func(last time.Duration) *store.Quarantine {
		return &store.Quarantine{Reason: ReasonQuarantineException, SeriesBegan: t0, CurrentBegan: at(last), SeriesCount: 1}
	}
	tests := []struct {
		name   string
		q      *store.Quarantine
		now    time.Duration
		manual bool
		run    bool
		why    string // substring
	}{
		{"healthy", nil, 0, false, true, "not quarantined"},
		{"healthy manual", nil, 0, true, true, "not quarantined"},
		{"before the first slot", q(0), 5 * h, false, false, "next attempt 2025-03-01T16:00:00Z"},
		{"at the first slot", q(0), 6 * h, false, true, "quarantine retry 2"},
		{"well after the slot", q(0), 11 * h, false, true, "quarantine retry"},
		{"manual before the slot", q(0), time.Hour, true, true, "despite the quarantine"},
		{"after a manual run", q(7 * h), 8 * h, false, false, "next attempt 2025-03-01T22:00:00Z"},
		{"last retry failed", q(27 * day), 27*day + h, false, false, "scimsync restart"},
		{"expired", q(20 * day), 28 * day, false, false, "job stopped"},
		{"expired manual", q(27 * day), 35 * day, true, true, "although the job stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, why := Due(tt.q, at(tt.now), tt.manual)
			if run != tt.run || !strings.Contains(why, tt.why) {
				t.Errorf("Due = %v, %q; want %v, containing %q", run, why, tt.run, tt.why)
			}
		})
	}
}

// TestTimeline plays a whole quarantine series against a daemon ticking every 40 minutes: only the ticks
// Due lets through reach Judge, and every row checks the decision, the event and the next slot.
func TestTimeline(t *testing.T) {
	type row struct {
		now       time.Duration
		manual    bool
		out       Outcome
		run       bool
		ev        Event
		reason    string        // "" = not quarantined afterwards
		next      time.Duration // expected NextAttempt after the row, relative to t0
		seriesCnt int
	}
	auth := Outcome{Fatal: errAuth}
	rows := []row{
		{now: 0, out: auth, run: true, ev: Entered, reason: ReasonQuarantineException, next: 6 * h},
		{now: 40 * time.Minute, run: false, reason: ReasonQuarantineException, next: 6 * h},
		{now: 5*h + 20*time.Minute, run: false, reason: ReasonQuarantineException, next: 6 * h},
		{now: 6 * h, out: auth, run: true, ev: StillQuarantined, reason: ReasonQuarantineException, next: 12 * h, seriesCnt: 1},
		{now: 7 * h, manual: true, out: Outcome{Aborted: true}, run: true, ev: StillQuarantined,
			reason: ReasonQuarantineException, next: 12 * h, seriesCnt: 2},
		{now: 12*h + 20*time.Minute, out: failed(45000, 0), run: true, ev: ReasonChanged, reason: ReasonTotalEscrow,
			next: 24 * h, seriesCnt: 3},
		{now: 20 * h, run: false, reason: ReasonTotalEscrow, next: 24 * h, seriesCnt: 3},
		{now: 24 * h, out: Outcome{Aborted: true}, run: true, ev: StillQuarantined, reason: ReasonTotalEscrow,
			next: 48 * h, seriesCnt: 4},
		{now: 36 * h, run: false, reason: ReasonTotalEscrow, next: 48 * h, seriesCnt: 4},
		{now: 48*h + 40*time.Minute, out: auth, run: true, ev: ReasonChanged, reason: ReasonQuarantineException,
			next: 72 * h, seriesCnt: 5},
	}
	// Days 3 to 26: one failed retry a day, at a tick a little after the slot.
	for d := 3; d <= 26; d++ {
		slot := time.Duration(d) * day
		rows = append(rows,
			row{now: slot - 40*time.Minute, run: false, reason: ReasonQuarantineException, next: slot, seriesCnt: d + 2},
			row{now: slot + 20*time.Minute, out: auth, run: true, ev: StillQuarantined, reason: ReasonQuarantineException,
				next: slot + day, seriesCnt: d + 3})
	}
	rows = append(rows,
		// Day 27: the last retry fails; no slot is left before day 28, so the job stops.
		row{now: 27*day + 20*time.Minute, out: auth, run: true, ev: Stopped, reason: ReasonQuarantineException,
			next: 28 * day, seriesCnt: 30},
		row{now: 27*day + 12*h, run: false, reason: ReasonQuarantineException, next: 28 * day, seriesCnt: 30},
		row{now: 28 * day, run: false, reason: ReasonQuarantineException, next: 28 * day, seriesCnt: 30},
		row{now: 29 * day, run: false, reason: ReasonQuarantineException, next: 28 * day, seriesCnt: 30},
		// An admin runs `scimsync sync` before fixing anything, then again after fixing the token.
		row{now: 29*day + h, manual: true, out: auth, run: true, ev: Stopped, reason: ReasonQuarantineException,
			next: 30 * day, seriesCnt: 31},
		row{now: 30 * day, run: false, reason: ReasonQuarantineException, next: 30 * day, seriesCnt: 31},
		row{now: 30*day + h, manual: true, out: Outcome{Succeeded: 12}, run: true, ev: Lifted},
		row{now: 30*day + h + 40*time.Minute, out: Outcome{Succeeded: 1}, run: true, ev: None},
	)

	var q *store.Quarantine
	for i, r := range rows {
		run, why := Due(q, at(r.now), r.manual)
		if run != r.run {
			t.Fatalf("row %d (+%v): Due = %v (%s), want %v", i, r.now, run, why, r.run)
		}
		if run {
			var ev Event
			q, ev = Judge(q, r.out, at(r.now))
			if ev != r.ev {
				t.Fatalf("row %d (+%v): event = %v, want %v", i, r.now, ev, r.ev)
			}
		}
		if r.reason == "" {
			if q != nil {
				t.Fatalf("row %d (+%v): quarantine = %+v, want none", i, r.now, q)
			}
			continue
		}
		if q == nil {
			t.Fatalf("row %d (+%v): not quarantined, want %s", i, r.now, r.reason)
		}
		if q.Reason != r.reason || !q.NextAttempt.Equal(at(r.next)) || q.SeriesCount != r.seriesCnt {
			t.Fatalf("row %d (+%v): reason %s, next +%v, count %d; want %s, +%v, %d", i, r.now,
				q.Reason, q.NextAttempt.Sub(t0), q.SeriesCount, r.reason, r.next, r.seriesCnt)
		}
		if !q.SeriesBegan.Equal(t0) {
			t.Fatalf("row %d: SeriesBegan = %v, want the first failure", i, q.SeriesBegan)
		}
	}
}

func TestIsFatal(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errAuth, true},
		{errCompliance, true},
		{errTransient, false},
		{fmt.Errorf("x: %w", scimclient.ErrConflict), false},
		{errors.New("plain"), false},
	}
	for _, tt := range tests {
		if got := IsFatal(tt.err); got != tt.want {
			t.Errorf("IsFatal(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestEventString(t *testing.T) {
	for ev, want := range map[Event]string{None: "none", Entered: "entered", ReasonChanged: "reason-changed",
		StillQuarantined: "still-quarantined", Lifted: "lifted", Stopped: "stopped", Event(42): "Event(42)"} {
		if got := ev.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(ev), got, want)
		}
	}
}

// An unreachable target aborts the cycle: IsAbort says so, IsFatal does not, and the judge treats the
// cycle as aborted (no new quarantine; a running one counts the attempt).
func TestIsAbort(t *testing.T) {
	last := &scimclient.Error{Kind: scimclient.ErrTransient, Method: "PATCH", Path: "/Users/1", Detail: "connection refused"}
	unreachable := fmt.Errorf("user provisioning stopped: %w", &scimclient.UnreachableError{Method: "GET", Path: "/Users", Failures: 3, Last: last})
	for _, tt := range []struct {
		err  error
		want bool
	}{{unreachable, true}, {errTransient, false}, {errAuth, false}, {errCompliance, false}, {nil, false}} {
		if got := IsAbort(tt.err); got != tt.want {
			t.Errorf("IsAbort(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if IsFatal(unreachable) {
		t.Fatal("an unreachable target must not quarantine by itself")
	}
	if q, ev := Judge(nil, Outcome{Fatal: unreachable, Aborted: true}, t0); q != nil || ev != None {
		t.Fatalf("Judge = %+v, %s; want no quarantine", q, ev)
	}
}

// TestAuthorizationReason: a refresh refused with invalid_grant (or no authorization at all) is its own
// reason, because its fix (`scimsync authorize`) differs from a wrong bearer token's; other token
// failures stay EncounteredQuarantineException. The errors are built as the SCIM client builds them.
func TestAuthorizationReason(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	wrap := func(kind error) error {
		return fmt.Errorf("cycle: %w", scimTokenError(kind))
	}
	for _, tc := range []struct {
		name  string
		fatal error
		want  string
	}{
		{"revoked", wrap(targetauth.ErrRevoked), ReasonAuthorization},
		{"never authorized", wrap(targetauth.ErrNotAuthorized), ReasonAuthorization},
		{"client refused", wrap(targetauth.ErrClient), ReasonQuarantineException},
		{"401", errAuth, ReasonQuarantineException},
	} {
		q, ev := Judge(nil, Outcome{Fatal: tc.fatal}, now)
		if q == nil || ev != Entered || q.Reason != tc.want {
			t.Errorf("%s: %v %v; want %s, entered", tc.name, q, ev, tc.want)
		}
	}
	// From a credentials quarantine to an authorization one is a reason change (a new email).
	prev, _ := Judge(nil, Outcome{Fatal: errAuth}, now)
	q, ev := Judge(prev, Outcome{Fatal: wrap(targetauth.ErrRevoked)}, now.Add(6*time.Hour))
	if ev != ReasonChanged || q.Reason != ReasonAuthorization {
		t.Errorf("got %v %v; want ReasonChanged to %s", q, ev, ReasonAuthorization)
	}
}

// scimTokenError is what scimclient returns when its token source fails: an *Error of kind
// ErrUnauthorized that also wraps the source's error.
func scimTokenError(kind error) error {
	var src scimclient.TokenSource = failing{&targetauth.Error{Kind: kind}}
	c, err := scimclient.New(scimclient.Options{BaseURL: "http://127.0.0.1:1/scim", Tokens: src, MaxRetries: -1})
	if err != nil {
		panic(err)
	}
	_, err = c.GetUser(context.Background(), "x")
	return err
}

type failing struct{ err error }

func (f failing) Token(context.Context) (string, error) { return "", f.err }
func (failing) Invalidate(string) bool                  { return true }
