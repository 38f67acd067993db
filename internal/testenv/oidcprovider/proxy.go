//go:build linux || darwin

package oidcprovider

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// Guard is a reverse proxy in front of a SCIM target that accepts only access tokens the provider
// issued and still considers active, checked on every request by RFC 7662 introspection. It replaces
// the Authorization header with the target's own token, so the target behind it needs no OAuth. It can
// hold the next request, so a test can kill scimsync while it waits for the answer.
type Guard struct {
	p      *Provider
	srv    *httptest.Server
	proxy  *httputil.ReverseProxy
	token  string
	mu     sync.Mutex
	seen   map[string]int // access token -> requests accepted with it
	denied int
	hold   chan string // armed: the next accepted request sends its token here and hangs
	// expireAfter, when positive, counts accepted requests down; at zero the provider forgets every
	// access token, as if they had all expired at that moment.
	expireAfter int
}

// ExpireAfter makes every access token expire (at the provider) once n more requests have been
// accepted: a deterministic stand-in for a token that expires in the middle of a cycle.
func (g *Guard) ExpireAfter(n int) {
	g.mu.Lock()
	g.expireAfter = n
	g.mu.Unlock()
}

// NewGuard starts the proxy on 127.0.0.1 in front of targetURL (a SCIM base URL), sending targetToken
// to the target.
func NewGuard(p *Provider, targetURL, targetToken string) *Guard {
	u, err := url.Parse(targetURL)
	if err != nil {
		panic(err)
	}
	g := &Guard{p: p, token: targetToken, seen: map[string]int{}}
	g.proxy = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: u.Scheme, Host: u.Host})
		r.Out.URL.Path = u.Path + strings.TrimPrefix(r.In.URL.Path, "/scim")
		r.Out.URL.RawPath = ""
		r.Out.Header.Set("Authorization", "Bearer "+g.token)
	}}
	g.srv = httptest.NewServer(g)
	return g
}

// URL is the SCIM base URL scimsync should use.
func (g *Guard) URL() string { return g.srv.URL + "/scim" }

// Close stops the proxy.
func (g *Guard) Close() { g.srv.CloseClientConnections(); g.srv.Close() }

// Tokens returns how many distinct access tokens the target accepted, and how many requests it
// refused.
func (g *Guard) Tokens() (accepted, denied int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen), g.denied
}

// AcceptedTokens returns the accepted access tokens, for tests that grep scimsync's output for them.
func (g *Guard) AcceptedTokens() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.seen))
	for t := range g.seen {
		out = append(out, t)
	}
	return out
}

// HoldNext arms the guard: the next request with a valid token is not forwarded; its token is sent on
// the returned channel and the request hangs until the client goes away.
func (g *Guard) HoldNext() <-chan string {
	ch := make(chan string, 1)
	g.mu.Lock()
	g.hold = ch
	g.mu.Unlock()
	return ch
}

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !g.p.active(r.Context(), tok) {
		g.mu.Lock()
		g.denied++
		g.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"invalid token"}`)
		return
	}
	g.mu.Lock()
	g.seen[tok]++
	hold := g.hold
	g.hold = nil
	expire := false
	if g.expireAfter > 0 {
		g.expireAfter--
		expire = g.expireAfter == 0
	}
	g.mu.Unlock()
	if hold != nil {
		hold <- tok
		<-r.Context().Done()
		return
	}
	g.proxy.ServeHTTP(w, r)
	if expire {
		_ = g.p.ExpireAccessTokens(context.WithoutCancel(r.Context()))
	}
}

// active asks the provider whether token is an active access token (RFC 7662 §2).
func (p *Provider) active(ctx context.Context, token string) bool {
	if token == "" {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.issuer+"/token/introspection",
		strings.NewReader(url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()))
	if err != nil {
		return false
	}
	req.SetBasicAuth(resourceServer, p.secrets[resourceServer])
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Active    bool   `json:"active"`
		TokenType string `json:"token_type"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return false
	}
	return out.Active && out.TokenType != "refresh_token"
}

// Gate is a reverse proxy in front of the provider's token endpoint that can hold the response to the
// next refresh: the provider has answered (and rotated the refresh token), but the client does not get
// the answer until the test lets it, or never, when the test kills the client meanwhile.
type Gate struct {
	p   *Provider
	srv *httptest.Server
	mu  sync.Mutex
	// hold: armed; the next refresh_token response is reported here and withheld.
	hold chan struct{}
}

// NewGate starts the gate on 127.0.0.1.
func NewGate(p *Provider) *Gate {
	g := &Gate{p: p}
	u, _ := url.Parse(p.issuer)
	rp := httputil.NewSingleHostReverseProxy(u)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		g.mu.Lock()
		hold := g.hold
		if form.Get("grant_type") != "refresh_token" {
			hold = nil
		} else {
			g.hold = nil
		}
		g.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
		if hold == nil {
			rp.ServeHTTP(w, r)
			return
		}
		// Let the provider answer, then withhold its answer.
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		close(hold)
		<-r.Context().Done()
	}))
	return g
}

// TokenURL is the token endpoint behind the gate.
func (g *Gate) TokenURL() string { return g.srv.URL + "/token" }

// HoldNextRefresh arms the gate; the returned channel closes when the provider has answered the next
// refresh and the answer is being withheld.
func (g *Gate) HoldNextRefresh() <-chan struct{} {
	ch := make(chan struct{})
	g.mu.Lock()
	g.hold = ch
	g.mu.Unlock()
	return ch
}

// Close stops the gate.
func (g *Gate) Close() { g.srv.CloseClientConnections(); g.srv.Close() }
