// Package scimserver is an in-process SCIM 2.0 server for unit tests, the demo and benchmarks. It applies the
// protocol's semantics itself (filters, PATCH, paging, uniqueness) instead of recording requests, so a test
// asserts on the resulting state, as it would against a real target, and it is fast enough to hold
// 10,000 users and take thousands of writes per second. It accepts both of Entra's request shapes,
// including "active":"True" strings, as targets built for Entra do.
package scimserver

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/scimsync/scimsync/emulator/scimserver/filter"
	"github.com/scimsync/scimsync/scimclient"
)

// Options configure a Server. The zero value is an open server with the enterprise and Gong extensions.
type Options struct {
	// Token, when set, is the only accepted bearer token; anything else gets 401.
	Token string
	// SchemaExtensions are the extension URNs a user may carry; nil means enterprise + Gong.
	SchemaExtensions []string
	// CaseExactUserName makes userName matching and uniqueness case-sensitive, as SCIMMY behaves, although
	// the RFC schema says caseExact false.
	CaseExactUserName bool
	// Fault, when set, is asked before each request and may inject a failure (see Fault).
	Fault func(r *http.Request) *Fault
	// MaxPageSize caps count on list requests (default 1000), so tests exercise client paging.
	MaxPageSize int
	// Throttle, when set, answers 429 beyond a request quota (see Throttle).
	Throttle *Throttle
	// SlowDown, when set, makes answers slower the more requests are in flight (see SlowDown).
	SlowDown *SlowDown
	// Bulk, when set, serves /Bulk within its limits and advertises them (see Bulk); nil answers 501.
	Bulk *Bulk
}

// Fault describes an injected failure for one request, so tests can prove retry and error handling
// against a server that otherwise behaves correctly.
type Fault struct {
	// Delay is waited first (cut short if the client gives up).
	Delay time.Duration
	// Status, when non-zero, is answered instead of handling the request.
	Status int
	// RetryAfter is sent as the Retry-After header with Status.
	RetryAfter string
	// Body replaces the SCIM error body; ContentType its content type (default application/scim+json).
	Body        string
	ContentType string
	// Drop closes the connection without an answer (a transport error for the client).
	Drop bool
	// AfterHandling applies Status/Body after the request was processed (a lost answer: the write
	// happened but the client sees a failure).
	AfterHandling bool
}

// Server is the in-process SCIM target. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	exts     []string
	mu       sync.RWMutex
	users    *store
	groups   *store
	http     *httptest.Server
	cmu      sync.Mutex
	counters map[string]int64
	now      func() time.Time
	load     *loadModes
}

// store keeps one resource type. Resources are never mutated after they are stored (PATCH swaps in a
// modified copy), so a response can be encoded outside the lock.
type store struct {
	byID    map[string]scimclient.Resource
	index   map[string]string // uniqueness key (userName / displayName) -> id
	order   []string          // ids in creation order, for stable paging; may hold deleted ids
	deleted int               // deleted ids still in order
}

func newStore() *store {
	return &store{byID: map[string]scimclient.Resource{}, index: map[string]string{}}
}

// ids returns the live ids in creation order.
func (st *store) ids() []string {
	out := make([]string, 0, len(st.byID))
	for _, id := range st.order {
		if _, ok := st.byID[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

// remove deletes an id and compacts order once it is mostly tombstones, keeping deletes O(1) amortised.
// Compaction allocates a new slice because list requests may still read the old one.
func (st *store) remove(id string) {
	delete(st.byID, id)
	st.deleted++
	if st.deleted > 64 && st.deleted > len(st.order)/2 {
		st.order = st.ids()
		st.deleted = 0
	}
}

// New makes a server; call Start, StartTLS, or use it as an http.Handler.
func New(opts Options) *Server {
	exts := opts.SchemaExtensions
	if exts == nil {
		exts = []string{scimclient.SchemaEnterprise, scimclient.SchemaGong}
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 1000
	}
	return &Server{opts: opts, exts: exts, users: newStore(), groups: newStore(),
		counters: map[string]int64{}, now: time.Now, load: newLoadModes(opts)}
}

// Start serves on a random 127.0.0.1 port and returns the base URL (…/scim/v2). The handler accepts any
// path prefix, so clients may use the root as well.
func (s *Server) Start() string {
	s.http = newLoopbackServer(s)
	s.http.Start()
	return s.URL()
}

// StartTLS is Start with a self-signed certificate; use HTTPClient() for a client that trusts it.
func (s *Server) StartTLS() string {
	s.http = newLoopbackServer(s)
	s.http.StartTLS()
	return s.URL()
}

func newLoopbackServer(h http.Handler) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("scimserver: listen on 127.0.0.1: %v", err))
	}
	ts.Listener.Close()
	ts.Listener = l
	return ts
}

// URL returns the base URL given by Start, or "" before.
func (s *Server) URL() string {
	if s.http == nil {
		return ""
	}
	return s.http.URL + "/scim/v2"
}

// HTTPClient returns a client that trusts the StartTLS certificate.
func (s *Server) HTTPClient() *http.Client {
	if s.http == nil {
		return http.DefaultClient
	}
	return s.http.Client()
}

// Close stops the listener and blocks until in-flight requests are done.
func (s *Server) Close() {
	if s.http != nil {
		s.http.Close()
	}
}

// Users returns copies of all users in creation order.
func (s *Server) Users() []scimclient.Resource { return s.all(s.users) }

// Groups returns copies of all groups in creation order.
func (s *Server) Groups() []scimclient.Resource { return s.all(s.groups) }

func (s *Server) all(st *store) []scimclient.Resource {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := st.ids()
	out := make([]scimclient.Resource, 0, len(ids))
	for _, id := range ids {
		out = append(out, deepCopy(st.byID[id]).(map[string]any))
	}
	return out
}

// User returns a copy of one user, or nil.
func (s *Server) User(id string) scimclient.Resource { return s.one(s.users, id) }

// Group returns a copy of one group, or nil.
func (s *Server) Group(id string) scimclient.Resource { return s.one(s.groups, id) }

func (s *Server) one(st *store, id string) scimclient.Resource {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := st.byID[id]
	if !ok {
		return nil
	}
	return deepCopy(r).(map[string]any)
}

// UserByName returns a copy of the user with that userName, or nil.
func (s *Server) UserByName(userName string) scimclient.Resource {
	s.mu.RLock()
	id := s.users.index[s.userKey(userName)]
	s.mu.RUnlock()
	if id == "" {
		return nil
	}
	return s.User(id)
}

// Seed stores pre-existing accounts (created by someone else before scimsync ran), keeping any id given.
// It bypasses the HTTP counters; a seeding error (duplicate userName, missing userName) is returned.
func (s *Server) Seed(users ...scimclient.Resource) error {
	for _, u := range users {
		r := deepCopy(map[string]any(u)).(map[string]any)
		if _, ok := r["schemas"]; !ok {
			r["schemas"] = []any{scimclient.SchemaUser}
		}
		if e := s.createUser(r, ""); e != nil {
			return fmt.Errorf("seed %v: %s", u["userName"], e.detail)
		}
	}
	return nil
}

// SeedGroups stores pre-existing groups, keeping any id given.
func (s *Server) SeedGroups(groups ...scimclient.Resource) error {
	for _, g := range groups {
		r := deepCopy(map[string]any(g)).(map[string]any)
		if _, ok := r["schemas"]; !ok {
			r["schemas"] = []any{scimclient.SchemaGroup}
		}
		if e := s.createGroup(r, ""); e != nil {
			return fmt.Errorf("seed group %v: %s", g["displayName"], e.detail)
		}
	}
	return nil
}

// Requests returns request counts keyed like "POST /Users", "GET /Users/{id}", "GET /Users?filter",
// "PATCH /Groups/{id}", so tests can assert how many requests a cycle sent (zero for a no-change cycle).
func (s *Server) Requests() map[string]int64 {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	out := make(map[string]int64, len(s.counters))
	for k, v := range s.counters {
		out[k] = v
	}
	return out
}

// TotalRequests is the sum of Requests.
func (s *Server) TotalRequests() int64 {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	var n int64
	for _, v := range s.counters {
		n += v
	}
	return n
}

// ResetCounters zeroes Requests, e.g. between the initial and an incremental cycle.
func (s *Server) ResetCounters() {
	s.cmu.Lock()
	s.counters = map[string]int64{}
	s.cmu.Unlock()
}

func (s *Server) count(key string) {
	s.cmu.Lock()
	s.counters[key]++
	s.cmu.Unlock()
}

// apiError is a SCIM error answer (RFC 7644 §3.12).
type apiError struct {
	status   int
	scimType string
	detail   string
}

func errf(status int, scimType, format string, args ...any) *apiError {
	return &apiError{status: status, scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

func fromFilter(e *filter.Error) *apiError {
	return &apiError{status: e.Status, scimType: e.ScimType, detail: e.Detail}
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"schemas": []string{scimclient.SchemaError}, "status": strconv.Itoa(e.status), "detail": e.detail}
	if e.scimType != "" {
		body["scimType"] = e.scimType
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ServeHTTP routes by the last path segments, so the server works under any prefix (/scim, /scim/v2, /).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	kind, id := "", ""
	prefixLen := len(segs)
	for i := len(segs) - 1; i >= 0 && i >= len(segs)-2; i-- {
		switch segs[i] {
		case "Users", "Groups", "Schemas", "ResourceTypes", "ServiceProviderConfig", "Bulk":
			kind, prefixLen = segs[i], i
			if i == len(segs)-2 {
				id = segs[i+1]
			}
		}
		if kind != "" {
			break
		}
	}
	key := r.Method + " /" + kind
	switch {
	case id != "":
		key += "/{id}"
	case r.URL.Query().Has("filter"):
		key += "?filter"
	}
	s.count(key)
	ok, done := s.admit(w, r)
	if !ok {
		return
	}
	defer done()

	var after *Fault
	if s.opts.Fault != nil {
		if f := s.opts.Fault(r); f != nil {
			if f.Delay > 0 {
				t := time.NewTimer(f.Delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			if f.AfterHandling {
				after = f
			} else if s.applyFault(w, f) {
				return
			}
		}
	}
	if s.opts.Token != "" {
		got := r.Header.Get("Authorization")
		want := "Bearer " + s.opts.Token
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			writeError(w, errf(http.StatusUnauthorized, "", "missing or invalid bearer token"))
			return
		}
	}
	base := "http://" + r.Host
	if r.TLS != nil {
		base = "https://" + r.Host
	}
	if prefixLen > 0 {
		base += "/" + strings.Join(segs[:prefixLen], "/")
	}
	if after != nil {
		// Handle for real, then answer with the fault: the write happened, the client never learns it.
		rec := httptest.NewRecorder()
		s.route(rec, r, kind, id, base)
		s.applyFault(w, after)
		return
	}
	s.route(w, r, kind, id, base)
}

// applyFault answers with the fault; false when the fault only delayed the request.
func (s *Server) applyFault(w http.ResponseWriter, f *Fault) bool {
	if f.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body != "" || f.ContentType != "" {
		ct := f.ContentType
		if ct == "" {
			ct = "application/scim+json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, f.Body)
		return true
	}
	writeError(w, errf(f.Status, "", "injected fault"))
	return true
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, kind, id, base string) {
	switch kind {
	case "Users", "Groups":
	case "Schemas":
		s.serveSchemas(w, r)
		return
	case "ResourceTypes":
		s.serveResourceTypes(w, r, base)
		return
	case "ServiceProviderConfig":
		s.serveSPC(w, r)
		return
	case "Bulk":
		s.serveBulk(w, r, base)
		return
	default:
		writeError(w, errf(http.StatusNotFound, "", "no such endpoint %s", r.URL.Path))
		return
	}
	users := kind == "Users"
	switch {
	case id == "" && r.Method == http.MethodGet:
		s.list(w, r, users)
	case id == "" && r.Method == http.MethodPost:
		s.create(w, r, users, base)
	case id != "" && r.Method == http.MethodGet:
		s.get(w, r, users, id)
	case id != "" && r.Method == http.MethodPatch:
		s.patch(w, r, users, id)
	case id != "" && r.Method == http.MethodPut:
		s.put(w, r, users, id)
	case id != "" && r.Method == http.MethodDelete:
		s.delete(w, users, id)
	default:
		w.Header().Set("Allow", "GET, POST, PATCH, PUT, DELETE")
		writeError(w, errf(http.StatusMethodNotAllowed, "", "%s not allowed here", r.Method))
	}
}

func (s *Server) userKey(userName string) string {
	if s.opts.CaseExactUserName {
		return userName
	}
	return strings.ToLower(userName)
}

func groupKey(displayName string) string { return strings.ToLower(displayName) }

func (s *Server) evaluator() *filter.Evaluator {
	return &filter.Evaluator{CaseExact: map[string]bool{
		"id": true, "externalid": true, "members.value": true, "username": s.opts.CaseExactUserName,
	}}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, users bool) {
	q := r.URL.Query()
	var flt filter.Node
	if f := q.Get("filter"); f != "" {
		n, err := filter.Parse(f)
		if err != nil {
			writeError(w, errf(http.StatusBadRequest, "invalidFilter", "filter %q: %v", f, err))
			return
		}
		flt = n
	}
	start, count := 1, s.opts.MaxPageSize
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, errf(http.StatusBadRequest, "invalidValue", "startIndex %q", v))
			return
		}
		start = max(n, 1)
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, errf(http.StatusBadRequest, "invalidValue", "count %q", v))
			return
		}
		count = min(max(n, 0), s.opts.MaxPageSize)
	}
	proj := newProjection(q)
	ev := s.evaluator()

	s.mu.RLock()
	st, idxAttr := s.groups, "displayName"
	if users {
		st, idxAttr = s.users, "userName"
	}
	candidates := st.order // may hold deleted ids; skipped below
	if flt != nil {
		if v, ok := filter.EqLookup(flt, "id"); ok {
			candidates = []string{v}
		} else if v, ok := filter.EqLookup(flt, idxAttr); ok {
			key := groupKey(v)
			if users {
				key = s.userKey(v)
			}
			candidates = []string{st.index[key]}
		}
	}
	var matched []scimclient.Resource
	for _, id := range candidates {
		res, ok := st.byID[id]
		if !ok {
			continue
		}
		if flt == nil || flt.Match(res, ev) {
			matched = append(matched, res)
		}
	}
	s.mu.RUnlock()

	total := len(matched)
	page := []scimclient.Resource{}
	if start <= total {
		end := min(start-1+count, total)
		for _, res := range matched[start-1 : end] {
			page = append(page, proj.apply(res))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{scimclient.SchemaListResponse},
		"totalResults": total,
		"startIndex":   start,
		"itemsPerPage": len(page),
		"Resources":    page,
	})
}

// projection implements attributes / excludedAttributes on top-level names.
type projection struct {
	include, exclude map[string]bool
}

func newProjection(q map[string][]string) projection {
	var p projection
	split := func(v string) map[string]bool {
		m := map[string]bool{}
		for _, a := range strings.Split(v, ",") {
			if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
				m[a] = true
			}
		}
		return m
	}
	for k, v := range q {
		switch strings.ToLower(k) {
		case "attributes":
			p.include = split(strings.Join(v, ","))
		case "excludedattributes":
			p.exclude = split(strings.Join(v, ","))
		}
	}
	return p
}

func (p projection) apply(r scimclient.Resource) scimclient.Resource {
	if len(p.include) == 0 && len(p.exclude) == 0 {
		return r
	}
	out := make(scimclient.Resource, len(r))
	for k, v := range r {
		lk := strings.ToLower(k)
		always := lk == "id" || lk == "schemas" || lk == "meta"
		if !always && len(p.include) > 0 && !p.include[lk] {
			continue
		}
		if !always && p.exclude[lk] {
			continue
		}
		out[k] = v
	}
	return out
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, users bool, id string) {
	st := s.store(users)
	s.mu.RLock()
	res, ok := st.byID[id]
	s.mu.RUnlock()
	if !ok {
		writeError(w, errf(http.StatusNotFound, "", "Resource %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, newProjection(r.URL.Query()).apply(res))
}

func (s *Server) store(users bool) *store {
	if users {
		return s.users
	}
	return s.groups
}

func readBody(r *http.Request) (map[string]any, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/scim+json" && mt != "application/json") {
			return nil, errf(http.StatusUnsupportedMediaType, "", "content type %q is not application/scim+json", ct)
		}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "read body: %v", err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "body is not a JSON object: %v", err)
	}
	return m, nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, users bool, base string) {
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if users {
		e = s.createUser(body, base)
	} else {
		e = s.createGroup(body, base)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	meta, _ := body["meta"].(map[string]any)
	if loc, _ := meta["location"].(string); loc != "" {
		w.Header().Set("Location", loc)
	}
	writeJSON(w, http.StatusCreated, body)
}

// checkSchemas enforces that the schemas list names the core schema and only known extensions, and that
// every URN-keyed object is listed: strict targets reject anything else, and tests should see it.
func (s *Server) checkSchemas(r map[string]any, core string, exts []string) *apiError {
	list, ok := r["schemas"].([]any)
	if !ok || len(list) == 0 {
		return errf(http.StatusBadRequest, "invalidSyntax", "schemas is required")
	}
	listed := map[string]bool{}
	hasCore := false
	for _, v := range list {
		u, _ := v.(string)
		switch {
		case strings.EqualFold(u, core):
			hasCore = true
		case filter.ContainsFold(exts, u):
		default:
			return errf(http.StatusBadRequest, "invalidSyntax", "unknown schema %q", u)
		}
		listed[strings.ToLower(u)] = true
	}
	if !hasCore {
		return errf(http.StatusBadRequest, "invalidSyntax", "schemas must include %s", core)
	}
	for k, v := range r {
		if len(k) > 4 && strings.EqualFold(k[:4], "urn:") {
			if !filter.ContainsFold(exts, k) {
				return errf(http.StatusBadRequest, "invalidSyntax", "unknown extension %q", k)
			}
			if _, ok := v.(map[string]any); !ok {
				return errf(http.StatusBadRequest, "invalidSyntax", "extension %q must be an object", k)
			}
			if !listed[strings.ToLower(k)] {
				return errf(http.StatusBadRequest, "invalidSyntax", "extension %q is not listed in schemas", k)
			}
		}
	}
	return nil
}

// normalize coerces the values Entra sends loosely into their schema types, as a target built for Entra
// must: active "True"/"False" strings to booleans, the manager id to {"value": id}.
func normalize(r map[string]any) *apiError {
	if k := filter.KeyFold(r, "active"); r[k] != nil {
		switch v := r[k].(type) {
		case bool:
		case string:
			switch strings.ToLower(v) {
			case "true":
				r[k] = true
			case "false":
				r[k] = false
			default:
				return errf(http.StatusBadRequest, "invalidValue", "active %q is not a boolean", v)
			}
		default:
			return errf(http.StatusBadRequest, "invalidValue", "active must be a boolean")
		}
	}
	if ent, ok := scimclient.GetFold(r, scimclient.SchemaEnterprise).(map[string]any); ok {
		mk := filter.KeyFold(ent, "manager")
		switch v := ent[mk].(type) {
		case nil:
			delete(ent, mk)
		case string:
			if v == "" {
				delete(ent, mk)
			} else {
				ent[mk] = map[string]any{"value": v}
			}
		case []any:
			if len(v) == 1 {
				if m, ok := v[0].(map[string]any); ok {
					ent[mk] = m
					break
				}
			}
			return errf(http.StatusBadRequest, "invalidValue", "manager must be single-valued")
		case map[string]any:
		default:
			return errf(http.StatusBadRequest, "invalidValue", "manager has the wrong type")
		}
	}
	for k, v := range r {
		if v == nil {
			delete(r, k)
		}
	}
	return nil
}

func (s *Server) stamp(r map[string]any, resourceType, base string, created bool) {
	now := s.now().UTC().Format("2006-01-02T15:04:05.000Z")
	meta, _ := r["meta"].(map[string]any)
	if created || meta == nil {
		meta = map[string]any{"resourceType": resourceType, "created": now}
	} else {
		meta = deepCopy(meta).(map[string]any)
	}
	meta["lastModified"] = now
	if base != "" {
		meta["location"] = base + "/" + resourceType + "s/" + r["id"].(string)
	}
	r["meta"] = meta
}

func (s *Server) createUser(r map[string]any, base string) *apiError {
	if e := s.checkSchemas(r, scimclient.SchemaUser, s.exts); e != nil {
		return e
	}
	if e := normalize(r); e != nil {
		return e
	}
	userName, _ := scimclient.GetFold(r, "userName").(string)
	if strings.TrimSpace(userName) == "" {
		return errf(http.StatusBadRequest, "invalidValue", "userName is required")
	}
	id, _ := r["id"].(string)
	if id == "" || base != "" { // clients may not choose ids; Seed may
		id = uuid.NewString()
	}
	r["id"] = id
	delete(r, "password")
	s.stamp(r, "User", base, true)
	key := s.userKey(userName)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.users.index[key]; taken {
		return errf(http.StatusConflict, "uniqueness", "userName %q already exists", userName)
	}
	if _, taken := s.users.byID[id]; taken {
		return errf(http.StatusConflict, "uniqueness", "id %q already exists", id)
	}
	s.users.byID[id] = r
	s.users.index[key] = id
	s.users.order = append(s.users.order, id)
	return nil
}

func (s *Server) groupExts() []string { return []string{scimclient.SchemaADSCIMGroup} }

func (s *Server) createGroup(r map[string]any, base string) *apiError {
	if e := s.checkSchemas(r, scimclient.SchemaGroup, s.groupExts()); e != nil {
		return e
	}
	for k, v := range r {
		if v == nil {
			delete(r, k)
		}
	}
	name, _ := scimclient.GetFold(r, "displayName").(string)
	if strings.TrimSpace(name) == "" {
		return errf(http.StatusBadRequest, "invalidValue", "displayName is required")
	}
	id, _ := r["id"].(string)
	if id == "" || base != "" {
		id = uuid.NewString()
	}
	r["id"] = id
	s.stamp(r, "Group", base, true)
	key := groupKey(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.groups.index[key]; taken {
		return errf(http.StatusConflict, "uniqueness", "displayName %q already exists", name)
	}
	if e := s.checkMembersLocked(r); e != nil {
		return e
	}
	if _, ok := r["members"]; !ok {
		r["members"] = []any{}
	}
	s.groups.byID[id] = r
	s.groups.index[key] = id
	s.groups.order = append(s.groups.order, id)
	return nil
}

// checkMembersLocked rejects member ids that name no user or group, so tests catch an engine that sends
// source ids instead of target ids.
func (s *Server) checkMembersLocked(r map[string]any) *apiError {
	list, _ := scimclient.GetFold(r, "members").([]any)
	seen := map[string]bool{}
	kept := list[:0]
	for _, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			return errf(http.StatusBadRequest, "invalidValue", "members must be objects")
		}
		v, _ := scimclient.GetFold(m, "value").(string)
		if _, u := s.users.byID[v]; !u {
			if _, g := s.groups.byID[v]; !g {
				return errf(http.StatusBadRequest, "invalidValue", "member %q does not exist", v)
			}
		}
		if seen[v] {
			continue
		}
		seen[v] = true
		kept = append(kept, m)
	}
	if list != nil {
		r[filter.KeyFold(r, "members")] = kept
	}
	return nil
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, users bool, id string) {
	writeError(w, errf(http.StatusNotImplemented, "", "PUT is not supported; Entra uses PATCH"))
}

func (s *Server) delete(w http.ResponseWriter, users bool, id string) {
	s.mu.Lock()
	st := s.store(users)
	res, ok := st.byID[id]
	if !ok {
		s.mu.Unlock()
		writeError(w, errf(http.StatusNotFound, "", "Resource %s not found", id))
		return
	}
	st.remove(id)
	if users {
		name, _ := scimclient.GetFold(res, "userName").(string)
		delete(st.index, s.userKey(name))
	} else {
		name, _ := scimclient.GetFold(res, "displayName").(string)
		delete(st.index, groupKey(name))
	}
	s.dropMemberLocked(id)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// dropMemberLocked removes a deleted object from every group, as real targets do.
func (s *Server) dropMemberLocked(id string) {
	for gid, g := range s.groups.byID {
		list, _ := scimclient.GetFold(g, "members").([]any)
		idx := -1
		for i, it := range list {
			if m, ok := it.(map[string]any); ok && scimclient.GetFold(m, "value") == id {
				idx = i
				break
			}
		}
		if idx < 0 {
			continue
		}
		ng := filter.ShallowCopy(g)
		nl := append(append([]any{}, list[:idx]...), list[idx+1:]...)
		ng[filter.KeyFold(g, "members")] = nl
		s.groups.byID[gid] = ng
	}
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, users bool, id string) {
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	ops, pe := filter.ParsePatch(body)
	if pe != nil {
		writeError(w, fromFilter(pe))
		return
	}
	s.mu.Lock()
	st := s.store(users)
	old, ok := st.byID[id]
	if !ok {
		s.mu.Unlock()
		writeError(w, errf(http.StatusNotFound, "", "Resource %s not found", id))
		return
	}
	res := deepCopy(old).(map[string]any)
	exts := s.exts
	if !users {
		exts = s.groupExts()
	}
	for _, op := range ops {
		if pe := filter.ApplyPatch(res, op, exts); pe != nil {
			e = fromFilter(pe)
			break
		}
	}
	if e == nil && users {
		e = normalize(res)
	}
	if e == nil && !users {
		e = s.checkMembersLocked(res)
	}
	if e == nil {
		e = s.reindexLocked(users, old, res)
	}
	if e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	res["id"] = id
	s.stamp(res, map[bool]string{true: "User", false: "Group"}[users], "", false)
	if loc, ok := old["meta"].(map[string]any)["location"]; ok {
		res["meta"].(map[string]any)["location"] = loc
	}
	st.byID[id] = res
	s.mu.Unlock()
	if !users {
		// Entra expects 204 for group PATCH (https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups).
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// reindexLocked keeps the uniqueness index right after a PATCH changed userName or displayName.
func (s *Server) reindexLocked(users bool, old, res map[string]any) *apiError {
	attr, st := "displayName", s.groups
	keyOf := groupKey
	if users {
		attr, st, keyOf = "userName", s.users, s.userKey
	}
	oldName, _ := scimclient.GetFold(old, attr).(string)
	newName, _ := scimclient.GetFold(res, attr).(string)
	if strings.TrimSpace(newName) == "" {
		return errf(http.StatusBadRequest, "invalidValue", "%s is required", attr)
	}
	ok, nk := keyOf(oldName), keyOf(newName)
	if ok == nk {
		return nil
	}
	if _, taken := st.index[nk]; taken {
		return errf(http.StatusConflict, "uniqueness", "%s %q already exists", attr, newName)
	}
	delete(st.index, ok)
	st.index[nk] = old["id"].(string)
	return nil
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case scimclient.Resource:
		return deepCopy(map[string]any(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// Sorted returns the users sorted by userName; a convenience for golden-style assertions.
func (s *Server) Sorted() []scimclient.Resource {
	us := s.Users()
	sort.Slice(us, func(i, j int) bool {
		a, _ := us[i]["userName"].(string)
		b, _ := us[j]["userName"].(string)
		return a < b
	})
	return us
}
