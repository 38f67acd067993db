package main

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/config"
)

// newTestConnectionCmd is the portal's "Test Connection": it checks the target's credentials and SCIM
// compliance with a query for a user that cannot exist, and that Graph answers.
func newTestConnectionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test-connection",
		Short: "Check that the SCIM target and Microsoft Graph answer with the configured credentials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadConfigAndLogger(cmd)
			if err != nil {
				return err
			}
			tgt, grant, err := newTarget(cfg, log)
			if err != nil {
				return withCode(exitConfig, err)
			}
			// An authorization code target refreshes through the state file, rotating the refresh token.
			release, err := openGrantState(cfg, grant)
			if err != nil {
				return err
			}
			defer release()
			match := "userName"
			for _, m := range cfg.Users.Table.Mappings {
				if m.Matching == 1 {
					match = m.Target
				}
			}
			if err := tgt.TestConnection(cmd.Context(), match); err != nil {
				return withCode(exitAborted, fmt.Errorf("target %s: %w", cfg.Target.URL, err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "target %s: ok\n", cfg.Target.URL)
			r, err := newReader(cfg, log)
			if err != nil {
				return withCode(exitConfig, err)
			}
			// A token, then a read: the app's assignments in the assigned scope, else a user that
			// cannot exist (a 404 the reader treats as "not found", which still proves access).
			if cfg.Scope == config.ScopeAssigned {
				if _, err := r.AppRoleAssignedTo(cmd.Context(), cfg.Source.ServicePrincipalID); err != nil {
					return withCode(exitAborted, fmt.Errorf("graph %s: %w", cfg.Source.GraphEndpoint, err))
				}
			} else if _, err := r.UsersByID(cmd.Context(), []string{"userPrincipalName"}, []string{uuid.NewString()}); err != nil {
				return withCode(exitAborted, fmt.Errorf("graph %s: %w", cfg.Source.GraphEndpoint, err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "graph %s: ok\n", cfg.Source.GraphEndpoint)
			return nil
		},
	}
}
