package scimclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
)

func TestBreakerOpensOnUnreachableTarget(t *testing.T) {
	const retries, threshold = 2, 3
	addr, accepted := scimserver.Silent(t)
	for name, base := range map[string]string{"connection refused": scimserver.ClosedAddr(t), "accepts, never answers": addr} {
		t.Run(name, func(t *testing.T) {
			c, err := scimclient.New(scimclient.Options{BaseURL: "http://" + base + "/scim", Token: token, MaxRetries: retries,
				RetryInitialInterval: time.Millisecond, Timeout: 20 * time.Millisecond, BreakerThreshold: threshold})
			if err != nil {
				t.Fatal(err)
			}
			before := accepted()
			ctx := context.Background()
			for i := 1; i <= 10; i++ {
				err := c.PatchUser(ctx, "u1", scimclient.UserPatch(0, []scimclient.Change{{Path: "title", Value: "t"}}))
				if !errors.Is(err, scimclient.ErrTransient) {
					t.Fatalf("request %d: err = %v, want ErrTransient", i, err)
				}
				if got, want := errors.Is(err, scimclient.ErrTargetUnreachable), i >= threshold; got != want {
					t.Fatalf("request %d: ErrTargetUnreachable = %v, want %v (%v)", i, got, want, err)
				}
				var ue *scimclient.UnreachableError
				if i >= threshold && (!errors.As(err, &ue) || ue.Sent != (i == threshold) || ue.Failures != threshold) {
					t.Fatalf("request %d: %#v", i, err)
				}
				if strings.Contains(err.Error(), token) {
					t.Fatal("token leaked")
				}
			}
			// threshold requests of 1+retries attempts reached the network; 7 were refused unsent.
			if s := c.Stats(); s.Requests != threshold*(1+retries) || s.Unsent != 10-threshold {
				t.Fatalf("attempts %d, unsent %d", s.Requests, s.Unsent)
			}
			if name == "accepts, never answers" && accepted()-before != threshold*(1+retries) {
				t.Fatalf("the listener accepted %d connections, want %d", accepted()-before, threshold*(1+retries))
			}
			// A new cycle: the breaker is closed again and the next request goes out.
			c.ResetBreaker()
			_, err = c.GetUser(ctx, "u1")
			if errors.Is(err, scimclient.ErrTargetUnreachable) || c.Stats().Requests != (threshold+1)*(1+retries) {
				t.Fatalf("after reset: %v, attempts %d", err, c.Stats().Requests)
			}
		})
	}
}

// TestBreakerCounts: only consecutive failures that say "not there" count; any answer resets.
func TestBreakerCounts(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // one request each, in order; 0 = dropped connection
		opens    bool
	}{
		{"three 502", []int{502, 503, 504}, true},
		{"three dropped connections", []int{0, 0, 0}, true},
		{"a success in between", []int{502, 0, 200, 503, 504}, false},
		{"a 404 answer in between", []int{502, 503, 404, 504, 0}, false},
		{"a 429 answer in between", []int{502, 503, 429, 504, 0}, false},
		{"500 is an answer", []int{500, 500, 500, 500}, false},
		{"408 is an answer", []int{408, 408, 408}, false},
		{"open after the third in a row", []int{502, 200, 502, 503, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The script is indexed by the request's filter value, not by arrival: Go's transport
			// itself resends a GET once when a kept-alive connection drops.
			fault := func(r *http.Request) *scimserver.Fault {
				f := r.URL.Query().Get("filter")
				i, err := strconv.Atoi(f[strings.Index(f, `"`)+1 : len(f)-1])
				if err != nil || i >= len(tt.statuses) {
					t.Errorf("unexpected request %q", f)
					return &scimserver.Fault{Status: 500}
				}
				switch s := tt.statuses[i]; s {
				case 0:
					return &scimserver.Fault{Drop: true}
				case 200:
					return nil
				default:
					return &scimserver.Fault{Status: s}
				}
			}
			_, c := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{MaxRetries: -1})
			var opened bool
			for i := range tt.statuses {
				_, err := c.FindUsers(context.Background(), "userName", strconv.Itoa(i))
				opened = opened || errors.Is(err, scimclient.ErrTargetUnreachable)
			}
			if opened != tt.opens {
				t.Fatalf("breaker opened = %v, want %v", opened, tt.opens)
			}
		})
	}
}

// TestBreakerCutsRequestsInFlight: when the breaker opens, a request hanging on a silent target and a
// request sleeping on Retry-After end at once instead of after their timeout and wait.
func TestBreakerCutsRequestsInFlight(t *testing.T) {
	hanging := make(chan struct{})
	retried := make(chan struct{}, 1)
	release := make(chan struct{})
	var afterOpen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/hang"):
			close(hanging)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case strings.HasSuffix(r.URL.Path, "/later"):
			w.Header().Set("Retry-After", "50")
			w.WriteHeader(http.StatusServiceUnavailable)
			select {
			case retried <- struct{}{}:
			default:
				afterOpen.Add(1) // a second attempt: the sleep was not cut short
			}
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := scimclient.New(scimclient.Options{BaseURL: srv.URL + "/scim", Token: token, MaxRetries: 1, Timeout: time.Hour,
		RetryInitialInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := make(chan error, 2)
	go func() { _, err := c.GetUser(ctx, "hang"); errs <- err }()
	go func() { _, err := c.GetUser(ctx, "later"); errs <- err }()
	<-hanging
	<-retried
	for i := range scimclient.DefaultBreakerThreshold {
		// A POST answered 502 is not retried: each one is a failed request at once.
		if _, err := c.CreateUser(ctx, gongUser("x@x")); errors.Is(err, scimclient.ErrTargetUnreachable) != (i == scimclient.DefaultBreakerThreshold-1) {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, scimclient.ErrTargetUnreachable) {
			t.Fatalf("request in flight: %v", err)
		}
	}
	if afterOpen.Load() != 0 {
		t.Fatal("the Retry-After sleep was not cut short")
	}
}
