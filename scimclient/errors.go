package scimclient

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error kinds. The engine decides per object what to do with a failure (escrow, re-match, quarantine,
// postpone) from the kind alone, so every error this package returns wraps exactly one of them; check with
// errors.Is, never by matching text.
var (
	// ErrNotFound: 404 on a resource URL. For a cached anchor this is Entra's InvalidAnchor: the target
	// object was deleted behind our back and must be matched or created again.
	ErrNotFound = errors.New("scim: not found")
	// ErrConflict: 409, usually scimType uniqueness. The engine re-matches instead of retrying.
	ErrConflict = errors.New("scim: conflict")
	// ErrThrottled: 429 that outlasted the retries (or asked to wait longer than MaxRetryWait); Error.RetryAfter
	// tells the engine when to come back.
	ErrThrottled = errors.New("scim: throttled")
	// ErrUnauthorized: 401 or 403. Retrying cannot help; the credentials or the app's grants are wrong, which
	// is a quarantine reason rather than an object failure.
	ErrUnauthorized = errors.New("scim: unauthorized")
	// ErrCompliance: the target broke the SCIM protocol (unparseable JSON, a ListResponse without
	// Resources, a created resource without id, 404 on a filter query, a wrong content type). Entra reports
	// these as SystemForCrossDomainIdentityManagementServiceIncompatible and quarantines as "SCIM Compliance issue".
	ErrCompliance = errors.New("scim: target not SCIM compliant")
	// ErrTransient: 5xx, timeouts and connection errors that outlasted the retries; the object is escrowed
	// and retried in a later cycle.
	ErrTransient = errors.New("scim: transient failure")
	// ErrInvalid: any other 4xx, typically 400 invalidValue/invalidSyntax: the request content is wrong for
	// this target, so the same request will fail again until the mapping or the data changes.
	ErrInvalid = errors.New("scim: invalid request")
)

// Error is the one concrete error type for a failed SCIM request. It carries what a provisioning log entry
// and the quarantine logic need: the status, SCIM's scimType, the server's detail and any Retry-After.
// It never contains the bearer token: only the method and the path relative to the base URL are kept.
type Error struct {
	Kind       error // one of the Err* sentinels
	Status     int   // HTTP status, 0 for transport errors
	ScimType   string
	Detail     string
	Method     string
	Path       string // path relative to the base URL, with its query (e.g. /Users?filter=...)
	RetryAfter time.Duration
	Attempts   int // HTTP attempts made, retries included
	// cause is the token source's error when the request failed before it was sent for want of a token.
	cause error
	// token is the access token a 401 answered, so that the client can invalidate exactly that one;
	// cleared before the error leaves the package.
	token string
}

// Error renders like "PATCH /Users/123: 409 uniqueness: userName exists".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Status != 0 {
		b.WriteString(strconv.Itoa(e.Status))
	} else if e.Kind != nil {
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "scim: "))
	}
	if e.ScimType != "" {
		b.WriteByte(' ')
		b.WriteString(e.ScimType)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	} else if e.Status != 0 {
		b.WriteByte(' ')
		b.WriteString(http.StatusText(e.Status))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the kind so that errors.Is(err, ErrConflict) works through any wrapping, and the token
// source's error when there is one (errors.Is(err, targetauth.ErrRevoked)).
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Kind, e.cause}
	}
	return []error{e.Kind}
}

// KindOf returns the sentinel kind of err, or nil when err did not come from a SCIM request (for example a
// cancelled context).
func KindOf(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return nil
}

// kindForStatus maps an HTTP status to an error kind. It is the classifier half of the retry policy; the
// other half (wire.Retryable) also depends on the method.
func kindForStatus(status int) error {
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusConflict, status == http.StatusPreconditionFailed:
		return ErrConflict
	case status == http.StatusTooManyRequests:
		return ErrThrottled
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrUnauthorized
	case status == http.StatusRequestTimeout:
		return ErrTransient
	case status == http.StatusNotImplemented, status == http.StatusHTTPVersionNotSupported:
		// The target does not support the operation: no retry will change that.
		return ErrCompliance
	case status >= 500:
		return ErrTransient
	case status >= 400:
		return ErrInvalid
	case status >= 300:
		// A redirect that the HTTP client did not follow: the tenant URL is wrong.
		return ErrCompliance
	}
	return nil
}
