package scimclient_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
)

func TestAdaptiveClientHalvesOn429(t *testing.T) {
	var posts atomic.Int64
	srv, c := setup(t, scimserver.Options{Fault: func(r *http.Request) *scimserver.Fault {
		if r.Method == http.MethodPost && posts.Add(1) == 1 {
			return &scimserver.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0.01"}
		}
		return nil
	}}, scimclient.Options{Concurrency: 4, MaxConcurrency: 8})
	if got := c.ConcurrencyLimit(); got != 4 {
		t.Fatalf("limit before = %d, want the configured concurrency 4", got)
	}
	if _, err := c.CreateUser(context.Background(), gongUser("ada@contoso.com")); err != nil {
		t.Fatal(err)
	}
	if got := c.ConcurrencyLimit(); got != 2 {
		t.Fatalf("limit after a 429 = %d, want 2", got)
	}
	if srv.UserByName("ada@contoso.com") == nil || posts.Load() != 2 {
		t.Fatalf("user not created by the retry (%d POSTs)", posts.Load())
	}
}

func TestAdaptiveOffByDefault(t *testing.T) {
	_, c := setup(t, scimserver.Options{}, scimclient.Options{Concurrency: 4})
	if got := c.ConcurrencyLimit(); got != 0 {
		t.Fatalf("limit = %d, want 0 (off)", got)
	}
}

func TestAdaptiveMaxBelowConcurrency(t *testing.T) {
	_, err := scimclient.New(scimclient.Options{BaseURL: "https://example.com/scim", Concurrency: 8, MaxConcurrency: 4})
	if err == nil || !strings.Contains(err.Error(), "max concurrency 4 is below the concurrency 8") {
		t.Fatalf("err = %v, want the two numbers named", err)
	}
}

func TestAdaptivePauseCappedByMaxRetryWait(t *testing.T) {
	var posts atomic.Int64
	_, c := setup(t, scimserver.Options{Fault: func(r *http.Request) *scimserver.Fault {
		if r.Method == http.MethodPost && posts.Add(1) == 1 {
			return &scimserver.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3600"}
		}
		return nil
	}}, scimclient.Options{Concurrency: 4, MaxConcurrency: 8, MaxRetryWait: 20 * time.Millisecond})
	_, err := c.CreateUser(context.Background(), gongUser("ada@contoso.com"))
	if !errors.Is(err, scimclient.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled (Retry-After over MaxRetryWait)", err)
	}
	// The shared pause lasts MaxRetryWait, not the hour asked: the next request goes out. The deadline
	// only stops a broken run from hanging.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.CreateUser(ctx, gongUser("bob@contoso.com")); err != nil {
		t.Fatalf("request after the capped pause: %v", err)
	}
}
