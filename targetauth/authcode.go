package targetauth

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"golang.org/x/oauth2"
)

// RefreshStore keeps the job's refresh token. SetRefreshToken must be durable when it returns (the
// state file's transaction is fsynced): the provider has already consumed the previous token.
type RefreshStore interface {
	// RefreshToken returns the stored token; an error matching ErrNotAuthorized when there is none
	// for this client. An *Error is passed on as it is, so the store can classify its own failures.
	RefreshToken() (string, error)
	SetRefreshToken(token string) error
}

// AuthorizationCode is a token source that refreshes with the refresh token `scimsync authorize`
// stored (RFC 6749 §6). The refresh token is read from the bound RefreshStore at every refresh, never
// kept in memory between them, so an `authorize` run between two cycles takes effect at the next
// refresh.
type AuthorizationCode struct {
	*cache
	g *acGrant
}

type acGrant struct {
	cfg oauth2.Config
	hc  *http.Client

	mu    sync.Mutex
	store RefreshStore
	// binding counts Bind calls, so a release only unbinds its own store (stores need not be comparable).
	binding int
}

// NewAuthorizationCode builds the source; it needs a RefreshStore bound (Bind) before it can refresh.
func NewAuthorizationCode(c Client) *AuthorizationCode {
	g := &acGrant{hc: c.HTTPClient, cfg: c.oauth2Config("")}
	return &AuthorizationCode{cache: newCache(g), g: g}
}

func (c Client) oauth2Config(redirect string) oauth2.Config {
	return oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: c.Scopes, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: c.AuthorizeURL, TokenURL: c.TokenURL, AuthStyle: c.authStyle()},
	}
}

// Bind makes s the refresh token's home until the returned function is called. The daemon opens the
// state file per cycle, so it binds it for the cycle's duration.
func (a *AuthorizationCode) Bind(s RefreshStore) (release func()) {
	a.g.mu.Lock()
	a.g.binding++
	n := a.g.binding
	a.g.store = s
	a.g.mu.Unlock()
	return func() {
		a.g.mu.Lock()
		if a.g.binding == n {
			a.g.store = nil
		}
		a.g.mu.Unlock()
	}
}

func (g *acGrant) bound() RefreshStore {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.store
}

// fetch refreshes. The order is the point: read the refresh token, redeem it, write the rotated one
// durably, and only then let the access token out. If the write fails, the access token is dropped
// too, so no request is ever sent with a token whose refresh token is not saved.
func (g *acGrant) fetch(ctx context.Context) (*oauth2.Token, error) {
	st := g.bound()
	if st == nil {
		return nil, &Error{Kind: ErrState, Detail: "no state file is open to read the refresh token from"}
	}
	rt, err := st.RefreshToken()
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		if errors.Is(err, ErrNotAuthorized) {
			return nil, &Error{Kind: ErrNotAuthorized}
		}
		return nil, &Error{Kind: ErrState, Detail: "read the refresh token: " + err.Error()}
	}
	tok, err := g.cfg.TokenSource(withClient(ctx, g.hc), &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		return nil, classify(err)
	}
	// x/oauth2 keeps the old refresh token when the provider sends none (no rotation).
	if tok.RefreshToken != "" && tok.RefreshToken != rt {
		if err := st.SetRefreshToken(tok.RefreshToken); err != nil {
			return nil, &Error{Kind: ErrState, Detail: "save the rotated refresh token: " + err.Error()}
		}
	}
	return tok, nil
}
