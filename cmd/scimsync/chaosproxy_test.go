package main

// The fault proxy of the chaos test: a reverse proxy on 127.0.0.1 between the scimsync binary and the
// SCIM target that answers chosen requests with a fault, and kills the binary at a chosen request.
// Requests are chosen by counting (the nth request of a class in the current run), never by time.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// faultKind is what the proxy does to one request.
type faultKind int

const (
	// Answered without forwarding: the target never sees the request.
	fault500   faultKind = iota // 500 Internal Server Error
	fault503                    // 503 Service Unavailable
	fault429                    // 429 Too Many Requests with Retry-After
	faultHold                   // no answer until the client gives up (its timeout)
	faultReset                  // the connection is reset (RST) before any answer
	// Forwarded and applied by the target, then the answer is lost: the late failures.
	faultLate500  // the target's answer replaced by 500
	faultLateDrop // the connection closed instead of the target's answer
	faultLateHold // the target's answer held until the client gives up
	// SIGKILL of the binary.
	faultKillBefore // killed at the request, which is never forwarded
	faultKillAfter  // killed after the request was forwarded and applied, before its answer
)

func (k faultKind) String() string {
	return [...]string{"500", "503", "429", "hold", "reset", "late-500", "late-drop", "late-hold",
		"kill-before", "kill-after"}[k]
}

func (k faultKind) kill() bool { return k == faultKillBefore || k == faultKillAfter }

// Request classes a rule can count. Every request is counted in "*" and in "METHOD /Endpoint"; a user
// PATCH touching the manager also in classManagerPatch, a group PATCH touching members in
// classMemberPatch.
const (
	classAny          = "*"
	classUserCreate   = "POST /Users"
	classGroupCreate  = "POST /Groups"
	classUserPatch    = "PATCH /Users"
	classGroupPatch   = "PATCH /Groups"
	classUserGet      = "GET /Users"
	classGroupGet     = "GET /Groups"
	classManagerPatch = "PATCH /Users manager"
	classMemberPatch  = "PATCH /Groups members"
)

// proxyRule applies kind to the nth (1-based) request of class in a run.
type proxyRule struct {
	class      string
	nth        int
	kind       faultKind
	retryAfter string // for fault429
	// fired is set when the rule hit a request; hit describes that request.
	fired bool
	hit   string
}

func (r *proxyRule) String() string {
	s := fmt.Sprintf("%s #%d: %s", r.class, r.nth, r.kind)
	if r.kind == fault429 {
		s += " (Retry-After " + r.retryAfter + ")"
	}
	if r.fired {
		return s + " -> hit " + r.hit
	}
	return s + " (not reached)"
}

// proxyEvent is one request the proxy saw.
type proxyEvent struct {
	method, path string
	fault        string // "" when forwarded normally
}

func (e proxyEvent) write() bool { return e.method != http.MethodGet }

func (e proxyEvent) String() string {
	if e.fault != "" {
		return fmt.Sprintf("%s %s [%s]", e.method, e.path, e.fault)
	}
	return e.method + " " + e.path
}

type faultProxy struct {
	origin *url.URL
	client *http.Client
	srv    *httptest.Server
	// release ends every held request when the test ends.
	release chan struct{}

	mu       sync.Mutex
	idle     *sync.Cond // signalled when inflight drops to 0
	inflight int
	rules    []*proxyRule
	counts   map[string]int
	// kill sends SIGKILL to the binary of the current run and returns once it has exited.
	kill   func()
	killed bool
	events []proxyEvent
	total  int
}

// startFaultProxy starts the proxy in front of the SCIM base URL target and returns it with the base
// URL the job must use.
func startFaultProxy(t *testing.T, target string) (*faultProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{
		origin:  &url.URL{Scheme: u.Scheme, Host: u.Host},
		client:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		release: make(chan struct{}),
	}
	p.idle = sync.NewCond(&p.mu)
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	t.Cleanup(func() { close(p.release) }) // runs first: held requests end, then the server closes
	return p, p.srv.URL + u.Path
}

// arm sets the rules and the kill function of the next run and starts a fresh count.
func (p *faultProxy) arm(rules []*proxyRule, kill func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.kill, p.killed, p.counts, p.events = rules, kill, false, map[string]int{}, nil
}

// disarm waits until no request is in the proxy any more (the binary has exited, so nothing new can
// come) and returns what the run sent.
func (p *faultProxy) disarm() []proxyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.inflight > 0 {
		p.idle.Wait()
	}
	ev := p.events
	p.rules, p.kill, p.events = nil, nil, nil
	return ev
}

func classes(r *http.Request, body []byte) []string {
	ep := ""
	for _, seg := range strings.Split(strings.Trim(r.URL.Path, "/"), "/") {
		if seg == "Users" || seg == "Groups" {
			ep = seg
		}
	}
	out := []string{classAny, r.Method + " /" + ep}
	switch {
	case r.Method == http.MethodPatch && ep == "Users" && bytes.Contains(body, []byte("enterprise:2.0:User:manager")):
		out = append(out, classManagerPatch)
	case r.Method == http.MethodPatch && ep == "Groups" && bytes.Contains(bytes.ToLower(body), []byte(`members`)):
		out = append(out, classMemberPatch)
	}
	return out
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client is gone
	}
	p.mu.Lock()
	p.inflight++
	defer func() {
		p.mu.Lock()
		p.inflight--
		if p.inflight == 0 {
			p.idle.Broadcast()
		}
		p.mu.Unlock()
	}()
	ev := proxyEvent{method: r.Method, path: r.URL.Path}
	if p.killed {
		// Sent by the binary before it died and read only now: lost on the way, as the process is.
		ev.fault = "after kill, dropped"
		p.events = append(p.events, ev)
		p.mu.Unlock()
		reset(w)
		return
	}
	var rule *proxyRule
	for _, c := range classes(r, body) {
		p.counts[c]++
		for _, x := range p.rules {
			if rule == nil && !x.fired && x.class == c && x.nth == p.counts[c] {
				rule = x
			}
		}
	}
	p.total++
	if rule != nil {
		rule.fired, rule.hit = true, r.Method+" "+r.URL.Path
		ev.fault = rule.kind.String()
		if rule.kind.kill() {
			p.killed = true
		}
	}
	p.events = append(p.events, ev)
	kill := p.kill
	p.mu.Unlock()

	if rule != nil {
		switch rule.kind {
		case fault500, fault503, fault429:
			status := map[faultKind]int{fault500: 500, fault503: 503, fault429: 429}[rule.kind]
			if rule.kind == fault429 {
				w.Header().Set("Retry-After", rule.retryAfter)
			}
			scimError(w, status)
			return
		case faultHold:
			p.hold(r)
			return
		case faultReset:
			reset(w)
			return
		case faultKillBefore:
			kill()
			reset(w)
			return
		}
	}
	status, header, respBody, err := p.forward(r, body)
	if err != nil {
		reset(w)
		return
	}
	if rule != nil {
		switch rule.kind {
		case faultLate500:
			scimError(w, http.StatusInternalServerError)
			return
		case faultLateDrop:
			reset(w)
			return
		case faultLateHold:
			p.hold(r)
			return
		case faultKillAfter:
			kill()
			reset(w)
			return
		}
	}
	for _, k := range []string{"Content-Type", "Location", "ETag", "Retry-After"} {
		if v := header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(respBody)
}

// forward sends the request to the target and reads the whole answer. It does not follow the client's
// context: a request that reached the proxy reaches the target, whatever happens to the client.
func (p *faultProxy) forward(r *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := *p.origin
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	req, err := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for _, k := range []string{"Authorization", "Content-Type", "Accept", "If-Match"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// hold keeps the request unanswered until the client gives up or the test ends.
func (p *faultProxy) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-p.release:
	}
}

func scimError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","detail":"chaos: injected %s"}`,
		status, http.StatusText(status))
}

// reset closes the client's connection with a TCP reset and no answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
