package scimclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/scimsync/scimsync/logctx"
	"github.com/scimsync/scimsync/scimclient/internal/body"
	"github.com/scimsync/scimsync/scimclient/internal/pace"
	"github.com/scimsync/scimsync/scimclient/internal/wire"
)

// Mode selects the request shapes, a per-target switch exactly as in Entra (the shapes are documented
// in scimclient/internal/body).
type Mode = body.Mode

// The request shapes.
const (
	ModeDefault          = body.ModeDefault
	ModeAADOptSCIM062020 = body.ModeAADOptSCIM062020
	ModeStrict           = body.ModeStrict
)

// flagAADOpt is the query flag Entra admins append to the tenant URL to select the fixed shapes.
const flagAADOpt = "aadOptscim062020"

// Defaults, chosen for a gallery SaaS target: Entra expects targets to take 25 requests/s, most answer
// within a few seconds, and a few retries ride out a deploy or a throttling burst.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultConcurrency = 4
	DefaultMaxRetries  = 4
	// DefaultMaxRetryWait bounds how long one request sleeps on Retry-After before giving the error back to
	// the engine, which can postpone the object instead of holding a worker.
	DefaultMaxRetryWait = 60 * time.Second
	maxResponseBytes    = 64 << 20
	// maxPages bounds one listing or filter query: 20,000 pages is 10 million accounts at the engine's
	// 500 a page, and 2 million at a server that caps pages at 100.
	maxPages = 20000
	// listPageSlack lets a listing run a few pages past what its first page promised.
	listPageSlack = 10
)

// Options configure a Client. Zero values take the defaults above, so a config file only names what differs.
type Options struct {
	// BaseURL is the SCIM root, e.g. https://host/scim or https://host/scim/v2. A ?aadOptscim062020 query
	// flag selects ModeAADOptSCIM062020 (as in Entra) and is stripped from request URLs.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>". It never appears in errors or logs. Ignored when
	// Tokens is set.
	Token string
	// Tokens supplies the bearer token per request (OAuth 2.0); nil means the static Token.
	Tokens TokenSource
	// HTTPClient, when nil, is a tuned client whose keep-alive pool is sized to Concurrency.
	HTTPClient *http.Client
	// Timeout bounds each HTTP attempt (not the retries together; the caller's ctx does that).
	Timeout time.Duration
	// Concurrency is how many requests the engine will run at once; it sizes the connection pool. With
	// MaxConcurrency it is the adaptive limit's starting point.
	Concurrency int
	// MaxConcurrency, when above 0, turns on adaptive concurrency (see README.md): the client lets at most
	// a changing number of requests be in flight, from Concurrency up to MaxConcurrency while the target's
	// throughput keeps growing, halved on 429/503, with every request paused for the Retry-After the
	// target asked for. The caller must then run up to MaxConcurrency requests at once. 0 keeps the
	// fixed concurrency of the caller.
	MaxConcurrency int
	// RequestsPerSecond caps the request rate across all goroutines, retries included; 0 = unlimited.
	RequestsPerSecond float64
	// MaxRetries is the number of retries after the first attempt: 0 takes DefaultMaxRetries, negative disables.
	MaxRetries int
	// MaxRetryWait caps a single Retry-After sleep; a longer demand ends the request with ErrThrottled.
	MaxRetryWait time.Duration
	// RetryInitialInterval and RetryMaxInterval shape the exponential backoff (defaults 500ms and 30s);
	// tests shorten them.
	RetryInitialInterval time.Duration
	RetryMaxInterval     time.Duration
	// Mode selects the request shapes; the URL flag overrides it.
	Mode Mode
	// Logger may be nil. Retries are logged at Info, with method, path, status and wait; never the token.
	Logger *zap.Logger
	// UserAgent is sent on every request so target operators can tell scimsync from Entra in their logs.
	UserAgent string
	// BreakerThreshold is how many consecutive requests failing as unreachable open the circuit breaker
	// (see ErrTargetUnreachable): 0 takes DefaultBreakerThreshold, negative disables it.
	BreakerThreshold int
}

// TokenSource supplies the bearer token of each request. A failure is ErrTransient when it has a method
// Transient() bool that answers true (the token endpoint is down: retry, then escrow), and
// ErrUnauthorized otherwise (the authorization is gone: quarantine); the Error wraps it either way, so
// errors.Is finds the source's own kinds.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	// Invalidate reports that the target answered 401 to token: the next Token must not return it. It
	// returns false when no other token can come (a static token), so the request is not resent.
	Invalidate(token string) bool
}

// staticToken is the TokenSource of Options.Token.
type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate(string) bool                  { return false }

// Client is a SCIM 2.0 client for one target. It is safe for concurrent use; the engine shares one per job.
type Client struct {
	base    *url.URL
	query   url.Values // other query parameters of BaseURL, kept on every request
	tokens  TokenSource
	http    *http.Client
	timeout time.Duration
	limiter *rate.Limiter
	retries int
	maxWait time.Duration
	backoff backoffParams
	mode    Mode
	log     *zap.Logger
	ua      string
	stats   counters
	// elementAdds is Dialect.ElementAdds; atomic because the engine patches from several goroutines.
	elementAdds atomic.Bool
	brk         *breaker
	// gate is the adaptive concurrency limiter; nil unless Options.MaxConcurrency is set.
	gate *pace.Gate
	// usersURL is requestURL of POST /Users, made once.
	usersURL string
	// bearer is the Authorization header of the last token; uaValues the User-Agent header.
	bearer   atomic.Pointer[bearer]
	uaValues []string
}

type backoffParams struct{ initial, max time.Duration }

// New validates the options and builds a client. A bad URL fails here, at config load, with a message
// that names the problem rather than as a transport error in the first cycle.
func New(o Options) (*Client, error) {
	u, err := parseBaseURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{tokens: o.Tokens, mode: o.Mode, log: o.Logger, ua: o.UserAgent}
	if c.tokens == nil {
		c.tokens = staticToken(o.Token)
	}
	c.setBase(u)
	c.usersURL = c.requestURL(&request{path: usersPath})
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.ua == "" {
		c.ua = "scimsync"
	}
	c.uaValues = []string{c.ua}
	conc := o.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	c.timeout = o.Timeout
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if o.MaxConcurrency > 0 {
		if o.MaxConcurrency < conc {
			return nil, fmt.Errorf("scim client: max concurrency %d is below the concurrency %d", o.MaxConcurrency, conc)
		}
		c.gate = pace.NewGate(conc, o.MaxConcurrency, c.log)
		conc = o.MaxConcurrency
	}
	if o.HTTPClient != nil {
		hc := *o.HTTPClient // a copy: the caller's client keeps its own redirect policy and timeout
		// Each attempt is bounded by its own context (c.timeout, attempt), body read included; the
		// client's whole-request timeout would only add a second timer and cancel context to every
		// request (about 30 MB of allocations in a 100,000-user cycle).
		hc.Timeout = 0
		c.http = &hc
	} else {
		c.http = &http.Client{Transport: defaultTransport(conc)}
	}
	// A SCIM target never legitimately redirects an API call. Following one would re-send user bodies
	// (and, to the same host, the bearer token) to wherever the Location points, so the 3xx itself is
	// the answer: attempt turns it into ErrCompliance.
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.RequestsPerSecond > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(o.RequestsPerSecond), 1)
	}
	c.setRetryPolicy(o)
	return c, nil
}

// parseBaseURL checks the SCIM base URL: http or https, a host, no credentials, no fragment. Errors
// show it redacted.
func parseBaseURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("scim client: base URL is empty")
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("scim client: base URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return nil, fmt.Errorf("scim client: base URL %q has no scheme (want https://host/scim)", redactURL(u))
	default:
		return nil, fmt.Errorf("scim client: base URL %q: scheme %q is not http or https", redactURL(u), u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("scim client: base URL %q has no host", redactURL(u))
	}
	if u.User != nil {
		return nil, fmt.Errorf("scim client: base URL %q must not carry credentials; use the token", redactURL(u))
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("scim client: base URL %q must not have a fragment", redactURL(u))
	}
	return u, nil
}

// setBase keeps u as the base of every request: Entra's aadOptscim062020 query flag selects that mode
// (unless another was chosen) and is dropped, other query parameters are sent with every request.
func (c *Client) setBase(u *url.URL) {
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, flagAADOpt) {
			if c.mode == ModeDefault {
				c.mode = ModeAADOptSCIM062020
			}
			q.Del(k)
		}
	}
	if len(q) > 0 {
		c.query = q
	}
	u.RawQuery, u.ForceQuery = "", false
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c.base = u
}

// setRetryPolicy applies the retry, Retry-After, breaker and backoff options, defaults for zero values.
func (c *Client) setRetryPolicy(o Options) {
	switch {
	case o.MaxRetries < 0:
		c.retries = 0
	case o.MaxRetries == 0:
		c.retries = DefaultMaxRetries
	default:
		c.retries = o.MaxRetries
	}
	c.maxWait = o.MaxRetryWait
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxRetryWait
	}
	switch {
	case o.BreakerThreshold < 0:
		c.brk = newBreaker(0)
	case o.BreakerThreshold == 0:
		c.brk = newBreaker(DefaultBreakerThreshold)
	default:
		c.brk = newBreaker(o.BreakerThreshold)
	}
	c.backoff = backoffParams{initial: o.RetryInitialInterval, max: o.RetryMaxInterval}
	if c.backoff.initial <= 0 {
		c.backoff.initial = 500 * time.Millisecond
	}
	if c.backoff.max <= 0 {
		c.backoff.max = 30 * time.Second
	}
}

func defaultTransport(conc int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          conc * 2,
		MaxIdleConnsPerHost:   conc * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}

// ResetBreaker closes the circuit breaker and clears its count. The breaker's state belongs to one
// cycle: call this before each cycle, so a target that was down in the last one gets a fresh chance.
func (c *Client) ResetBreaker() { c.brk.reset() }

// ConcurrencyLimit reports how many requests the adaptive limiter lets be in flight now, for the
// scimsync_target_concurrency_limit gauge; 0 when adaptive concurrency is off.
func (c *Client) ConcurrencyLimit() int {
	if c.gate == nil {
		return 0
	}
	return c.gate.Limit()
}

// Mode reports the request shapes in force, after the URL flag was applied, so the engine builds PATCH
// bodies that match.
func (c *Client) Mode() Mode { return c.mode }

// BaseURL returns the base URL without the mode flag, for logs and the status page.
func (c *Client) BaseURL() string { return c.base.String() }

// Stats is a snapshot of request counters, for benchmarks ("SCIM requests sent") and metrics.
type Stats struct {
	Requests  int64            // HTTP attempts, retries included
	ByMethod  map[string]int64 // attempts per HTTP method
	ByStatus  map[int]int64    // responses per status code (0 = transport error)
	Retries   int64            // attempts that were retries
	Throttled int64            // 429 responses seen
	Errors    int64            // requests that finally failed (after retries), Unsent included
	Unsent    int64            // requests failed at once, without an attempt, by the open circuit breaker
}

type counters struct {
	requests, retries, throttled, errors atomic.Int64
	unsent                               atomic.Int64
	get, post, patch, put, delete, other atomic.Int64
	byCode                               [600]atomic.Int64
}

// Stats returns the counters since New. Safe to call concurrently with requests.
func (c *Client) Stats() Stats {
	s := Stats{
		Requests:  c.stats.requests.Load(),
		Retries:   c.stats.retries.Load(),
		Throttled: c.stats.throttled.Load(),
		Errors:    c.stats.errors.Load(),
		Unsent:    c.stats.unsent.Load(),
		ByMethod:  map[string]int64{},
		ByStatus:  map[int]int64{},
	}
	for m, v := range map[string]*atomic.Int64{
		http.MethodGet: &c.stats.get, http.MethodPost: &c.stats.post, http.MethodPatch: &c.stats.patch,
		http.MethodPut: &c.stats.put, http.MethodDelete: &c.stats.delete, "OTHER": &c.stats.other,
	} {
		if n := v.Load(); n > 0 {
			s.ByMethod[m] = n
		}
	}
	for code := range c.stats.byCode {
		if n := c.stats.byCode[code].Load(); n > 0 {
			s.ByStatus[code] = n
		}
	}
	return s
}

func (c *Client) countAttempt(method string, retry bool) {
	c.stats.requests.Add(1)
	if retry {
		c.stats.retries.Add(1)
	}
	switch method {
	case http.MethodGet:
		c.stats.get.Add(1)
	case http.MethodPost:
		c.stats.post.Add(1)
	case http.MethodPatch:
		c.stats.patch.Add(1)
	case http.MethodPut:
		c.stats.put.Add(1)
	case http.MethodDelete:
		c.stats.delete.Add(1)
	default:
		c.stats.other.Add(1)
	}
}

// request is one logical SCIM call; do turns it into one or more HTTP attempts.
type request struct {
	method string
	path   string     // relative to base, e.g. /Users/123
	query  url.Values // nil for none
	body   any        // marshalled as JSON; nil for none
	// filterQuery marks a GET with a filter: 404 there is a protocol violation, not a missing object.
	filterQuery bool
}

// response is a successful answer: status and raw body (nil for 204).
type response struct {
	status int
	body   []byte
	// buf holds body; free hands it back for the next answer. A caller that keeps body or what it
	// decoded from it without copying simply never calls free.
	buf *bytes.Buffer
}

// answerBufs are the buffers answers are read into: a created user's answer, read with io.ReadAll,
// was about 3 KB of growing buffers per create.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledAnswer keeps an occasional huge answer (a listing page) from staying in the pool.
const maxPooledAnswer = 64 << 10

// free hands the answer's buffer back; body must not be used afterwards.
func (r *response) free() {
	if r.buf == nil || r.buf.Cap() > maxPooledAnswer {
		return
	}
	r.buf.Reset()
	answerBufs.Put(r.buf)
	r.buf, r.body = nil, nil
}

func (r *request) display() string {
	if len(r.query) == 0 {
		return r.path
	}
	return r.path + "?" + encodeQuery(r.query)
}

// encodeQuery percent-encodes spaces as %20 rather than '+': both are valid in a query, but some SCIM
// servers decode only %20 inside filter values.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}

func (c *Client) do(ctx context.Context, rq *request) (*response, error) {
	payload, err := encodeBody(rq)
	if err != nil {
		return nil, err
	}
	target := c.requestURL(rq)

	var bo *backoff.ExponentialBackOff // made at the first retry: most requests need none
	gen := c.brk.generation()
	var lastErr *Error
	// renewed: a 401 already made the token source fetch a new token for this request; a second 401
	// means the new token is refused too, and stands.
	renewed := false
	for attempt := 0; ; attempt++ {
		tk, err := c.admit(ctx, gen, rq, lastErr, attempt)
		if err != nil {
			return nil, err
		}
		c.countAttempt(rq.method, attempt > 0)
		resp, serr, retry := c.attempt(ctx, gen, rq, target, payload, attempt)
		c.release(tk, resp, serr)
		var refused string
		if serr != nil {
			refused, serr.token = serr.token, ""
		}
		if refused != "" && !renewed && c.tokens.Invalidate(refused) {
			// The access token expired early or was revoked: renew it once and resend at once, as the
			// same attempt (a DELETE refused with 401 deleted nothing, so its 404 must not count as done).
			renewed = true
			c.brk.done(gen, serr)
			attempt--
			continue
		}
		if serr == nil {
			c.brk.done(gen, nil)
			return resp, nil
		}
		serr.Attempts = attempt + 1
		if ctx.Err() != nil {
			return nil, c.ctxErr(ctx, rq, serr, ctx.Err())
		}
		if err := c.brk.refused(gen, rq); err != nil {
			// Another request opened the breaker and cut this attempt short.
			c.stats.errors.Add(1)
			return nil, err
		}
		lastErr = serr
		if !retry || attempt >= c.retries {
			c.stats.errors.Add(1)
			return nil, c.brk.done(gen, serr)
		}
		if serr.RetryAfter > c.maxWait {
			// Sleeping this long would hold a worker for nothing; the engine postpones the object.
			c.stats.errors.Add(1)
			return nil, c.brk.done(gen, serr)
		}
		if bo == nil {
			bo = &backoff.ExponentialBackOff{
				InitialInterval:     c.backoff.initial,
				RandomizationFactor: backoff.DefaultRandomizationFactor,
				Multiplier:          2,
				MaxInterval:         c.backoff.max,
			}
			bo.Reset()
		}
		if err := c.sleep(ctx, gen, rq, serr, bo, attempt); err != nil {
			return nil, err
		}
	}
}

// sleep waits before the next attempt: the target's Retry-After, else the next backoff. The breaker
// opening ends the wait early (the next attempt reports it); the context ending is the request's error.
func (c *Client) sleep(ctx, gen context.Context, rq *request, serr *Error, bo backoff.BackOff, attempt int) error {
	wait := serr.RetryAfter
	if wait <= 0 {
		wait = bo.NextBackOff()
	}
	logctx.Logger(ctx, c.log).Info("scim request failed, retrying",
		zap.String("method", rq.method), zap.String("path", rq.path), zap.Int("status", serr.Status),
		zap.String("errorKind", strings.TrimPrefix(fmt.Sprint(serr.Kind), "scim: ")),
		zap.Int("attempt", attempt+1), zap.Duration("wait", wait))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return c.ctxErr(ctx, rq, serr, ctx.Err())
	case <-gen.Done():
	case <-t.C:
	}
	return nil
}

// encodeBody renders rq's body: as given when it is already encoded (Bulk: json.Marshal would copy and
// re-validate it), else the bytes json.Marshal would give, without its reflection (body.AppendJSON),
// and json.Marshal for anything that encoder does not take.
func encodeBody(rq *request) ([]byte, error) {
	payload, err := encodeValue(rq.body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: encode body: %w", rq.method, rq.path, err)
	}
	return payload, nil
}

// encodeValue is v as JSON: a json.RawMessage as it is, the reflection-free encoder where it applies
// (the same bytes as encoding/json), encoding/json for the rest.
func encodeValue(v any) ([]byte, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	if v == nil {
		return nil, nil
	}
	if payload, ok := body.AppendJSON(make([]byte, 0, 1024), v); ok {
		return payload, nil
	}
	return json.Marshal(v)
}

// requestURL is rq's full URL: the base, rq's path, and the base's query parameters beside rq's own.
func (c *Client) requestURL(rq *request) string {
	if rq.path == usersPath && rq.query == nil && c.usersURL != "" {
		return c.usersURL // every create's URL
	}
	u := *c.base
	u.Path = c.base.Path + rq.path
	q := rq.query
	if len(c.query) > 0 {
		q = url.Values{}
		for k, v := range c.query {
			q[k] = v
		}
		for k, v := range rq.query {
			q[k] = v
		}
	}
	if len(q) > 0 {
		u.RawQuery = encodeQuery(q)
	}
	return u.String()
}

// admit waits for the request rate, checks the breaker and takes a slot of the adaptive gate, in that
// order, before an attempt; an error ends the request.
func (c *Client) admit(ctx, gen context.Context, rq *request, lastErr *Error, attempt int) (pace.Ticket, error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return pace.Ticket{}, c.ctxErr(ctx, rq, lastErr, err)
		}
	}
	if err := c.brk.refused(gen, rq); err != nil {
		if attempt == 0 {
			c.stats.unsent.Add(1)
		}
		c.stats.errors.Add(1)
		return pace.Ticket{}, err
	}
	if c.gate == nil {
		return pace.Ticket{}, nil
	}
	tk, err := c.gate.Acquire(ctx)
	if err != nil {
		return pace.Ticket{}, c.ctxErr(ctx, rq, lastErr, err)
	}
	return tk, nil
}

// release reports an attempt's end to the adaptive gate. The shared pause is capped like a single
// request's sleep: past MaxRetryWait the engine postpones objects instead.
func (c *Client) release(tk pace.Ticket, resp *response, serr *Error) {
	switch {
	case c.gate == nil:
	case serr != nil:
		c.gate.Release(tk, serr.Status, min(serr.RetryAfter, c.maxWait))
	default:
		c.gate.Release(tk, resp.status, 0)
	}
}

// ctxErr reports a cancelled or expired caller context. It wraps the context error (so errors.Is(err,
// context.Canceled) works) and, when an attempt had failed before, that failure too.
func (c *Client) ctxErr(ctx context.Context, rq *request, last *Error, err error) error {
	c.stats.errors.Add(1)
	if cause := context.Cause(ctx); cause != nil {
		err = cause
	}
	if last != nil {
		return fmt.Errorf("%s %s: %w (after: %w)", rq.method, rq.path, err, last)
	}
	return fmt.Errorf("%s %s: %w", rq.method, rq.path, err)
}

// attempt sends one HTTP request. It returns the response, or an *Error and whether a retry may help.
// An open breaker (gen done) cancels it at once.
func (c *Client) attempt(ctx, gen context.Context, rq *request, target string, payload []byte, n int) (*response, *Error, bool) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	defer context.AfterFunc(gen, cancel)()
	req, token, serr, retry := c.newRequest(ctx, actx, rq, target, payload)
	if serr != nil {
		return nil, serr, retry
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.stats.byCode[0].Add(1)
		detail := wire.TransportDetail(err)
		if actx.Err() != nil && ctx.Err() == nil {
			detail = fmt.Sprintf("no answer within %s", c.timeout)
		}
		refused := errors.Is(err, syscall.ECONNREFUSED)
		return nil, &Error{Kind: ErrTransient, Method: rq.method, Path: rq.display(), Detail: detail},
			wire.Retryable(rq.method, 0, true, refused)
	}
	defer res.Body.Close()
	if res.StatusCode > 0 && res.StatusCode < len(c.stats.byCode) {
		c.stats.byCode[res.StatusCode].Add(1)
	}
	buf := answerBufs.Get().(*bytes.Buffer)
	_, rerr := buf.ReadFrom(io.LimitReader(res.Body, maxResponseBytes))
	raw := buf.Bytes()
	if rerr != nil {
		// The status line arrived but the body did not: for a POST the object may exist now.
		return nil, &Error{Kind: ErrTransient, Status: res.StatusCode, Method: rq.method, Path: rq.display(),
			Detail: "read body: " + wire.TransportDetail(rerr)}, rq.method != http.MethodPost
	}
	r, serr, retry := c.answer(rq, res.StatusCode, res.Header, raw, token, n)
	if r != nil && r.body != nil {
		r.buf = buf
	} else {
		(&response{buf: buf}).free() // an error's detail is a copy
	}
	return r, serr, retry
}

// newRequest builds one attempt's HTTP request, bound to actx, with a token from the token source
// (ctx: fetching one is not part of the attempt's timeout). A token failure is the attempt's error:
// transient when the source says so, else ErrUnauthorized.
func (c *Client) newRequest(ctx, actx context.Context, rq *request, target string, payload []byte) (*http.Request, string, *Error, bool) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, rq.method, target, rd)
	if err != nil {
		return nil, "", &Error{Kind: ErrInvalid, Method: rq.method, Path: rq.display(), Detail: "build request: " + err.Error()}, false
	}
	token, err := c.tokens.Token(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", &Error{Kind: ErrTransient, Method: rq.method, Path: rq.display(), Detail: "token: " + err.Error()}, false
		}
		var t interface{ Transient() bool }
		if errors.As(err, &t) && t.Transient() {
			return nil, "", &Error{Kind: ErrTransient, Method: rq.method, Path: rq.display(), Detail: "token: " + err.Error(), cause: err}, true
		}
		return nil, "", &Error{Kind: ErrUnauthorized, Method: rq.method, Path: rq.display(), Detail: "token: " + err.Error(), cause: err}, false
	}
	// The header values are shared, read-only slices (a RoundTripper must not modify the request):
	// setting them one by one was five allocations per request.
	h := make(http.Header, 4)
	if token != "" {
		h["Authorization"] = c.authorization(token)
	}
	h["Accept"] = acceptValues
	if payload != nil {
		h["Content-Type"] = contentTypeValues
	}
	h["User-Agent"] = c.uaValues
	req.Header = h
	return req, token, nil, false
}

// The values of the Accept and Content-Type headers every request sends.
var (
	acceptValues      = []string{wire.MediaTypeSCIM + ", " + wire.MediaTypeJSON + ";q=0.9"}
	contentTypeValues = []string{wire.MediaTypeSCIM}
)

// bearer is an Authorization header's value for one token.
type bearer struct {
	token  string
	values []string
}

// authorization is the Authorization header's value for token, built once per token.
func (c *Client) authorization(token string) []string {
	if b := c.bearer.Load(); b != nil && b.token == token {
		return b.values
	}
	b := &bearer{token: token, values: []string{"Bearer " + token}}
	c.bearer.Store(b)
	return b.values
}

// answer turns a received answer into the attempt's outcome: a response, or an *Error of the status's
// kind with whether the request may be sent again. n is the attempt's number, 0 for the first; token
// is the one sent, kept on a 401 so that exactly that one is invalidated.
func (c *Client) answer(rq *request, status int, h http.Header, raw []byte, token string, n int) (*response, *Error, bool) {
	if status >= 200 && status < 300 {
		if len(bytes.TrimSpace(raw)) == 0 || status == http.StatusNoContent {
			return &response{status: status}, nil, false
		}
		if !wire.JSONContentType(h.Get("Content-Type")) {
			return nil, &Error{Kind: ErrCompliance, Status: status, Method: rq.method, Path: rq.display(),
				Detail: fmt.Sprintf("response content type %q is not %s", h.Get("Content-Type"), wire.MediaTypeSCIM)}, false
		}
		return &response{status: status, body: raw}, nil, false
	}
	if status == http.StatusTooManyRequests {
		c.stats.throttled.Add(1)
	}
	// A DELETE retried after a lost answer finds the object gone: the first attempt succeeded.
	if rq.method == http.MethodDelete && status == http.StatusNotFound && n > 0 {
		return &response{status: http.StatusNoContent}, nil, false
	}
	e := &Error{Kind: kindForStatus(status), Status: status, Method: rq.method, Path: rq.display(),
		RetryAfter: wire.ParseRetryAfter(h.Get("Retry-After"), time.Now())}
	if status == http.StatusUnauthorized {
		e.token = token
	}
	if e.Kind == nil {
		e.Kind = ErrCompliance
	}
	if rq.filterQuery && status == http.StatusNotFound {
		e.Kind = ErrCompliance
	}
	e.ScimType, e.Detail = wire.ParseSCIMError(raw)
	if status >= 300 && status < 400 {
		e.ScimType, e.Detail = "", wire.RedirectDetail(h.Get("Location"))
	}
	if rq.filterQuery && status == http.StatusNotFound && e.Detail == "" {
		e.Detail = "a filter query must answer 200 with an empty ListResponse, not 404"
	}
	return nil, e, wire.Retryable(rq.method, status, false, false)
}
