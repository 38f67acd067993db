package scimclient

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/scimsync/scimsync/scimclient/internal/wire"
)

// TestRetryClassifier has one row per status code, as Alertmanager's Retrier test: which failures are
// retried for an idempotent request and for a POST, and which kind the caller sees.
func TestRetryClassifier(t *testing.T) {
	tests := []struct {
		status    int
		kind      error
		retry     bool // GET, PATCH, DELETE
		retryPost bool
	}{
		{301, ErrCompliance, false, false},
		{302, ErrCompliance, false, false},
		{400, ErrInvalid, false, false},
		{401, ErrUnauthorized, false, false},
		{403, ErrUnauthorized, false, false},
		{404, ErrNotFound, false, false},
		{405, ErrInvalid, false, false},
		{408, ErrTransient, true, false},
		{409, ErrConflict, false, false},
		{412, ErrConflict, false, false},
		{413, ErrInvalid, false, false},
		{415, ErrInvalid, false, false},
		{422, ErrInvalid, false, false},
		{429, ErrThrottled, true, true},
		{500, ErrTransient, true, false},
		{501, ErrCompliance, false, false},
		{502, ErrTransient, true, false},
		{503, ErrTransient, true, true},
		{504, ErrTransient, true, false},
		{505, ErrCompliance, false, false},
		{507, ErrTransient, true, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			if got := kindForStatus(tt.status); got != tt.kind {
				t.Errorf("kind = %v, want %v", got, tt.kind)
			}
			for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
				if got := wire.Retryable(m, tt.status, false, false); got != tt.retry {
					t.Errorf("%s wire.Retryable = %v, want %v", m, got, tt.retry)
				}
			}
			if got := wire.Retryable(http.MethodPost, tt.status, false, false); got != tt.retryPost {
				t.Errorf("POST wire.Retryable = %v, want %v", got, tt.retryPost)
			}
		})
	}
	transport := []struct {
		name          string
		method        string
		refused, want bool
	}{
		{"GET reset", http.MethodGet, false, true},
		{"PATCH timeout", http.MethodPatch, false, true},
		{"POST refused: never arrived", http.MethodPost, true, true},
		{"POST reset: may have been created", http.MethodPost, false, false},
	}
	for _, tt := range transport {
		if got := wire.Retryable(tt.method, 0, true, tt.refused); got != tt.want {
			t.Errorf("%s: wire.Retryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"2", 2 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0.25", 250 * time.Millisecond},
		{"999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := wire.ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("wire.ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestErrorTyped(t *testing.T) {
	var err error = &Error{Kind: ErrConflict, Status: 409, ScimType: "uniqueness", Detail: "userName exists",
		Method: "PATCH", Path: "/Users/123"}
	wrapped := fmt.Errorf("update alice: %w", err)
	if !errors.Is(wrapped, ErrConflict) || errors.Is(wrapped, ErrNotFound) {
		t.Fatal("errors.Is does not see the kind")
	}
	var se *Error
	if !errors.As(wrapped, &se) || se.Status != 409 {
		t.Fatal("errors.As failed")
	}
	if KindOf(wrapped) != ErrConflict || KindOf(errors.New("x")) != nil {
		t.Fatal("KindOf")
	}
	if got, want := err.Error(), "PATCH /Users/123: 409 uniqueness: userName exists"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Kind: ErrNotFound, Status: 404, Method: "GET", Path: "/Users/1"}, "GET /Users/1: 404 Not Found"},
		{&Error{Kind: ErrTransient, Method: "POST", Path: "/Users", Detail: "connection refused"}, "POST /Users: transient failure: connection refused"},
		{&Error{Kind: ErrThrottled, Status: 429, Method: "GET", Path: "/Users", RetryAfter: time.Minute}, "GET /Users: 429 Too Many Requests (retry after 1m0s)"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestParseSCIMError(t *testing.T) {
	st, d := wire.ParseSCIMError([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":409,"scimType":"uniqueness","detail":"taken"}`))
	if st != "uniqueness" || d != "taken" {
		t.Errorf("got %q %q", st, d)
	}
	if _, d := wire.ParseSCIMError([]byte("<html>bad gateway</html>")); d != "<html>bad gateway</html>" {
		t.Errorf("non-JSON detail = %q", d)
	}
}
