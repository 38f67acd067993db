package targetauth

import (
	"errors"
	"fmt"
)

// Error kinds. The SCIM client and the quarantine judge decide from the kind alone (errors.Is), never
// from the text.
var (
	// ErrRevoked: the provider answered invalid_grant to a refresh (RFC 6749 §5.2): the refresh token
	// expired, was revoked by an admin, or was used twice (providers that rotate refresh tokens revoke
	// the whole grant when an old one comes back). Only `scimsync authorize` helps.
	ErrRevoked = errors.New("authorization expired or revoked")
	// ErrNotAuthorized: the job has no refresh token, or one issued for another client: `scimsync
	// authorize` was never run for this configuration.
	ErrNotAuthorized = errors.New("not authorized: run scimsync authorize")
	// ErrClient: the provider refused the client itself (invalid_client, unauthorized_client,
	// invalid_scope, ...): the configuration or the provider's registration is wrong.
	ErrClient = errors.New("the token endpoint refused the client")
	// ErrUnavailable: the token endpoint could not be reached or answered 5xx or 429; the next attempt
	// may succeed.
	ErrUnavailable = errors.New("the token endpoint is unavailable")
	// ErrState: a rotated refresh token could not be written to the state file, so the access token
	// that came with it is not used (see AuthorizationCode).
	ErrState = errors.New("the refresh token could not be saved")
)

// Error is every failure of a token source. Its text names the token endpoint's OAuth error code and
// description and never a secret or a token: x/oauth2's own error text quotes the response body,
// which this type leaves out.
type Error struct {
	// Kind is one of the Err* sentinels.
	Kind error
	// Code is the OAuth error code (invalid_grant, invalid_client, ...) or "" for transport failures.
	Code string
	// Detail is the provider's error_description, a transport error, or our own explanation.
	Detail string
	// Status is the token endpoint's HTTP status, 0 when there was no answer.
	Status int
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the kind, so errors.Is(err, ErrRevoked) works through any wrapping.
func (e *Error) Unwrap() error { return e.Kind }

// Transient tells the SCIM client that a later attempt may succeed, so it treats the failure like a
// 5xx from the target (retried, then escrowed) and not like a 401 (quarantine).
func (e *Error) Transient() bool { return e.Kind == ErrUnavailable || e.Kind == ErrState }
