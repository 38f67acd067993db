package job

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/targetauth"
)

// OAuthClient is the provider registration from target.auth.
func OAuthClient(cfg *config.Config, hc *http.Client) targetauth.Client {
	a := cfg.Target.Auth
	return targetauth.Client{TokenURL: a.TokenURL, AuthorizeURL: a.AuthorizeURL, ClientID: a.ClientID,
		ClientSecret: a.ClientSecret.Reveal(), PostSecret: a.ClientAuthMethod == config.ClientSecretPost,
		Scopes: a.Scopes, Audience: a.Audience, HTTPClient: hc}
}

// targetTokens builds the target's token source. grant is non-nil for the authorization code grant: it
// needs the state file bound (bindGrant) to refresh.
func targetTokens(cfg *config.Config, hc *http.Client) (src scimclient.TokenSource, grant *targetauth.AuthorizationCode) {
	switch cfg.Target.Auth.Type {
	case config.AuthClientCredentials:
		return targetauth.NewClientCredentials(OAuthClient(cfg, hc)), nil
	case config.AuthAuthorizationCode:
		g := targetauth.NewAuthorizationCode(OAuthClient(cfg, hc))
		return g, g
	}
	return targetauth.Static(cfg.Target.Token.Reveal()), nil
}

// GrantClient names the client a refresh token belongs to. A token stored for another token URL or
// client id is not sent: after such a change the job needs `scimsync authorize` again.
func GrantClient(cfg *config.Config) string {
	return cfg.Target.Auth.TokenURL + " " + cfg.Target.Auth.ClientID
}

// GrantKey is the key of target.auth.encryptionKey that encrypts the stored refresh token, nil when
// it is stored in the clear.
func GrantKey(cfg *config.Config) []byte {
	if k := cfg.Target.Auth.EncryptionKey; k.IsSet() {
		return []byte(k.Reveal())
	}
	return nil
}

// grantVault is the job's state file as the token source's RefreshStore.
type grantVault struct {
	st     store.State
	key    []byte
	client string
}

func (v grantVault) RefreshToken() (string, error) {
	g, err := v.st.Grant(v.key)
	switch {
	case errors.Is(err, store.ErrGrantKey):
		// Waiting cannot fix a key that does not match; configuring the right key or authorizing
		// again (which stores a token under the current key) does, so it quarantines like a revoked
		// authorization.
		return "", &targetauth.Error{Kind: targetauth.ErrNotAuthorized, Detail: err.Error()}
	case err != nil:
		return "", err
	case g == nil || g.RefreshToken == "":
		return "", targetauth.ErrNotAuthorized
	case g.Client != v.client:
		return "", fmt.Errorf("%w (the stored authorization is for another token URL or client id)", targetauth.ErrNotAuthorized)
	}
	return g.RefreshToken, nil
}

func (v grantVault) SetRefreshToken(token string) error {
	g, err := v.st.Grant(v.key)
	if err != nil {
		return err
	}
	next := store.Grant{RefreshToken: token, Client: v.client, Rotated: time.Now().UTC()}
	if g != nil {
		next.Authorized = g.Authorized
	}
	return v.st.SetGrant(next, v.key)
}

// bindGrant gives the token source the open state file for as long as it is open.
func bindGrant(grant *targetauth.AuthorizationCode, cfg *config.Config, st store.State) (release func()) {
	if grant == nil {
		return func() {}
	}
	return grant.Bind(grantVault{st: st, key: GrantKey(cfg), client: GrantClient(cfg)})
}

// OpenGrantState opens the state file for a command outside a cycle (test-connection) that may refresh,
// and so rotate, the refresh token. A missing file means the job was never authorized.
func OpenGrantState(cfg *config.Config, grant *targetauth.AuthorizationCode) (release func(), err error) {
	if grant == nil {
		return func() {}, nil
	}
	if !StateExists(cfg) {
		return nil, abortError(fmt.Errorf("%w: no state file at %s", targetauth.ErrNotAuthorized, cfg.StatePath))
	}
	st, err := OpenState(cfg, false)
	if err != nil {
		return nil, err
	}
	unbind := bindGrant(grant, cfg, st)
	return func() { unbind(); st.Close() }, nil
}
