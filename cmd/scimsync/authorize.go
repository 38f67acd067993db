package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/quarantine"
	"github.com/scimsync/scimsync/targetauth"
)

// newAuthorizeCmd is the portal's "Authorize" button of gallery apps: the OAuth 2.0 authorization code
// flow, whose refresh token is kept in the job's state file (never in the configuration).
func newAuthorizeCmd() *cobra.Command {
	var paste bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "authorize",
		Short: "Authorize scimsync at the target's OAuth 2.0 provider (target.auth type oauth2AuthorizationCode)",
		Long: `Runs the OAuth 2.0 authorization code flow with PKCE: prints a URL for an admin of the app to open
in a browser, receives the redirect on http://127.0.0.1:PORT/callback (target.auth.redirectPort), and
stores the refresh token in the job's state file, encrypted when target.auth.encryptionKeyEnv or
encryptionKeyFile is set. With --no-browser nothing listens: open the URL on any machine and paste
back the URL the browser was sent to. The state file must not be in use: run it between two cycles
of the daemon, or with the daemon stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath(cmd))
			if err != nil {
				return err
			}
			a := cfg.Target.Auth
			if a.Type != config.AuthAuthorizationCode {
				return withCode(exitConfig, fmt.Errorf("target.auth.type is %s; scimsync authorize applies to %s only", a.Type, config.AuthAuthorizationCode))
			}
			hc, err := httpClientWithCA(cfg.Target.CAFile, cfg.Target.Timeout, 0)
			if err != nil {
				return withCode(exitConfig, fmt.Errorf("target.caFile: %w", err))
			}
			// The state file is held for the whole flow, so a cycle cannot start and find the old
			// (about to be replaced) token, and the new one has somewhere to go when it arrives.
			st, err := openState(cfg, false)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			port := a.RedirectPort
			if paste && port == 0 {
				// Nothing listens in paste mode, so "any free port" has nothing to pick from: the
				// default port is as good as any for a provider that ignores loopback ports.
				port = config.DefaultRedirectPort
			}
			rt, err := targetauth.Authorize(ctx, targetauth.AuthorizeOptions{Client: oauthClient(cfg, hc), Port: port,
				Paste: paste, Out: cmd.OutOrStdout(), In: cmd.InOrStdin()})
			if err != nil {
				return withCode(exitAborted, err)
			}
			now := time.Now().UTC()
			if err := st.SetGrant(store.Grant{RefreshToken: rt, Client: grantClient(cfg), Authorized: now, Rotated: now}, grantKey(cfg)); err != nil {
				return withCode(exitAborted, fmt.Errorf("the authorization succeeded but its refresh token could not be saved; run scimsync authorize again: %w", err))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "authorized: the refresh token is stored in %s", cfg.StatePath)
			if grantKey(cfg) != nil {
				fmt.Fprint(w, " (encrypted)")
			}
			fmt.Fprintln(w)
			// A quarantine for an expired or revoked authorization is fixed by this very command.
			if q, err := st.Quarantine(); err == nil && q != nil && q.Reason == quarantine.ReasonAuthorization {
				if err := st.ClearQuarantine(); err != nil {
					return withCode(exitAborted, err)
				}
				fmt.Fprintf(w, "the quarantine (%s) is lifted; the next cycle runs on schedule, or now with `scimsync sync`\n", q.Reason)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&paste, "no-browser", false, "do not listen for the redirect; paste the redirected URL instead (headless servers)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "how long to wait for the admin to finish in the browser")
	return cmd
}

// oauthClient is the provider registration from target.auth.
func oauthClient(cfg *config.Config, hc *http.Client) targetauth.Client {
	a := cfg.Target.Auth
	return targetauth.Client{TokenURL: a.TokenURL, AuthorizeURL: a.AuthorizeURL, ClientID: a.ClientID,
		ClientSecret: a.ClientSecret.Reveal(), PostSecret: a.ClientAuthMethod == config.ClientSecretPost,
		Scopes: a.Scopes, Audience: a.Audience, HTTPClient: hc}
}

// targetTokens builds the target's token source. grant is non-nil for the authorization code grant: it
// needs the state file bound (job.bindGrant) to refresh.
func targetTokens(cfg *config.Config, hc *http.Client) (src scimclient.TokenSource, grant *targetauth.AuthorizationCode) {
	switch cfg.Target.Auth.Type {
	case config.AuthClientCredentials:
		return targetauth.NewClientCredentials(oauthClient(cfg, hc)), nil
	case config.AuthAuthorizationCode:
		g := targetauth.NewAuthorizationCode(oauthClient(cfg, hc))
		return g, g
	}
	return targetauth.Static(cfg.Target.Token.Reveal()), nil
}

// grantClient names the client a refresh token belongs to. A token stored for another token URL or
// client id is not sent: after such a change the job needs `scimsync authorize` again.
func grantClient(cfg *config.Config) string {
	return cfg.Target.Auth.TokenURL + " " + cfg.Target.Auth.ClientID
}

func grantKey(cfg *config.Config) []byte {
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
	return grant.Bind(grantVault{st: st, key: grantKey(cfg), client: grantClient(cfg)})
}

// openGrantState opens the state file for a command outside a cycle (test-connection) that may refresh,
// and so rotate, the refresh token. A missing file means the job was never authorized.
func openGrantState(cfg *config.Config, grant *targetauth.AuthorizationCode) (release func(), err error) {
	if grant == nil {
		return func() {}, nil
	}
	if !stateExists(cfg) {
		return nil, withCode(exitAborted, fmt.Errorf("%w: no state file at %s", targetauth.ErrNotAuthorized, cfg.StatePath))
	}
	st, err := openState(cfg, false)
	if err != nil {
		return nil, err
	}
	unbind := bindGrant(grant, cfg, st)
	return func() { unbind(); st.Close() }, nil
}

// authStatus is the status page's line about the target's authentication (without the label).
func authStatus(cfg *config.Config, st store.State) string {
	var w strings.Builder
	a := cfg.Target.Auth
	switch a.Type {
	case config.AuthAuthorizationCode:
		key := grantKey(cfg)
		g, err := st.Grant(key)
		if errors.Is(err, store.ErrGrantKey) && key == nil && g != nil {
			// status loads no secrets, so it cannot decrypt: what the record says is all it shows.
			err = nil
		}
		switch {
		case errors.Is(err, store.ErrGrantKey):
			fmt.Fprintf(&w, "%s: the stored refresh token cannot be read: %v", a.Type, err)
		case err != nil:
			fmt.Fprintf(&w, "%s: %v", a.Type, err)
		case g == nil:
			fmt.Fprintf(&w, "%s: not authorized; run `scimsync authorize --config %s`", a.Type, shellQuote(cfg.File))
		case g.Client != grantClient(cfg):
			fmt.Fprintf(&w, "%s: the stored authorization is for another token URL or client id; run `scimsync authorize --config %s`", a.Type, shellQuote(cfg.File))
		default:
			enc := "not encrypted"
			if g.Encrypted {
				enc = "encrypted"
			}
			fmt.Fprintf(&w, "%s: authorized %s, refresh token last rotated %s (%s)", a.Type, stamp(g.Authorized), stamp(g.Rotated), enc)
			if q, err := st.Quarantine(); err == nil && q != nil && q.Reason == quarantine.ReasonAuthorization {
				fmt.Fprintf(&w, "; the provider refused it: run `scimsync authorize --config %s`", shellQuote(cfg.File))
			}
		}
	case config.AuthClientCredentials:
		fmt.Fprintf(&w, "%s: client %s at %s", a.Type, a.ClientID, a.TokenURL)
	default:
		fmt.Fprintf(&w, "%s", config.AuthBearer)
	}
	return w.String()
}
