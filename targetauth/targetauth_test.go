//go:build linux || darwin

package targetauth_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/internal/testenv/oidcprovider"
	"github.com/scimsync/scimsync/targetauth"
)

// The package's tests share one real authorization server.
var (
	provOnce sync.Once
	prov     *oidcprovider.Provider
	provErr  error
)

func provider(t *testing.T) *oidcprovider.Provider {
	t.Helper()
	provOnce.Do(func() { prov, provErr = oidcprovider.Start(context.Background(), oidcprovider.Options{}) })
	if provErr != nil {
		t.Fatalf("OAuth test server unavailable (needs node >= 20 and npm): %v", provErr)
	}
	return prov
}

func TestMain(m *testing.M) {
	code := m.Run()
	if prov != nil {
		prov.Close()
	}
	os.Exit(code)
}

// memStore is a RefreshStore in memory that records every write.
type memStore struct {
	mu     sync.Mutex
	token  string
	writes []string
	fail   error
}

func (m *memStore) RefreshToken() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.token == "" {
		return "", targetauth.ErrNotAuthorized
	}
	return m.token, nil
}

func (m *memStore) SetRefreshToken(t string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.token = t
	m.writes = append(m.writes, t)
	return nil
}

// checkToken asks the provider, through a guard's introspection, whether tok is an active access token.
func introspect(t *testing.T, p *oidcprovider.Provider, tok string) bool {
	t.Helper()
	g := oidcprovider.NewGuard(p, "http://127.0.0.1:1/scim", "x")
	defer g.Close()
	req, _ := http.NewRequest(http.MethodHead, g.URL()+"/nothing", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusUnauthorized
}

func TestClientCredentials(t *testing.T) {
	p := provider(t)
	ctx := context.Background()
	for _, tc := range []struct {
		id   string
		post bool
	}{{oidcprovider.CCBasic, false}, {oidcprovider.CCPost, true}} {
		t.Run(tc.id, func(t *testing.T) {
			src := targetauth.NewClientCredentials(targetauth.Client{TokenURL: p.TokenURL(), ClientID: tc.id,
				ClientSecret: p.Secret(tc.id), PostSecret: tc.post, Scopes: []string{oidcprovider.Scope}, Audience: "https://scim.example"})
			tok, err := src.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !introspect(t, p, tok) {
				t.Fatal("the provider does not consider the token active")
			}
			again, err := src.Token(ctx)
			if err != nil || again != tok || src.Fetches() != 1 {
				t.Fatalf("second Token: same=%t fetches=%d err=%v; want the cached token", again == tok, src.Fetches(), err)
			}
			if !src.Invalidate(tok) {
				t.Fatal("Invalidate says no other token can come")
			}
			fresh, err := src.Token(ctx)
			if err != nil || fresh == tok || src.Fetches() != 2 {
				t.Fatalf("after Invalidate: new=%t fetches=%d err=%v", fresh != tok, src.Fetches(), err)
			}
		})
	}
}

func TestClientCredentialsRefusedWithoutLeak(t *testing.T) {
	p := provider(t)
	const wrong = "wrong-secret-0123456789"
	src := targetauth.NewClientCredentials(targetauth.Client{TokenURL: p.TokenURL(), ClientID: oidcprovider.CCBasic,
		ClientSecret: wrong, Scopes: []string{oidcprovider.Scope}})
	_, err := src.Token(context.Background())
	var e *targetauth.Error
	if !errors.Is(err, targetauth.ErrClient) || !errors.As(err, &e) || e.Code != "invalid_client" || e.Transient() {
		t.Fatalf("err = %v; want ErrClient invalid_client, not transient", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("the error shows the secret: %v", err)
	}
	// A token endpoint that does not answer is transient.
	src = targetauth.NewClientCredentials(targetauth.Client{TokenURL: "http://127.0.0.1:1/token", ClientID: "c", ClientSecret: "s"})
	_, err = src.Token(context.Background())
	if !errors.Is(err, targetauth.ErrUnavailable) || !errors.As(err, &e) || !e.Transient() {
		t.Fatalf("unreachable endpoint: err = %v; want ErrUnavailable, transient", err)
	}
}

func acClient(p *oidcprovider.Provider, confidential bool) targetauth.Client {
	c := targetauth.Client{TokenURL: p.TokenURL(), AuthorizeURL: p.AuthorizeURL(), ClientID: oidcprovider.ACPublic,
		Scopes: []string{oidcprovider.Scope}}
	if confidential {
		c.ClientID, c.ClientSecret = oidcprovider.ACConfidential, p.Secret(oidcprovider.ACConfidential)
	}
	return c
}

// authorize runs the loopback flow, with the test as the admin's browser.
// authorizedSource is an authorization code source for p's client, authorized once and bound to a
// fresh store until the test ends.
func authorizedSource(t *testing.T, p *oidcprovider.Provider, confidential bool) (*targetauth.AuthorizationCode, *memStore) {
	t.Helper()
	c := acClient(p, confidential)
	st := &memStore{token: authorize(t, c)}
	src := targetauth.NewAuthorizationCode(c)
	t.Cleanup(src.Bind(st))
	return src, st
}

func authorize(t *testing.T, c targetauth.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	type res struct {
		rt  string
		err error
	}
	done := make(chan res, 1)
	go func() {
		rt, err := targetauth.Authorize(ctx, targetauth.AuthorizeOptions{Client: c, Port: 0, Out: pw})
		pw.Close()
		done <- res{rt, err}
	}()
	authURL := printedURL(t, pr)
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	redirect, err := oidcprovider.Consent(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	status, page, err := oidcprovider.Deliver(ctx, redirect)
	if err != nil || status != http.StatusOK {
		t.Fatalf("callback: %d %q %v", status, page, err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rt == "" {
		t.Fatal("no refresh token")
	}
	return r.rt
}

// printedURL reads the instructions up to the authorization URL (the indented line) and checks what it
// asks for: PKCE S256 and a state.
func printedURL(t *testing.T, r io.Reader) string {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "  "); ok && strings.HasPrefix(u, "http") {
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			q := pu.Query()
			if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 {
				t.Fatalf("authorization URL lacks PKCE S256 or state: %s", u)
			}
			if !strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") {
				t.Fatalf("redirect URI %q is not a 127.0.0.1 loopback", q.Get("redirect_uri"))
			}
			return u
		}
	}
	t.Fatalf("no URL printed: %v", sc.Err())
	return ""
}

func TestAuthorizationCodeRotation(t *testing.T) {
	p := provider(t)
	ctx := context.Background()
	for _, confidential := range []bool{false, true} {
		t.Run(map[bool]string{false: "public", true: "confidential"}[confidential], func(t *testing.T) {
			c := acClient(p, confidential)
			first := authorize(t, c)
			st := &memStore{token: first}
			src := targetauth.NewAuthorizationCode(c)
			if _, err := src.Token(ctx); !errors.Is(err, targetauth.ErrState) {
				t.Fatalf("unbound source: err %v, want ErrState", err)
			}
			release := src.Bind(st)
			defer release()
			tok, err := src.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !introspect(t, p, tok) {
				t.Fatal("the access token is not active at the provider")
			}
			if len(st.writes) != 1 || st.token == first {
				t.Fatalf("after a refresh: %d writes, rotated %t; want the rotated token written once", len(st.writes), st.token != first)
			}
			// A 401 at the target: the next Token refreshes again and rotates again.
			src.Invalidate(tok)
			second := st.token
			if _, err := src.Token(ctx); err != nil {
				t.Fatal(err)
			}
			if len(st.writes) != 2 || st.token == second {
				t.Fatalf("second refresh: %d writes", len(st.writes))
			}
			// Reuse detection: the first (rotated away) refresh token must fail, and the provider then
			// revokes the grant, so the current one fails too.
			old := &memStore{token: first}
			reuse := targetauth.NewAuthorizationCode(c)
			defer reuse.Bind(old)()
			_, err = reuse.Token(ctx)
			if !errors.Is(err, targetauth.ErrRevoked) {
				t.Fatalf("reusing a rotated refresh token: err %v, want ErrRevoked", err)
			}
			if strings.Contains(err.Error(), first) {
				t.Fatal("the error shows the refresh token")
			}
			src.Invalidate(tokOf(t, src, ctx))
			if _, err := src.Token(ctx); !errors.Is(err, targetauth.ErrRevoked) {
				t.Fatalf("after reuse detection the grant must be revoked: err %v", err)
			}
		})
	}
}

func tokOf(t *testing.T, src *targetauth.AuthorizationCode, ctx context.Context) string {
	t.Helper()
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthorizationCodeRefreshBeforeExpiry(t *testing.T) {
	p := provider(t)
	ctx := context.Background()
	src, _ := authorizedSource(t, p, false)
	now := time.Now()
	src.SetClock(func() time.Time { return now })
	first := tokOf(t, src, ctx)
	// The provider's tokens live 60 s and are replaced when a quarter of that is left: 30 s later the
	// token is still used; 59 s later, still valid, it is replaced. (The provider counts the 60 s from
	// its own clock, a little after this fake one, which only moves the expiry later.)
	now = now.Add(30 * time.Second)
	if tokOf(t, src, ctx) != first || src.Fetches() != 1 {
		t.Fatalf("token replaced too early: %d fetches", src.Fetches())
	}
	now = now.Add(29 * time.Second)
	if tokOf(t, src, ctx) == first || src.Fetches() != 2 {
		t.Fatalf("token not replaced before expiry: %d fetches", src.Fetches())
	}
}

func TestAuthorizationCodeOneRefreshAtATime(t *testing.T) {
	p := provider(t)
	ctx := context.Background()
	src, st := authorizedSource(t, p, false)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := src.Token(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// One refresh: a second concurrent one would have reused the consumed token and revoked the grant.
	if src.Fetches() != 1 || len(st.writes) != 1 {
		t.Fatalf("%d fetches, %d writes; want 1 and 1", src.Fetches(), len(st.writes))
	}
}

func TestAuthorizationCodeRevoked(t *testing.T) {
	p := provider(t)
	ctx := context.Background()
	src, _ := authorizedSource(t, p, true)
	tok := tokOf(t, src, ctx)
	if err := p.RevokeGrants(ctx); err != nil {
		t.Fatal(err)
	}
	src.Invalidate(tok)
	_, err := src.Token(ctx)
	var e *targetauth.Error
	if !errors.Is(err, targetauth.ErrRevoked) || !errors.As(err, &e) || e.Transient() {
		t.Fatalf("err %v; want ErrRevoked, not transient", err)
	}
}

func TestAuthorizationCodeWriteFailureWithholdsToken(t *testing.T) {
	p := provider(t)
	ctx := context.Background()
	c := acClient(p, false)
	st := &memStore{token: authorize(t, c), fail: errors.New("disk full")}
	src := targetauth.NewAuthorizationCode(c)
	defer src.Bind(st)()
	tok, err := src.Token(ctx)
	if !errors.Is(err, targetauth.ErrState) || tok != "" {
		t.Fatalf("token %q, err %v; a token whose refresh token was not saved must not be used", tok, err)
	}
}

func TestNotAuthorized(t *testing.T) {
	p := provider(t)
	src := targetauth.NewAuthorizationCode(acClient(p, false))
	defer src.Bind(&memStore{})()
	if _, err := src.Token(context.Background()); !errors.Is(err, targetauth.ErrNotAuthorized) {
		t.Fatalf("err %v; want ErrNotAuthorized", err)
	}
}

func TestAuthorizePaste(t *testing.T) {
	p := provider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name    string
		mangle  func(string) string
		wantErr bool
	}{
		{"ok", func(s string) string { return s }, false},
		{"forged state", func(s string) string {
			u, _ := url.Parse(s)
			q := u.Query()
			q.Set("state", "forged")
			u.RawQuery = q.Encode()
			return u.String()
		}, true},
		{"not a URL", func(string) string { return "hello" }, true},
		{"provider error", func(s string) string {
			u, _ := url.Parse(s)
			q := u.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			u.RawQuery = q.Encode()
			return u.String()
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outR, outW := io.Pipe()
			inR, inW := io.Pipe()
			done := make(chan error, 1)
			var rt string
			go func() {
				var err error
				rt, err = targetauth.Authorize(ctx, targetauth.AuthorizeOptions{Client: acClient(p, false), Port: 8765, Paste: true, Out: outW, In: inR})
				outW.Close()
				done <- err
			}()
			authURL := printedURL(t, outR)
			go func() { _, _ = io.Copy(io.Discard, outR) }()
			redirect, err := oidcprovider.Consent(ctx, authURL)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(redirect, "http://127.0.0.1:8765/callback?") {
				t.Fatalf("redirect %s", redirect)
			}
			_, _ = io.WriteString(inW, tc.mangle(redirect)+"\n")
			err = <-done
			switch {
			case tc.wantErr && !errors.Is(err, targetauth.ErrAuthorize):
				t.Fatalf("err %v; want ErrAuthorize", err)
			case !tc.wantErr && (err != nil || rt == ""):
				t.Fatalf("err %v, token %t", err, rt != "")
			}
		})
	}
}

// TestClientCredentialsAudience: the audience some providers require (Auth0, Okta) goes in the token
// request. oidc-provider ignores the parameter, so this one test records the request itself.
func TestClientCredentialsAudience(t *testing.T) {
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600}`)
	}))
	defer srv.Close()
	src := targetauth.NewClientCredentials(targetauth.Client{TokenURL: srv.URL, ClientID: "c", ClientSecret: "s",
		Scopes: []string{"a", "b"}, Audience: "https://api.example"})
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Get("audience") != "https://api.example" || got.Get("scope") != "a b" || got.Get("grant_type") != "client_credentials" {
		t.Fatalf("token request form %v", got)
	}
}
