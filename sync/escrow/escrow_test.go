package escrow

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func scimErr(kind error, status int) error {
	return fmt.Errorf("user u1: create: %w", &scimclient.Error{Kind: kind, Status: status, Method: "POST", Path: "/Users"})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		class  Class
		code   string
		remedy Remedy
	}{
		{"not found", scimErr(scimclient.ErrNotFound, 404), NotFound, "InvalidAnchor", Rematch},
		{"conflict", scimErr(scimclient.ErrConflict, 409), Conflict, "EntryConflict", Rematch},
		{"throttled", scimErr(scimclient.ErrThrottled, 429), Throttled, "TooManyRequests", Retry},
		{"unauthorized 401", scimErr(scimclient.ErrUnauthorized, 401), Unauthorized, "Unauthorized", QuarantineJob},
		{"unauthorized 403", scimErr(scimclient.ErrUnauthorized, 403), Unauthorized, "InsufficientRights", QuarantineJob},
		{"compliance", scimErr(scimclient.ErrCompliance, 200), Compliance,
			"SystemForCrossDomainIdentityManagementServiceIncompatible", QuarantineJob},
		{"compliance 501", scimErr(scimclient.ErrCompliance, 501), Compliance, "NotImplemented", QuarantineJob},
		{"transient 500", scimErr(scimclient.ErrTransient, 500), Transient, "InternalServerError", Retry},
		{"transient transport", scimErr(scimclient.ErrTransient, 0), Transient, "Timeout", Retry},
		{"transient 408", scimErr(scimclient.ErrTransient, 408), Transient, "Timeout", Retry},
		{"bare sentinel wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", scimclient.ErrTransient)), Transient,
			"InternalServerError", Retry},
		{"deadline", fmt.Errorf("patch: %w", context.DeadlineExceeded), Transient, "Timeout", Retry},
		{"invalid 400", scimErr(scimclient.ErrInvalid, 400), InvalidData, "InvalidData", Retry},
		{"mapping error", fmt.Errorf("mapping displayName: %w", ErrInvalidData), InvalidData, "InvalidData", Retry},
		{"duplicate target entries", fmt.Errorf("match u1: %w", ErrDuplicateTargetEntries), InvalidData,
			"DuplicateTargetEntries", Retry},
		{"unknown", errors.New("boom"), Unknown, "Unknown", Retry},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), Unknown, "Cancelled", Retry},
		{"cancelled in flight", errors.Join(scimErr(scimclient.ErrTransient, 0), context.Canceled), Transient, "Cancelled", Retry},
		{"nil", nil, Unknown, "Unknown", Retry},
		{"joined: job-level wins", errors.Join(scimErr(scimclient.ErrTransient, 503), scimErr(scimclient.ErrUnauthorized, 401)),
			Unauthorized, "Unauthorized", QuarantineJob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Classify(tt.err)
			if c != tt.class {
				t.Fatalf("Classify = %v, want %v", c, tt.class)
			}
			if got := Code(tt.err); got != tt.code {
				t.Errorf("Code = %q, want %q", got, tt.code)
			}
			if got := Action(c); got != tt.remedy {
				t.Errorf("Action = %v, want %v", got, tt.remedy)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		c    Class
		want string
	}{
		{Unknown, "Unknown"},
		{Throttled, "TooManyRequests"},
		{Transient, "InternalServerError"},
		{Conflict, "EntryConflict"},
		{NotFound, "InvalidAnchor"},
		{Unauthorized, "Unauthorized"},
		{Compliance, "SystemForCrossDomainIdentityManagementServiceIncompatible"},
		{InvalidData, "InvalidData"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", int(tt.c), got, tt.want)
		}
		if got := ParseClass(tt.want); got != tt.c {
			t.Errorf("ParseClass(%q) = %v, want %v", tt.want, got, tt.c)
		}
	}
	if got := Class(99).String(); got != "Class(99)" {
		t.Errorf("Class(99).String() = %q", got)
	}
	if got := ParseClass("transient"); got != Unknown {
		t.Errorf("ParseClass(unknown name) = %v, want Unknown", got)
	}
	for r, want := range map[Remedy]string{Retry: "retry", Rematch: "rematch", QuarantineJob: "quarantine-job", Remedy(7): "Remedy(7)"} {
		if got := r.String(); got != want {
			t.Errorf("Remedy %d = %q, want %q", int(r), got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	h := time.Hour
	tests := []struct {
		c    Class
		want []time.Duration // after attempts 1, 2, 3, ...
	}{
		{Throttled, []time.Duration{0, 0, 0, 0, 0, 0, 0}},
		{Transient, []time.Duration{0, 0, 0, 0, 0, 0, 0}},
		{Unauthorized, []time.Duration{0, 0, 0}},
		{Compliance, []time.Duration{0, 0, 0}},
		{InvalidData, []time.Duration{0, 2 * h, 4 * h, 8 * h, 16 * h, 24 * h, 24 * h, 24 * h}},
		{Conflict, []time.Duration{0, 2 * h, 4 * h, 8 * h, 16 * h, 24 * h}},
		{NotFound, []time.Duration{0, 2 * h, 4 * h}},
		{Unknown, []time.Duration{0, 2 * h, 4 * h, 8 * h, 16 * h, 24 * h}},
	}
	for _, tt := range tests {
		for i, want := range tt.want {
			if got := Backoff(tt.c, i+1); got != want {
				t.Errorf("Backoff(%v, %d) = %v, want %v", tt.c, i+1, got, want)
			}
		}
	}
	if got := Backoff(InvalidData, 1000); got != MaxBackoff {
		t.Errorf("Backoff(InvalidData, 1000) = %v, want the cap (no overflow)", got)
	}
}

// TestNextSequence follows one object failing cycle after cycle (cycles every 40 minutes, the engine
// retrying only when DueAt says so) and checks attempts, the kept first failure and every next retry.
func TestNextSequence(t *testing.T) {
	h := time.Hour
	type step struct {
		at      time.Duration // since t0
		class   Class
		due     bool // DueAt before this failure (first row: no escrow yet)
		attempt int
		next    time.Duration // NextRetry after this failure, since t0
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"transient: every cycle", []step{
			{0, Transient, true, 1, 0},
			{40 * time.Minute, Transient, true, 2, 40 * time.Minute},
			{80 * time.Minute, Throttled, true, 3, 80 * time.Minute},
		}},
		{"invalid data: next cycle, 2h, 4h, 8h, 16h, 24h", []step{
			{0, InvalidData, true, 1, 0},
			{40 * time.Minute, InvalidData, true, 2, 40*time.Minute + 2*h},
			{2 * h, InvalidData, false, 2, 40*time.Minute + 2*h}, // not due: not retried, no new failure
			{2*h + 40*time.Minute, InvalidData, true, 3, 6*h + 40*time.Minute},
			{6*h + 40*time.Minute, InvalidData, true, 4, 14*h + 40*time.Minute},
			{14*h + 40*time.Minute, InvalidData, true, 5, 30*h + 40*time.Minute},
			{30*h + 40*time.Minute, InvalidData, true, 6, 54*h + 40*time.Minute},
			{54*h + 40*time.Minute, InvalidData, true, 7, 78*h + 40*time.Minute},
		}},
		{"class flaps: backoff follows attempts", []step{
			{0, Transient, true, 1, 0},
			{40 * time.Minute, Transient, true, 2, 40 * time.Minute},
			{80 * time.Minute, Conflict, true, 3, 80*time.Minute + 4*h},
			{80*time.Minute + 4*h, Transient, true, 4, 80*time.Minute + 4*h},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev *store.Escrow
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				if prev != nil {
					if got := DueAt(*prev, now); got != s.due {
						t.Fatalf("step %d: DueAt = %v, want %v", i, got, s.due)
					}
					if !s.due {
						continue
					}
				}
				e := Next(prev, store.KindUser, "u1", "update", s.class, "err "+s.class.String(), now)
				if e.Attempts != s.attempt || !e.NextRetry.Equal(t0.Add(s.next)) {
					t.Fatalf("step %d: attempts %d, next +%v; want %d, +%v", i, e.Attempts, e.NextRetry.Sub(t0), s.attempt, s.next)
				}
				if !e.FirstFailed.Equal(t0) || !e.LastFailed.Equal(now) {
					t.Fatalf("step %d: first %v, last %v", i, e.FirstFailed, e.LastFailed)
				}
				if e.ErrorClass != s.class.String() || e.Error != "err "+s.class.String() ||
					e.Kind != store.KindUser || e.SourceID != "u1" || e.Op != "update" {
					t.Fatalf("step %d: escrow %+v", i, e)
				}
				prev = &e
			}
		})
	}
}

func TestNextFields(t *testing.T) {
	prev := store.Escrow{Kind: store.KindUser, SourceID: "u1", Op: "create", Attempts: 3,
		FirstFailed: t0, LastFailed: t0.Add(time.Hour), NextRetry: t0.Add(5 * time.Hour), ErrorClass: "EntryConflict"}
	now := t0.Add(6 * time.Hour)
	got := Next(&prev, store.KindUser, "u1", "update", NotFound, "404", now)
	want := store.Escrow{Kind: store.KindUser, SourceID: "u1", Op: "update", Attempts: 4, FirstFailed: t0,
		LastFailed: now, NextRetry: now.Add(8 * time.Hour), ErrorClass: "InvalidAnchor", Error: "404"}
	if got != want {
		t.Errorf("Next = %+v\nwant   %+v", got, want)
	}
	if prev.Attempts != 3 || prev.Op != "create" {
		t.Errorf("Next modified prev: %+v", prev)
	}
	// A stored escrow without FirstFailed (older state) starts its 28 days now.
	got = Next(&store.Escrow{Attempts: 2}, store.KindGroup, "g1", "members", Transient, "503", now)
	if !got.FirstFailed.Equal(now) || got.Attempts != 3 {
		t.Errorf("Next without FirstFailed = %+v", got)
	}
}

func TestDueAtExpired(t *testing.T) {
	e := store.Escrow{FirstFailed: t0, NextRetry: t0.Add(2 * time.Hour)}
	tests := []struct {
		now          time.Duration
		due, expired bool
	}{
		{0, false, false},
		{2*time.Hour - time.Nanosecond, false, false},
		{2 * time.Hour, true, false},
		{27 * 24 * time.Hour, true, false},
		{28*24*time.Hour - time.Nanosecond, true, false},
		{28 * 24 * time.Hour, true, true},
		{40 * 24 * time.Hour, true, true},
	}
	for _, tt := range tests {
		now := t0.Add(tt.now)
		if got := DueAt(e, now); got != tt.due {
			t.Errorf("DueAt(+%v) = %v, want %v", tt.now, got, tt.due)
		}
		if got := Expired(e, now); got != tt.expired {
			t.Errorf("Expired(+%v) = %v, want %v", tt.now, got, tt.expired)
		}
	}
	if Expired(store.Escrow{}, t0) {
		t.Error("an escrow without FirstFailed never expires")
	}
	if !DueAt(store.Escrow{}, t0) {
		t.Error("an escrow without NextRetry is due")
	}
}
