// Package graphapi is an emulated Microsoft Graph (and just enough of Entra's token service) on
// loopback, for tests and the demo. It speaks the documented wire format of users/groups delta,
// appRoleAssignedTo and the OAuth endpoints, so the real msgraph-sdk-go and azidentity run against it.
//
// It deliberately imports neither msgraph-sdk-go nor azidentity: packages that only need a Graph to
// talk to (the engine's scenario tests, the demo) must not pay the SDK's build cost.
package graphapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Expiry selects how expired delta and skip tokens answer, because Graph has used both shapes and a
// client must handle each.
type Expiry int

const (
	// ExpireGone answers 410 Gone with a Location holding an empty $deltatoken: Graph's documented
	// "synchronization reset".
	ExpireGone Expiry = iota
	// ExpireSyncStateNotFound answers 400 BadRequest with code syncStateNotFound: the documented
	// expired-token answer.
	ExpireSyncStateNotFound
	// ExpireResyncRequired answers 400 with code resyncRequired (listed in Graph's error codes).
	ExpireResyncRequired
)

// Options tune the emulator. The zero value is a usable server.
type Options struct {
	// PageSize is the number of records per page of delta and list responses (default 100). Graph
	// decides page sizes itself, so clients must not depend on them; small values exercise paging.
	PageSize int
	// EmptyPageEvery inserts an empty page (value [] with a nextLink) after every N data pages; Graph
	// sends such pages and clients must keep following the nextLink.
	EmptyPageEvery int
	// MembersPerRecord splits a group whose members@delta is longer than this into several records of
	// the same id, placed at the end of the round (default 100), as Graph does for large groups.
	MembersPerRecord int
	// TenantID, when set, is the only tenant the token endpoints accept.
	TenantID string
	// ClientID and ClientSecret, when set, are checked by the token endpoint, so tests can provoke
	// invalid_client.
	ClientID     string
	ClientSecret string
	// Token is an extra bearer token the Graph endpoints accept without a token request, for tests
	// that use a static credential.
	Token string
	// IdentityHeader is the secret an App Service managed identity sends as X-IDENTITY-HEADER
	// (default "graphapi-identity-header").
	IdentityHeader string
	// Expiry decides the answer to tokens invalidated by ExpireDeltaTokens.
	Expiry Expiry
	// Addr is the listen address (default 127.0.0.1 on a free port); the demo sets a fixed one.
	Addr string
}

// Fault is one injected failure: the next Count requests whose path or query contains PathContains
// (after the first Skip of them) get Status (and Retry-After) instead of their normal answer, so tests
// can provoke throttling, outages and malformed bodies at a chosen page.
type Fault struct {
	// PathContains is matched against the request path plus "?" plus the raw query ("$" literal, as
	// the SDK sends it), so it can also select a query parameter such as "$deltatoken="; "" matches all.
	PathContains string
	// Skip lets the first Skip matching requests through untouched, so a fault can hit the Nth page
	// of a round whose tokens the test cannot know in advance.
	Skip int
	// Status defaults to 200 when Body is set, else 503.
	Status int
	// Code and Message fill the Graph error body; defaults depend on Status.
	Code, Message string
	// RetryAfter is sent as the Retry-After header when not empty.
	RetryAfter string
	// Body replaces the response body verbatim (e.g. malformed JSON); ContentType defaults to
	// application/json.
	Body, ContentType string
	// Count is how many requests the fault answers (default 1).
	Count int
	// Delay stalls the answer, to test client timeouts.
	Delay time.Duration
	// Drop loses the connection mid-answer: a 200 header announcing a longer body than is sent, then
	// the connection is closed, which the client sees as an unexpected EOF (a plain close before any
	// answer would be replayed by net/http itself, never reaching the client's own retries). Status,
	// Body and RetryAfter are ignored. Such requests are recorded with Status 0.
	Drop bool
}

// RecordedRequest is one request the server saw, so tests can assert on exactly what the client sent
// ($select, paging, Authorization) rather than only on the outcome.
type RecordedRequest struct {
	Method string
	Path   string
	// RawQuery is the query as sent; Query is its parse (the SDK sends a literal "$").
	RawQuery string
	Query    url.Values
	// Auth is true when the request carried a bearer token the server had issued.
	Auth   bool
	Header http.Header
	// Status is the answer's status, 0 when the connection was dropped (Fault.Drop).
	Status int
}

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

// Server is an emulated Graph tenant over TLS on loopback.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu          sync.Mutex
	ver         int64
	users       map[string]*userState
	userOrder   []string
	groups      map[string]*groupState
	groupOrder  []string
	sp          ServicePrincipal
	assignments []assignmentState

	epoch    int
	expiry   Expiry
	sessions map[string]*session
	sessSeq  int
	tokens   map[string]bool
	faults   []Fault
	requests []RecordedRequest
	tokReqs  []TokenRequest
}

// NewServer prepares an emulator serving a copy of t (nil serves SampleTenant). Call Start before
// use; the split lets tests inject faults or mutate before the first request.
func NewServer(t *Tenant, o Options) *Server {
	if t == nil {
		t = SampleTenant()
	}
	t = t.Clone()
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	if o.MembersPerRecord <= 0 {
		o.MembersPerRecord = 100
	}
	if o.IdentityHeader == "" {
		o.IdentityHeader = "graphapi-identity-header"
	}
	s := &Server{opts: o, expiry: o.Expiry, sessions: map[string]*session{}, tokens: map[string]bool{}}
	s.load(t)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// Start listens on loopback with TLS: azidentity refuses authority hosts without https, so the token
// endpoints and Graph share one TLS server with httptest's self-signed certificate.
func (s *Server) Start() {
	if s.opts.Addr != "" {
		l, err := net.Listen("tcp", s.opts.Addr)
		if err != nil {
			panic(fmt.Sprintf("graphapi: listen %s: %v", s.opts.Addr, err))
		}
		s.srv.Listener.Close()
		s.srv.Listener = l
	}
	s.srv.StartTLS()
}

// StartForTest starts a server for a test and closes it when the test ends.
func StartForTest(tb testing.TB, t *Tenant, o Options) *Server {
	tb.Helper()
	s := NewServer(t, o)
	s.Start()
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// URL is the server origin, https://127.0.0.1:PORT.
func (s *Server) URL() string { return s.srv.URL }

// GraphURL is the Graph base URL (URL()+"/v1.0") to configure as the reader's endpoint.
func (s *Server) GraphURL() string { return s.srv.URL + "/v1.0" }

// AuthorityHost is the Entra authority to give azidentity (URL()+"/"); credentials must also set
// DisableInstanceDiscovery because the host is not a Microsoft one.
func (s *Server) AuthorityHost() string { return s.srv.URL + "/" }

// ManagedIdentityEndpoint is the App Service IDENTITY_ENDPOINT of the emulator.
func (s *Server) ManagedIdentityEndpoint() string { return s.srv.URL + "/msi/token" }

// IdentityHeader is the IDENTITY_HEADER value the managed-identity endpoint expects.
func (s *Server) IdentityHeader() string { return s.opts.IdentityHeader }

// TenantID is the tenant the token endpoint expects (Options.TenantID, else a fixed id that any
// tenant-agnostic test can use).
func (s *Server) TenantID() string {
	if s.opts.TenantID != "" {
		return s.opts.TenantID
	}
	return "11111111-2222-3333-4444-555555555555"
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CertPEM returns the server certificate in PEM, the content of a CA bundle that makes a client trust
// the emulator (the config's ca_file).
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// WriteCA writes CertPEM to path, for configs that read a CA bundle from a file.
func (s *Server) WriteCA(path string) error {
	if err := os.WriteFile(path, s.CertPEM(), 0o600); err != nil {
		return fmt.Errorf("graphapi: writing CA: %w", err)
	}
	return nil
}

// ExpireDeltaTokens invalidates every outstanding delta and skip token, answering them as
// Options.Expiry says, to test the client's full resync.
func (s *Server) ExpireDeltaTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	s.sessions = map[string]*session{}
}

// SetExpiry changes how expired tokens answer, for tests that try each shape on one server.
func (s *Server) SetExpiry(e Expiry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiry = e
}

// InjectFaults queues faults; they are consumed in order of matching.
func (s *Server) InjectFaults(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range f {
		if x.Count <= 0 {
			x.Count = 1
		}
		s.faults = append(s.faults, x)
	}
}

// ClearFaults drops any fault not yet consumed.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordedRequest(nil), s.requests...)
}

// ResetRequests clears the request log, so a test can count the requests of one cycle.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.tokReqs = nil
}

// TokenRequests returns a copy of the token request log.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.tokReqs...)
}

// statusRecorder captures the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (Flush for Fault.Drop).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	auth := s.authorized(r)
	dropped := false
	defer func() {
		status := rec.status
		if dropped {
			status = 0
		}
		s.mu.Lock()
		s.requests = append(s.requests, RecordedRequest{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Query: r.URL.Query(),
			Auth: auth, Header: r.Header.Clone(), Status: status,
		})
		s.mu.Unlock()
	}()
	rid := newRequestID()
	rec.Header().Set("request-id", rid)
	rec.Header().Set("client-request-id", firstNonEmpty(r.Header.Get("client-request-id"), rid))
	if f, ok := s.takeFault(r); ok {
		dropped = f.Drop
		s.writeFault(rec, f)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/msi/token":
		s.serveManagedIdentity(rec, r)
	case strings.HasSuffix(p, "/v2.0/.well-known/openid-configuration"):
		s.serveOpenID(rec, r)
	case strings.HasSuffix(p, "/oauth2/v2.0/token"):
		s.serveToken(rec, r)
	case strings.HasPrefix(p, "/v1.0/"):
		if !auth {
			msg := "Access token is empty."
			if r.Header.Get("Authorization") != "" {
				msg = "Access token validation failure. Invalid audience."
			}
			rec.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+s.AuthorityHost()+`common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
			writeError(rec, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
			return
		}
		if r.Method != http.MethodGet {
			writeError(rec, http.StatusMethodNotAllowed, "Request_BadRequest",
				"graphapi: only GET is emulated")
			return
		}
		s.serveGraph(rec, r, strings.TrimPrefix(p, "/v1.0"))
	default:
		writeError(rec, http.StatusNotFound, "UnknownError", "graphapi: no route for "+p)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[tok] || (s.opts.Token != "" && tok == s.opts.Token)
}

func (s *Server) takeFault(r *http.Request) (Fault, bool) {
	target := r.URL.Path + "?" + r.URL.RawQuery
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		f := &s.faults[i]
		if !strings.Contains(target, f.PathContains) {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			continue
		}
		out := *f
		f.Count--
		if f.Count <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return out, true
	}
	return Fault{}, false
}

func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	if f.Delay > 0 {
		time.Sleep(f.Delay)
	}
	if f.Drop {
		drop(w)
		return
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
		if f.Body != "" {
			status = http.StatusOK
		}
	}
	if f.Body != "" {
		w.Header().Set("Content-Type", firstNonEmpty(f.ContentType, "application/json"))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	code, msg := f.Code, f.Message
	if code == "" {
		code = map[int]string{
			400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Authorization_RequestDenied",
			404: "Request_ResourceNotFound", 410: "syncStateNotFound", 429: "TooManyRequests",
			500: "generalException", 502: "badGateway", 503: "serviceNotAvailable", 504: "gatewayTimeout",
		}[status]
		if code == "" {
			code = "UnknownError"
		}
	}
	if msg == "" {
		msg = "graphapi: injected " + http.StatusText(status)
	}
	writeError(w, status, code, msg)
}

// drop answers a 200 whose body stops short and aborts the handler, which closes the connection
// (or resets the stream) without net/http logging it.
func drop(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "1000")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"value":[`))
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// writeError sends Graph's error body. Both code and message are always present: msgraph-sdk-go's
// ODataError.Error() dereferences the message and panics without it.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        w.Header().Get("request-id"),
			"client-request-id": w.Header().Get("client-request-id"),
		},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newRequestID() string {
	return NewID()
}

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "graphapi-" + hex.EncodeToString(b[:])
}

func firstNonEmpty(a ...string) string {
	for _, s := range a {
		if s != "" {
			return s
		}
	}
	return ""
}

// --- Entra token service ---

// tenantOf returns the tenant segment of /{tenant}/... paths.
func tenantOf(p string) string {
	p = strings.TrimPrefix(p, "/")
	t, _, _ := strings.Cut(p, "/")
	return t
}

func (s *Server) tenantOK(t string) bool {
	return s.opts.TenantID == "" || strings.EqualFold(t, s.opts.TenantID)
}

// writeAADError sends the OAuth error shape Entra uses, which MSAL turns into a readable error.
func writeAADError(w http.ResponseWriter, status int, code, desc string, aadsts int) {
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": fmt.Sprintf("AADSTS%d: %s", aadsts, desc),
		"error_codes": []int{aadsts}, "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id": NewID(), "correlation_id": NewID(),
	})
}

func (s *Server) serveOpenID(w http.ResponseWriter, r *http.Request) {
	t := tenantOf(r.URL.Path)
	if !s.tenantOK(t) {
		writeAADError(w, http.StatusBadRequest, "invalid_tenant", "Tenant '"+t+"' not found.", 90002)
		return
	}
	// MSAL requires the issuer host to equal the authority host.
	b := s.URL() + "/" + t
	writeJSON(w, http.StatusOK, map[string]any{
		"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
		"token_endpoint":                        b + "/oauth2/v2.0/token",
		"issuer":                                b + "/v2.0",
		"jwks_uri":                              s.URL() + "/" + t + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
	})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
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
	defer func() {
		s.mu.Lock()
		s.tokReqs = append(s.tokReqs, tr)
		s.mu.Unlock()
	}()
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
	case s.opts.ClientID != "" && tr.ClientID != s.opts.ClientID:
		writeAADError(w, http.StatusBadRequest, "unauthorized_client", "Application with identifier '"+tr.ClientID+"' was not found in the directory.", 700016)
		return
	case !strings.HasSuffix(strings.Fields(tr.Scope + " x")[0], "/.default"):
		writeAADError(w, http.StatusBadRequest, "invalid_scope", "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", 1002012)
		return
	case secret != "":
		tr.Credential = "secret"
		if s.opts.ClientSecret != "" && secret != s.opts.ClientSecret {
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
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": s.issue(),
	})
}

func (s *Server) issue() string {
	tok := newToken()
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	return tok
}

// serveManagedIdentity emulates the App Service managed-identity endpoint (IDENTITY_ENDPOINT +
// IDENTITY_HEADER, api-version 2019-08-01).
func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tr := TokenRequest{Credential: "managedIdentity", Scope: q.Get("resource"),
		ClientID: firstNonEmpty(q.Get("client_id"), q.Get("mi_res_id"), q.Get("principal_id"))}
	defer func() {
		s.mu.Lock()
		s.tokReqs = append(s.tokReqs, tr)
		s.mu.Unlock()
	}()
	if r.Header.Get("X-IDENTITY-HEADER") != s.opts.IdentityHeader {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "graphapi: missing or wrong X-IDENTITY-HEADER"})
		return
	}
	if q.Get("resource") == "" || q.Get("api-version") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "graphapi: resource and api-version are required"})
		return
	}
	tr.Granted = true
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": s.issue(), "token_type": "Bearer", "resource": q.Get("resource"),
		"expires_on": fmt.Sprint(time.Now().Add(time.Hour).Unix()), "client_id": tr.ClientID,
	})
}
