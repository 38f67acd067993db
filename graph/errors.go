package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/scimsync/scimsync/graph/directory"
)

// ErrResyncRequired means Graph no longer accepts the stored deltaLink (token expired after 7 days, or
// the tenant's sync state was reset). The caller must drop its watermark, run a full round and
// reconcile what it did not see; retrying the same link can never succeed. It is the same sentinel as
// directory.ErrResyncRequired, so the engine can test for it without importing this package.
var ErrResyncRequired = directory.ErrResyncRequired

// ErrTokenLost means a request was about to leave without the $deltatoken or $skiptoken of the link it
// follows, or a delta round was asked to resume from a link that carries none. Sent, it would read
// from the start: a full round that the caller takes for an incremental one, whose missing objects
// look unchanged and whose out-of-scope ones look new. It is never retried; the round fails.
var ErrTokenLost = errors.New("paging token lost")

// Error is an error answer from Graph, reduced to what callers decide on. It replaces the SDK's
// *odataerrors.ODataError so that no other package depends on the SDK, and because that type's
// Error() panics on bodies without a message.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is Graph's error code (syncStateNotFound, Authorization_RequestDenied, ...).
	Code    string
	Message string
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
	// RequestID is Graph's request-id, what Microsoft support asks for.
	RequestID string
}

// Error renders status, code, message and request-id: what an admin needs to act or open a ticket.
func (e *Error) Error() string {
	s := "HTTP " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	return s
}

// Is makes errors.Is(err, ErrResyncRequired) true for the answers Graph uses to force a resync: 410
// Gone, or the codes syncStateNotFound and resyncRequired (documented on 400, seen on 410).
func (e *Error) Is(target error) bool {
	return target == ErrResyncRequired && e.resync()
}

func (e *Error) resync() bool {
	return e.Status == http.StatusGone || strings.EqualFold(e.Code, "syncStateNotFound") ||
		strings.EqualFold(e.Code, "resyncRequired")
}

// Retryable reports whether Graph asked to try again later (429 throttling, 503, 504). The reader
// already retried such answers; a caller seeing one should end the cycle and try at the next.
func (e *Error) Retryable() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// fromSDK converts the SDK's error types into *Error; other errors (network, parsing) pass through.
func fromSDK(err error) error {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		e := &Error{Status: oe.ResponseStatusCode}
		if me := oe.GetErrorEscaped(); me != nil {
			if c := me.GetCode(); c != nil {
				e.Code = *c
			}
			if m := me.GetMessage(); m != nil {
				e.Message = *m
			}
		}
		fillHeaders(e, oe.GetResponseHeaders())
		return e
	}
	var ae *abs.ApiError
	if errors.As(err, &ae) {
		e := &Error{Status: ae.ResponseStatusCode, Message: ae.Message}
		fillHeaders(e, ae.GetResponseHeaders())
		return e
	}
	return err
}

func fillHeaders(e *Error, h *abs.ResponseHeaders) {
	if h == nil {
		return
	}
	if v := h.Get("Retry-After"); len(v) > 0 {
		e.RetryAfter = parseRetryAfter(v[0])
	}
	if v := h.Get("request-id"); len(v) > 0 {
		e.RequestID = v[0]
	}
}

// parseRetryAfter reads seconds or an HTTP date, as RFC 9110 allows both.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// errorBodyTransport sits under the SDK's middleware and makes every error answer parseable: a proxy's
// HTML page, an empty 503 or a body without error.message would otherwise lose the status code (the
// SDK returns the JSON parse error instead) or panic in ODataError.Error().
type errorBodyTransport struct {
	next http.RoundTripper
}

const maxErrorBody = 1 << 20

func (t errorBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return resp, nil // still compressed: cannot inspect, leave it to the SDK
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	var parsed struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	ok := rerr == nil && strings.Contains(resp.Header.Get("Content-Type"), "json") &&
		json.Unmarshal(body, &parsed) == nil && parsed.Error != nil &&
		parsed.Error.Code != nil && parsed.Error.Message != nil
	if !ok {
		code := ""
		if parsed.Error != nil && parsed.Error.Code != nil {
			code = *parsed.Error.Code
		}
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		body, _ = json.Marshal(map[string]any{"error": map[string]string{
			"code": code, "message": fmt.Sprintf("unparseable error body: %s", msg)}})
		resp.Header.Set("Content-Type", "application/json")
		resp.Header.Del("Content-Length")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
