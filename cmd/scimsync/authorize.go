package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/job"
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
			hc, err := job.HTTPClient(cfg.Target.CAFile, cfg.Target.Timeout, 0)
			if err != nil {
				return withCode(exitConfig, fmt.Errorf("target.caFile: %w", err))
			}
			// The state file is held for the whole flow, so a cycle cannot start and find the old
			// (about to be replaced) token, and the new one has somewhere to go when it arrives.
			st, err := job.OpenState(cfg, false)
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
			rt, err := targetauth.Authorize(ctx, targetauth.AuthorizeOptions{Client: job.OAuthClient(cfg, hc), Port: port,
				Paste: paste, Out: cmd.OutOrStdout(), In: cmd.InOrStdin()})
			if err != nil {
				return withCode(exitAborted, err)
			}
			now := time.Now().UTC()
			if err := st.SetGrant(store.Grant{RefreshToken: rt, Client: job.GrantClient(cfg), Authorized: now, Rotated: now}, job.GrantKey(cfg)); err != nil {
				return withCode(exitAborted, fmt.Errorf("the authorization succeeded but its refresh token could not be saved; run scimsync authorize again: %w", err))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "authorized: the refresh token is stored in %s", cfg.StatePath)
			if job.GrantKey(cfg) != nil {
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
