// Package entra emulates just enough of Entra's token service for azidentity to get a token from the
// emulated Graph: the OpenID configuration, client credentials with a secret or an assertion, and the
// App Service managed-identity endpoint. It keeps the tokens it issued, so the Graph endpoints can
// tell a token from the service from a made-up one.
package entra

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi/internal/reply"
	"github.com/scimsync/scimsync/emulator/graphapi/internal/tenant"
)

// TokenRequest records one token issued or refused, so credential tests can tell which flow
// (secret, assertion, managed identity) reached the server.
type TokenRequest struct {
	Tenant    string
	ClientID  string
	GrantType string
	// Credential is "secret", "assertion" or "managedIdentity".
	Credential string
	// Scope is the OAuth scope, or the managed-identity resource.
	Scope   string
	Granted bool
}

// Service is the token service of one emulated tenant.
type Service struct {
	// TenantID, when set, is the only tenant the token endpoints accept.
	TenantID string
	// ClientID and ClientSecret, when set, are checked by the token endpoint.
	ClientID, ClientSecret string
	// StaticToken is an extra bearer token accepted without a token request.
	StaticToken string
	// IdentityHeader is the secret a managed identity sends as X-IDENTITY-HEADER.
	IdentityHeader string
	// Origin returns the server's origin (https://127.0.0.1:PORT), the issuer's host.
	Origin func() string

	mu       sync.Mutex
	tokens   map[string]bool
	requests []TokenRequest
}

// Requests returns a copy of the token request log.
func (s *Service) Requests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.requests...)
}

// ResetRequests clears the token request log.
func (s *Service) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func (s *Service) record(tr TokenRequest) {
	s.mu.Lock()
	s.requests = append(s.requests, tr)
	s.mu.Unlock()
}

// Authorized reports whether r carries a bearer token the service issued (or the static one).
func (s *Service) Authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[tok] || (s.StaticToken != "" && tok == s.StaticToken)
}

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "graphapi-" + hex.EncodeToString(b[:])
}

// tenantOf returns the tenant segment of /{tenant}/... paths.
func tenantOf(p string) string {
	p = strings.TrimPrefix(p, "/")
	t, _, _ := strings.Cut(p, "/")
	return t
}

func (s *Service) tenantOK(t string) bool {
	return s.TenantID == "" || strings.EqualFold(t, s.TenantID)
}

// writeAADError sends the OAuth error shape Entra uses, which MSAL turns into a readable error.
func writeAADError(w http.ResponseWriter, status int, code, desc string, aadsts int) {
	reply.JSON(w, status, map[string]any{
		"error": code, "error_description": fmt.Sprintf("AADSTS%d: %s", aadsts, desc),
		"error_codes": []int{aadsts}, "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id": tenant.NewID(), "correlation_id": tenant.NewID(),
	})
}

// ServeOpenID answers the OpenID configuration of a tenant.
func (s *Service) ServeOpenID(w http.ResponseWriter, r *http.Request) {
	t := tenantOf(r.URL.Path)
	if !s.tenantOK(t) {
		writeAADError(w, http.StatusBadRequest, "invalid_tenant", "Tenant '"+t+"' not found.", 90002)
		return
	}
	// MSAL requires the issuer host to equal the authority host.
	b := s.Origin() + "/" + t
	reply.JSON(w, http.StatusOK, map[string]any{
		"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
		"token_endpoint":                        b + "/oauth2/v2.0/token",
		"issuer":                                b + "/v2.0",
		"jwks_uri":                              s.Origin() + "/" + t + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
	})
}

// ServeToken answers the token endpoint (client credentials only).
func (s *Service) ServeToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeAADError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint requires POST.", 900561)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeAADError(w, http.StatusBadRequest, "invalid_request", "Malformed form body.", 900144)
		return
	}
	tr := TokenRequest{Tenant: tenantOf(r.URL.Path), ClientID: r.PostForm.Get("client_id"),
		GrantType: r.PostForm.Get("grant_type"), Scope: r.PostForm.Get("scope")}
	defer func() { s.record(tr) }()
	secret, assertion := r.PostForm.Get("client_secret"), r.PostForm.Get("client_assertion")
	switch {
	case !s.tenantOK(tr.Tenant):
		writeAADError(w, http.StatusBadRequest, "invalid_request", "Tenant '"+tr.Tenant+"' not found.", 90002)
		return
	case tr.GrantType != "client_credentials":
		writeAADError(w, http.StatusBadRequest, "unsupported_grant_type", "graphapi only emulates client_credentials.", 70003)
		return
	case tr.ClientID == "":
		writeAADError(w, http.StatusBadRequest, "invalid_request", "The request body must contain the 'client_id' parameter.", 900144)
		return
	case s.ClientID != "" && tr.ClientID != s.ClientID:
		writeAADError(w, http.StatusBadRequest, "unauthorized_client", "Application with identifier '"+tr.ClientID+"' was not found in the directory.", 700016)
		return
	case !strings.HasSuffix(strings.Fields(tr.Scope + " x")[0], "/.default"):
		writeAADError(w, http.StatusBadRequest, "invalid_scope", "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", 1002012)
		return
	case secret != "":
		tr.Credential = "secret"
		if s.ClientSecret != "" && secret != s.ClientSecret {
			writeAADError(w, http.StatusUnauthorized, "invalid_client", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.", 7000215)
			return
		}
	case assertion != "":
		tr.Credential = "assertion"
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			writeAADError(w, http.StatusBadRequest, "invalid_request", "client_assertion_type is missing or wrong.", 50027)
			return
		}
	default:
		writeAADError(w, http.StatusUnauthorized, "invalid_client", "The request body must contain 'client_secret' or 'client_assertion'.", 7000218)
		return
	}
	tr.Granted = true
	reply.JSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": s.issue(),
	})
}

func (s *Service) issue() string {
	tok := newToken()
	s.mu.Lock()
	if s.tokens == nil {
		s.tokens = map[string]bool{}
	}
	s.tokens[tok] = true
	s.mu.Unlock()
	return tok
}

// ServeManagedIdentity emulates the App Service managed-identity endpoint (IDENTITY_ENDPOINT +
// IDENTITY_HEADER, api-version 2019-08-01).
func (s *Service) ServeManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tr := TokenRequest{Credential: "managedIdentity", Scope: q.Get("resource"),
		ClientID: cmp.Or(q.Get("client_id"), q.Get("mi_res_id"), q.Get("principal_id"))}
	defer func() { s.record(tr) }()
	if r.Header.Get("X-IDENTITY-HEADER") != s.IdentityHeader {
		reply.JSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "graphapi: missing or wrong X-IDENTITY-HEADER"})
		return
	}
	if q.Get("resource") == "" || q.Get("api-version") == "" {
		reply.JSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "graphapi: resource and api-version are required"})
		return
	}
	tr.Granted = true
	reply.JSON(w, http.StatusOK, map[string]any{
		"access_token": s.issue(), "token_type": "Bearer", "resource": q.Get("resource"),
		"expires_on": fmt.Sprint(time.Now().Add(time.Hour).Unix()), "client_id": tr.ClientID,
	})
}
