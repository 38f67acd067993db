// Package graphapi is an emulated Microsoft Graph (and just enough of Entra's token service) on
// loopback, for tests and the demo. It speaks the documented wire format of users/groups delta,
// appRoleAssignedTo and the OAuth endpoints, so the real msgraph-sdk-go and azidentity run against it.
//
// It deliberately imports neither msgraph-sdk-go nor azidentity: packages that only need a Graph to
// talk to (the engine's scenario tests, the demo) must not pay the SDK's build cost.
package graphapi

import (
	"cmp"
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

	"github.com/scimsync/scimsync/emulator/graphapi/internal/entra"
	"github.com/scimsync/scimsync/emulator/graphapi/internal/faults"
	"github.com/scimsync/scimsync/emulator/graphapi/internal/reply"
	"github.com/scimsync/scimsync/emulator/graphapi/internal/tenant"
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
	requests []RecordedRequest

	entra  *entra.Service
	faults faults.Queue
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
	s := &Server{opts: o, expiry: o.Expiry, sessions: map[string]*session{}}
	s.entra = &entra.Service{TenantID: o.TenantID, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		StaticToken: o.Token, IdentityHeader: o.IdentityHeader, Origin: s.URL}
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
func (s *Server) InjectFaults(f ...Fault) { s.faults.Add(f...) }

// ClearFaults drops any fault not yet consumed.
func (s *Server) ClearFaults() { s.faults.Clear() }

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
	s.entra.ResetRequests()
}

// TokenRequests returns a copy of the token request log.
func (s *Server) TokenRequests() []TokenRequest { return s.entra.Requests() }

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
	auth := s.entra.Authorized(r)
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
	rid := tenant.NewID()
	rec.Header().Set("request-id", rid)
	rec.Header().Set("client-request-id", cmp.Or(r.Header.Get("client-request-id"), rid))
	if f, ok := s.faults.Take(r); ok {
		dropped = f.Drop
		faults.Write(rec, f)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/msi/token":
		s.entra.ServeManagedIdentity(rec, r)
	case strings.HasSuffix(p, "/v2.0/.well-known/openid-configuration"):
		s.entra.ServeOpenID(rec, r)
	case strings.HasSuffix(p, "/oauth2/v2.0/token"):
		s.entra.ServeToken(rec, r)
	case strings.HasPrefix(p, "/v1.0/"):
		if !auth {
			msg := "Access token is empty."
			if r.Header.Get("Authorization") != "" {
				msg = "Access token validation failure. Invalid audience."
			}
			rec.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+s.AuthorityHost()+`common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
			reply.GraphError(rec, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
			return
		}
		if r.Method != http.MethodGet {
			reply.GraphError(rec, http.StatusMethodNotAllowed, "Request_BadRequest",
				"graphapi: only GET is emulated")
			return
		}
		s.serveGraph(rec, r, strings.TrimPrefix(p, "/v1.0"))
	default:
		reply.GraphError(rec, http.StatusNotFound, "UnknownError", "graphapi: no route for "+p)
	}
}
