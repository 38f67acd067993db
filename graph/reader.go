// Package graph reads the source directory from Microsoft Graph: users and groups through delta
// query, and the app's role assignments. It is the only package that imports msgraph-sdk-go (and
// only its users, groups, serviceprincipals and models subpackages, never the root package, which
// halves the cold build); everything it returns is in terms of package directory. Requests are built
// and sent by the SDK (request builders, authentication, allowed hosts, middleware, error mapping),
// but response pages are decoded here with encoding/json (page.go) rather than into the SDK's
// models, which dominated the CPU and memory of a round.
//
// A round is all-or-nothing: any read error, from the first page to the last, aborts it, so an
// outage can never look like a directory that shrank.
package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	msauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/logctx"
)

// sdkVersion is reported in the SdkVersion header, as the root client would.
const sdkVersion = "1.89.0"

// Options configure a Reader.
type Options struct {
	// GraphURL is the Graph base URL ending in /v1.0 (default: public cloud, see CloudEndpoints).
	GraphURL string
	// Credential obtains tokens (NewCredential in production, anything in tests).
	Credential azcore.TokenCredential
	// Scopes default to "<graph origin>/.default" for Microsoft's Graph hosts and to
	// https://graph.microsoft.com/.default for any other host (an emulator or proxy), which is what
	// the token service expects for Graph.
	Scopes []string
	// HTTPClient supplies the transport (custom CA bundle, proxy) and, via Timeout, the per-request
	// time limit. nil uses a default transport.
	HTTPClient *http.Client
	// MaxRetries bounds retries of one request after 429/503/504 or a network error (default 5;
	// negative disables retries).
	MaxRetries int
	// RetryBaseDelay is the first backoff when Graph sends no Retry-After (default 2 s, doubling).
	RetryBaseDelay time.Duration
	// MaxRetryWait caps a single Retry-After the reader is willing to sleep (default 5 min); a longer
	// one fails the round, leaving the wait to the cycle scheduler.
	MaxRetryWait time.Duration
	Logger       *zap.Logger
}

// Reader reads one tenant through Graph. It is safe for concurrent use.
type Reader struct {
	log        *zap.Logger
	base       *url.URL
	adapter    abs.RequestAdapter
	users      *users.UsersRequestBuilder
	groups     *groups.GroupsRequestBuilder
	sps        *serviceprincipals.ServicePrincipalsRequestBuilder
	maxRetries int
	baseDelay  time.Duration
	maxWait    time.Duration
	timeout    time.Duration
}

var registerSerializers sync.Once

// New builds a Reader without contacting Graph.
func New(o Options) (*Reader, error) {
	if o.Credential == nil {
		return nil, errors.New("graph: no credential")
	}
	if o.GraphURL == "" {
		o.GraphURL, _, _ = CloudEndpoints("public")
	}
	o.GraphURL = strings.TrimSuffix(o.GraphURL, "/")
	base, err := url.Parse(o.GraphURL)
	if err != nil || base.Host == "" || (base.Scheme != "https" && !isLoopback(base.Hostname())) {
		return nil, fmt.Errorf("graph: Graph URL %q must be an https URL", o.GraphURL)
	}
	if len(o.Scopes) == 0 {
		o.Scopes = []string{defaultScope(base)}
	}
	// Without the Graph host in the allowed list the SDK silently sends no Authorization header.
	auth, err := msauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		o.Credential, o.Scopes, []string{base.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph: authentication provider: %w", err)
	}
	registerSerializers.Do(func() {
		abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
		abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
		abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
		abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
	})
	hc, timeout, err := sdkHTTPClient(o.HTTPClient)
	if err != nil {
		return nil, err
	}
	gopts := core.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: sdkVersion}
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, gopts, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(o.GraphURL)
	p := map[string]string{"baseurl": o.GraphURL}
	r := &Reader{
		log:        o.Logger,
		base:       base,
		adapter:    adapter,
		users:      users.NewUsersRequestBuilderInternal(p, adapter),
		groups:     groups.NewGroupsRequestBuilderInternal(p, adapter),
		sps:        serviceprincipals.NewServicePrincipalsRequestBuilderInternal(p, adapter),
		maxRetries: o.MaxRetries,
		baseDelay:  o.RetryBaseDelay,
		maxWait:    o.MaxRetryWait,
		timeout:    timeout,
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.maxRetries == 0 {
		r.maxRetries = 5
	}
	if r.baseDelay <= 0 {
		r.baseDelay = 2 * time.Second
	}
	if r.maxWait <= 0 {
		r.maxWait = 5 * time.Minute
	}
	return r, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var graphHosts = map[string]bool{
	"graph.microsoft.com": true, "graph.microsoft.us": true, "dod-graph.microsoft.us": true,
	"microsoftgraph.chinacloudapi.cn": true, "canary.graph.microsoft.com": true,
}

func defaultScope(base *url.URL) string {
	if graphHosts[strings.ToLower(base.Hostname())] {
		return "https://" + strings.ToLower(base.Hostname()) + "/.default"
	}
	return "https://graph.microsoft.com/.default"
}

// sdkHTTPClient builds the client under the SDK: the Graph and kiota middleware (telemetry, redirect,
// decoding, user agent, headers inspection) with the kiota retry handler switched off, because the
// reader retries itself between pages where it can honour Retry-After beyond the SDK's 180 s budget,
// respect the caller's context and log. The per-request timeout moves from http.Client.Timeout to a
// per-attempt context, so the SDK does not add (and leak) its own 100 s deadline.
func sdkHTTPClient(base *http.Client) (*http.Client, time.Duration, error) {
	var parent http.RoundTripper
	timeout := 100 * time.Second
	if base != nil {
		parent = base.Transport
		if base.Timeout > 0 {
			timeout = base.Timeout
		}
	}
	if parent == nil {
		parent = khttp.GetDefaultTransport()
	}
	mws, err := khttp.GetDefaultMiddlewaresWithOptions(&khttp.RetryHandlerOptions{
		// Must be non-nil: the handler calls it unconditionally.
		ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false },
	})
	if err != nil {
		return nil, 0, fmt.Errorf("graph: middleware: %w", err)
	}
	gopts := core.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: sdkVersion}
	mws = append([]khttp.Middleware{core.NewGraphTelemetryHandler(&gopts)}, mws...)
	return &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(linkGuard{errorBodyTransport{next: parent}}, mws...),
		// The kiota redirect handler follows redirects itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, timeout, nil
}

// call runs one SDK request with retries. fn gets a context bounded by the per-request timeout. It
// converts SDK errors to *Error and turns panics (the SDK's error models panicked on malformed
// bodies) into errors.
func (r *Reader) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	var lastStatus int
	for attempt := 0; ; attempt++ {
		err := r.once(ctx, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("graph: %s: %w", what, ctx.Err())
		}
		delay, retry := r.retryDelay(err, attempt)
		if !retry || attempt >= r.maxRetries {
			return fmt.Errorf("graph: %s: %w", what, err)
		}
		var ge *Error
		status := 0
		if errors.As(err, &ge) {
			status = ge.Status
		}
		// Log when the kind of failure changes, not on every attempt of a storm.
		if attempt == 0 || status != lastStatus {
			logctx.Logger(ctx, r.log).Warn("graph request failed, retrying", zap.String("request", what), zap.Int("status", status),
				zap.Int("attempt", attempt+1), zap.Duration("delay", delay), zap.Error(err))
		}
		lastStatus = status
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("graph: %s: %w (while retrying after: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (r *Reader) once(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("msgraph-sdk panicked: %v", p)
		}
	}()
	err = fromSDK(fn(actx))
	var ge *Error
	var ne net.Error
	var ue *url.Error
	if err != nil && !errors.As(err, &ge) && !errors.As(err, &ne) && !errors.As(err, &ue) &&
		ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		// Decoding errors (a malformed page) and the SDK's own parse errors say nothing about where
		// they came from.
		err = fmt.Errorf("unexpected response: %w", err)
	}
	return err
}

// retryDelay decides whether err is worth another attempt and after how long.
func (r *Reader) retryDelay(err error, attempt int) (time.Duration, bool) {
	if errors.Is(err, ErrTokenLost) {
		return 0, false
	}
	backoff := r.baseDelay << min(attempt, 5)
	backoff += time.Duration(rand.Int64N(int64(backoff)/4 + 1))
	var ge *Error
	if errors.As(err, &ge) {
		if !ge.Retryable() {
			return 0, false
		}
		if ge.RetryAfter > r.maxWait {
			return 0, false
		}
		if ge.RetryAfter > 0 {
			return ge.RetryAfter, true
		}
		return backoff, true
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) {
		return backoff, true
	}
	return 0, false
}

// checkLink refuses next/delta links that leave the configured Graph origin: the SDK would send them
// without a token (allowed hosts), and a stored link is data that should not redirect the daemon.
func (r *Reader) checkLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("graph: invalid link: %w", err)
	}
	if !strings.EqualFold(u.Scheme, r.base.Scheme) || !strings.EqualFold(u.Host, r.base.Host) {
		return fmt.Errorf("graph: link points to %s://%s, not the configured Graph %s://%s",
			u.Scheme, u.Host, r.base.Scheme, r.base.Host)
	}
	return nil
}

// pagingTokens are the query parameters that make a link continue a round rather than start one.
var pagingTokens = []string{"$deltatoken", "$skiptoken"}

// hasToken reports whether link carries a non-empty paging token; Graph's next and delta links
// always do, and a delta round that resumes from one without must not start over instead.
func hasToken(link string) bool {
	u, err := url.Parse(link)
	if err != nil {
		return false
	}
	q := u.Query()
	for _, p := range pagingTokens {
		if q.Get(p) != "" {
			return true
		}
	}
	return false
}

type linkKey struct{}

// withLink marks ctx with the link one attempt follows, for linkGuard.
func withLink(ctx context.Context, link *url.URL) context.Context {
	return context.WithValue(ctx, linkKey{}, link)
}

// linkGuard sits under the SDK's middleware, where the request is final, and refuses to send one
// whose paging tokens differ from those of the link its attempt follows (a lost $deltatoken turns an
// incremental round into a full read). It is the last line behind getPage building every attempt
// from the link string.
type linkGuard struct {
	next http.RoundTripper
}

func (g linkGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if want, ok := req.Context().Value(linkKey{}).(*url.URL); ok {
		wq, sq := want.Query(), req.URL.Query()
		for _, p := range pagingTokens {
			if wq.Get(p) != sq.Get(p) {
				if req.Body != nil {
					req.Body.Close()
				}
				return nil, fmt.Errorf("%w: request to %s differs in %s from the link it follows",
					ErrTokenLost, req.URL.Path, p)
			}
		}
	}
	return g.next.RoundTrip(req)
}

func throttleHeaders() *abs.RequestHeaders {
	h := abs.NewRequestHeaders()
	// A background sync asks Graph to throttle it before interactive traffic.
	h.Add("x-ms-throttle-priority", "low")
	return h
}
