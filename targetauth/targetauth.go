// Package targetauth obtains the bearer token scimsync sends to a SCIM target: a static token, or an
// OAuth 2.0 access token from the client credentials grant or from a refresh token that `scimsync
// authorize` obtained with the authorization code grant (RFC 6749, PKCE per RFC 7636, loopback
// redirect per RFC 8252). It speaks OAuth through golang.org/x/oauth2.
//
// A token source caches the access token until shortly before it expires, fetches one token at a time
// however many requests wait for it, and drops the cached token when the target answers 401 with it
// (Invalidate), so the SCIM client retries that request once with a fresh one.
//
// Refresh tokens are single-use at many providers (rotation): the response to a refresh carries the
// next refresh token, and the old one is dead. AuthorizationCode therefore writes a rotated refresh
// token to the job's state file, durably, before it hands out the access token that came with it. A
// crash before that write loses the new refresh token (the provider has consumed the old one, and a
// provider with reuse detection revokes the grant when it comes back): the next refresh answers
// invalid_grant, the job is quarantined with ErrRevoked, and the admin runs `scimsync authorize` again.
// A crash after the write loses nothing.
package targetauth

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// maxMargin is how long before its expiry a cached access token is replaced. Tokens that live less
// than four times this are replaced when a quarter of their life is left, so a 60-second token is not
// refreshed on every request.
const maxMargin = time.Minute

// Static is a bearer token from the configuration.
type Static string

// Token returns the configured token.
func (s Static) Token(context.Context) (string, error) { return string(s), nil }

// Invalidate reports that no other token can come: a static token cannot be renewed, so a 401 stays a 401.
func (Static) Invalidate(string) bool { return false }

// fetcher obtains a new token: the grant-specific half of a source.
type fetcher interface {
	fetch(ctx context.Context) (*oauth2.Token, error)
}

// cache is the grant-independent half: the cached token, its expiry, one fetch at a time.
type cache struct {
	grant fetcher
	// now is the clock; tests replace it to cross an expiry without waiting.
	now func() time.Time
	// sem admits one fetch at a time; a channel rather than a mutex so a waiter can give up when its
	// context ends.
	sem chan struct{}

	mu     sync.Mutex
	tok    *oauth2.Token
	margin time.Duration
	// fetches counts token requests, for tests and status.
	fetches int
}

func newCache(g fetcher) *cache {
	return &cache{grant: g, now: time.Now, sem: make(chan struct{}, 1)}
}

// valid reports whether the cached token may still be used.
func (c *cache) valid() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil || c.tok.AccessToken == "" {
		return "", false
	}
	if !c.tok.Expiry.IsZero() && !c.now().Add(c.margin).Before(c.tok.Expiry) {
		return "", false
	}
	return c.tok.AccessToken, true
}

// Token returns a valid access token, fetching one when the cached token is missing, expiring or was
// invalidated.
func (c *cache) Token(ctx context.Context) (string, error) {
	if t, ok := c.valid(); ok {
		return t, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.sem }()
	// Another caller may have fetched while this one waited.
	if t, ok := c.valid(); ok {
		return t, nil
	}
	start := c.now()
	tok, err := c.grant.fetch(ctx)
	if err != nil {
		return "", err
	}
	if tok.AccessToken == "" {
		return "", &Error{Kind: ErrClient, Detail: "the token response has no access_token"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetches++
	c.tok = tok
	c.margin = maxMargin
	if !tok.Expiry.IsZero() {
		if life := tok.Expiry.Sub(start); life < 4*maxMargin {
			c.margin = max(life/4, 0)
		}
	}
	return tok.AccessToken, nil
}

// Invalidate drops the cached token if it is still token, the one the target refused; a token
// refreshed meanwhile by another request stays. It reports true: the next Token brings another.
func (c *cache) Invalidate(token string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.tok.AccessToken == token {
		c.tok = nil
	}
	return true
}

// Fetches is the number of tokens obtained so far.
func (c *cache) Fetches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}

// SetClock replaces the clock; for tests that cross an expiry.
func (c *cache) SetClock(now func() time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// classify turns x/oauth2's error into an *Error, keeping the response body (which x/oauth2 quotes in
// its text) out of it.
func classify(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &Error{Code: re.ErrorCode, Detail: oneLine(re.ErrorDescription, 300)}
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		switch {
		case re.ErrorCode == "invalid_grant":
			e.Kind = ErrRevoked
		case re.ErrorCode != "":
			e.Kind = ErrClient
		case e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout:
			e.Kind = ErrUnavailable
		default:
			e.Kind = ErrClient
			if e.Detail == "" {
				e.Detail = "the answer is not an OAuth 2.0 token response"
			}
		}
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// A transport error: x/oauth2 wraps a *url.Error that names the token URL, which holds no secret.
	return &Error{Kind: ErrUnavailable, Detail: oneLine(err.Error(), 300)}
}

func oneLine(s string, n int) string {
	b := []rune(s)
	for i, r := range b {
		if r < 0x20 || r == 0x7f {
			b[i] = ' '
		}
	}
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// withClient gives x/oauth2 the HTTP client (CA bundle, timeout) to use for the token endpoint.
func withClient(ctx context.Context, hc *http.Client) context.Context {
	if hc == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}
