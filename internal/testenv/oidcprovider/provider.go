//go:build linux || darwin

// Package oidcprovider runs a real OAuth 2.0 authorization server (panva/oidc-provider, from npm) on
// 127.0.0.1 for scimsync's target-authentication tests, with what those tests need around it: a proxy in
// front of a SCIM target that accepts only tokens the server issued (RFC 7662 introspection), a gate in
// front of the token endpoint that can hold a response, and a headless browser for the authorize flow.
package oidcprovider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/scimsync/scimsync/internal/testenv/npm"
)

// Client IDs the provider is started with. Secrets are random per start (Provider.Secret).
const (
	// CCBasic and CCPost are confidential clients for the client credentials grant, authenticating with
	// client_secret_basic and client_secret_post.
	CCBasic = "scimsync-cc-basic"
	CCPost  = "scimsync-cc-post"
	// ACPublic is a public native client for the authorization code grant with PKCE (no secret);
	// ACConfidential the same with a client secret (client_secret_basic). Both may use the loopback
	// redirect http://127.0.0.1/callback on any port (RFC 8252 §7.3).
	ACPublic       = "scimsync-ac-public"
	ACConfidential = "scimsync-ac-confidential"
	// resourceServer is the SCIM proxy's own client, used for introspection.
	resourceServer = "scim-target"
	// Scope is the one scope the clients may ask for.
	Scope = "scim"
)

// Options configure the provider.
type Options struct {
	// AccessTokenTTL is the access token lifetime; 0 means 60 seconds.
	AccessTokenTTL time.Duration
}

// Provider is a running oidc-provider.
type Provider struct {
	issuer  string
	secrets map[string]string
	admin   string
	proc    *npm.Process
}

// Issuer is the server's base URL; the endpoints are Issuer()+"/auth", "/token".
func (p *Provider) Issuer() string { return p.issuer }

// TokenURL is the token endpoint.
func (p *Provider) TokenURL() string { return p.issuer + "/token" }

// AuthorizeURL is the authorization endpoint.
func (p *Provider) AuthorizeURL() string { return p.issuer + "/auth" }

// Secret returns a confidential client's secret.
func (p *Provider) Secret(clientID string) string { return p.secrets[clientID] }

// Output is the tail of node's output, for failure messages.
func (p *Provider) Output() string { return p.proc.Output() }

// Stats are the provider's counts.
type Stats struct {
	// TokenRequests counts successful token responses by grant type.
	TokenRequests map[string]int `json:"tokenRequests"`
	// InvalidGrant counts invalid_grant answers.
	InvalidGrant int `json:"invalidGrant"`
}

// Stats returns the counts since start.
func (p *Provider) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := p.adminCall(ctx, http.MethodGet, "/admin/stats", &s)
	return s, err
}

// ExpireAccessTokens forgets every access token: the next request with one is a 401 at the target.
func (p *Provider) ExpireAccessTokens(ctx context.Context) error {
	return p.adminCall(ctx, http.MethodPost, "/admin/expire-access-tokens", nil)
}

// RevokeGrants revokes every grant, as an admin revoking the app's access at the provider would:
// refresh tokens answer invalid_grant from then on.
func (p *Provider) RevokeGrants(ctx context.Context) error {
	return p.adminCall(ctx, http.MethodPost, "/admin/revoke-grants", nil)
}

func (p *Provider) adminCall(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, p.issuer+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("oidcprovider: %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Close stops node and waits for it.
func (p *Provider) Close() { p.proc.Close() }

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start installs the npm packages when needed (npm ci from the committed package-lock.json, once per
// lock file) and starts the server on a free port of 127.0.0.1.
func Start(ctx context.Context, o Options) (*Provider, error) {
	dir, err := providerDir()
	if err != nil {
		return nil, err
	}
	p := &Provider{admin: random(), secrets: map[string]string{
		CCBasic: random(), CCPost: random(), ACConfidential: random(), resourceServer: random(),
	}}
	ttl := int(o.AccessTokenTTL / time.Second)
	if ttl <= 0 {
		ttl = 60
	}
	loopback := []string{"http://127.0.0.1/callback"}
	clients := []map[string]any{
		{"client_id": CCBasic, "client_secret": p.secrets[CCBasic], "grant_types": []string{"client_credentials"},
			"response_types": []string{}, "redirect_uris": []string{}, "scope": Scope, "token_endpoint_auth_method": "client_secret_basic"},
		{"client_id": CCPost, "client_secret": p.secrets[CCPost], "grant_types": []string{"client_credentials"},
			"response_types": []string{}, "redirect_uris": []string{}, "scope": Scope, "token_endpoint_auth_method": "client_secret_post"},
		{"client_id": ACPublic, "application_type": "native", "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"redirect_uris": loopback, "scope": Scope},
		{"client_id": ACConfidential, "client_secret": p.secrets[ACConfidential], "application_type": "native",
			"token_endpoint_auth_method": "client_secret_basic",
			"grant_types":                []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"redirect_uris": loopback, "scope": Scope},
		{"client_id": resourceServer, "client_secret": p.secrets[resourceServer], "grant_types": []string{},
			"response_types": []string{}, "redirect_uris": []string{}},
	}
	cfg, _ := json.Marshal(map[string]any{"clients": clients, "accessTokenTTL": ttl, "adminToken": p.admin})
	p.proc, p.issuer, err = npm.Start(ctx, npm.Program{
		Name:         "oidcprovider",
		Dir:          dir,
		Env:          []string{"OAUTHTEST_CONFIG=" + string(cfg), "NODE_ENV=test"},
		StartTimeout: 60 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// StartForTest starts a provider for t and stops it in t's Cleanup. A missing Node.js fails the test:
// these tests must run against the real server.
func StartForTest(t testing.TB, o Options) *Provider {
	t.Helper()
	p, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("OAuth test server unavailable (needs node >= 20 and npm; `make oauth-deps` installs its packages): %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func providerDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("oidcprovider: cannot locate the provider directory")
	}
	return filepath.Join(filepath.Dir(file), "provider"), nil
}
