package scimclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// rotatingTokens hands out tok-1, tok-2, ... and records what was invalidated.
type rotatingTokens struct {
	mu          sync.Mutex
	n           int
	invalidated []string
	err         error
}

func (r *rotatingTokens) Token(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return "", r.err
	}
	return fmt.Sprintf("tok-%d", r.n+1), nil
}

func (r *rotatingTokens) Invalidate(t string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, t)
	r.n++
	return true
}

type transientErr struct{}

func (transientErr) Error() string   { return "token endpoint down" }
func (transientErr) Transient() bool { return true }

var errRevokedTest = errors.New("revoked")

// TestTokenSourceRenewsOnceOn401: a 401 makes the client invalidate exactly the refused token and
// resend once with the next; a second 401 stands (ErrUnauthorized), so a refused authorization cannot
// loop.
func TestTokenSourceRenewsOnceOn401(t *testing.T) {
	for _, tc := range []struct {
		name     string
		accept   string // the token the server accepts
		wantErr  error
		wantSent []string
	}{
		{"renewed token accepted", "tok-2", nil, []string{"tok-1", "tok-2"}},
		{"renewed token refused too", "none", ErrUnauthorized, []string{"tok-1", "tok-2"}},
		{"first token accepted", "tok-1", nil, []string{"tok-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var sent []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				sent = append(sent, r.Header.Get("Authorization")[len("Bearer "):])
				mu.Unlock()
				if r.Header.Get("Authorization") != "Bearer "+tc.accept {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			src := &rotatingTokens{}
			c, err := New(Options{BaseURL: srv.URL, Tokens: src, MaxRetries: 3, RetryInitialInterval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			err = c.DeleteUser(context.Background(), "u1")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if fmt.Sprint(sent) != fmt.Sprint(tc.wantSent) {
				t.Fatalf("sent %v, want %v", sent, tc.wantSent)
			}
			if len(sent) > 1 && (len(src.invalidated) != 1 || src.invalidated[0] != "tok-1") {
				t.Fatalf("invalidated %v, want [tok-1]", src.invalidated)
			}
			if err != nil && (strings.Contains(err.Error(), "tok-1") || strings.Contains(err.Error(), "tok-2")) {
				t.Fatalf("the error shows a token: %v", err)
			}
		})
	}
}

// TestStaticTokenNotResent: a static token cannot change, so a 401 is final after one request.
func TestStaticTokenNotResent(t *testing.T) {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	c, _ := New(Options{BaseURL: srv.URL, Token: "static-secret"})
	err := c.DeleteUser(context.Background(), "u1")
	if !errors.Is(err, ErrUnauthorized) || n != 1 {
		t.Fatalf("err %v after %d requests; want ErrUnauthorized after 1", err, n)
	}
}

// TestTokenSourceFailure: a transient token failure is ErrTransient and retried; any other is
// ErrUnauthorized and wraps the source's error, and nothing is sent without a token.
func TestTokenSourceFailure(t *testing.T) {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n++ }))
	defer srv.Close()
	for _, tc := range []struct {
		err      error
		kind     error
		attempts int
	}{{transientErr{}, ErrTransient, 3}, {errRevokedTest, ErrUnauthorized, 1}} {
		src := &rotatingTokens{err: tc.err}
		c, _ := New(Options{BaseURL: srv.URL, Tokens: src, MaxRetries: 2, RetryInitialInterval: time.Millisecond, BreakerThreshold: -1})
		err := c.DeleteUser(context.Background(), "u1")
		var e *Error
		if !errors.Is(err, tc.kind) || !errors.Is(err, tc.err) || !errors.As(err, &e) || e.Attempts != tc.attempts {
			t.Errorf("token error %v: got %v (attempts %d); want kind %v wrapping it after %d attempts", tc.err, err, e.Attempts, tc.kind, tc.attempts)
		}
	}
	if n != 0 {
		t.Fatalf("%d requests sent without a token", n)
	}
}
