package quarantine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store"
)

// TestAbortStreak plays sequences of cycles through Judge and NextStreak the way the engine does (store
// what they return, feed it back) with an injected clock. Steps are "A" aborted, "D" aborted on a damaged
// state file, "S" success, each at a minute offset from t0.
func TestAbortStreak(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	outage := errors.New("read users: dial tcp: i/o timeout")
	damaged := fmt.Errorf("read quarantine: %w", &store.CorruptError{Path: "/var/lib/s.db", Err: errors.New("x")})
	type step struct {
		kind string
		at   int // minutes after t0
	}
	cases := []struct {
		name  string
		steps []step
		// want is the event of each step.
		want []Event
		// reason after the last step ("" not quarantined); count is the stored streak after it.
		reason string
		count  int
	}{
		{"one blip", []step{{"A", 0}, {"S", 40}}, []Event{None, None}, "", 0},
		{"three aborts in 80 minutes: under the time floor", []step{{"A", 0}, {"A", 40}, {"A", 80}},
			[]Event{None, None, None}, "", 3},
		{"the fourth abort, two hours after the first, quarantines", []step{{"A", 0}, {"A", 40}, {"A", 80}, {"A", 120}},
			[]Event{None, None, None, Entered}, ReasonCycleAborted, 4},
		{"two aborts three hours apart: under the count", []step{{"A", 0}, {"A", 180}},
			[]Event{None, None}, "", 2},
		{"third abort after the floor quarantines", []step{{"A", 0}, {"A", 60}, {"A", 121}},
			[]Event{None, None, Entered}, ReasonCycleAborted, 3},
		{"a success resets the streak", []step{{"A", 0}, {"A", 40}, {"S", 80}, {"A", 120}, {"A", 160}},
			[]Event{None, None, None, None, None}, "", 2},
		{"still aborted in quarantine", []step{{"A", 0}, {"A", 60}, {"A", 121}, {"A", 481}},
			[]Event{None, None, Entered, StillQuarantined}, ReasonCycleAborted, 4},
		{"a success lifts it", []step{{"A", 0}, {"A", 60}, {"A", 121}, {"S", 481}},
			[]Event{None, None, Entered, Lifted}, "", 0},
		{"a damaged state file does not count", []step{{"D", 0}, {"D", 60}, {"D", 121}, {"D", 300}},
			[]Event{None, None, None, None}, "", 0},
		{"damage keeps an outage streak as it was", []step{{"A", 0}, {"A", 60}, {"D", 121}, {"D", 200}},
			[]Event{None, None, None, None}, "", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var q *store.Quarantine
			var streak store.AbortStreak
			for i, st := range tc.steps {
				now := t0.Add(time.Duration(st.at) * time.Minute)
				out := Outcome{Streak: streak}
				switch st.kind {
				case "A":
					out.Aborted, out.Err = true, outage
				case "D":
					out.Aborted, out.Err = true, damaged
				case "S":
					out.Succeeded = 10
				}
				var ev Event
				q, ev = Judge(q, out, now)
				streak = NextStreak(out, now)
				if ev != tc.want[i] {
					t.Errorf("step %d (%s at +%dm): event %v, want %v", i, st.kind, st.at, ev, tc.want[i])
				}
			}
			reason := ""
			if q != nil {
				reason = q.Reason
			}
			if reason != tc.reason || streak.Count != tc.count {
				t.Errorf("after the steps: reason %q, streak %d; want %q, %d", reason, streak.Count, tc.reason, tc.count)
			}
			if q != nil && q.Reason == ReasonCycleAborted {
				if !strings.Contains(q.Error, "i/o timeout") || !strings.Contains(q.Error, "since 2026-03-02T08:00:00Z") {
					t.Errorf("quarantine error should give the first abort and the last error: %q", q.Error)
				}
			}
		})
	}
}

// TestAbortStreakKeepsOtherReasons: an outage during a quarantine for another reason keeps that reason,
// as before the streak existed.
func TestAbortStreakKeepsOtherReasons(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	q := &store.Quarantine{Reason: ReasonQuarantineException, SeriesBegan: t0, CurrentBegan: t0, Error: "401"}
	streak := store.AbortStreak{Count: 5, Since: t0}
	out := Outcome{Aborted: true, Err: errors.New("timeout"), Streak: streak}
	next, ev := Judge(q, out, t0.Add(6*time.Hour))
	if ev != StillQuarantined || next.Reason != ReasonQuarantineException || next.Error != "401" {
		t.Errorf("got %v %+v", ev, next)
	}
}
