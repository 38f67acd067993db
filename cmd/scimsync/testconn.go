package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/job"
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
			return job.TestConnection(cmd.Context(), cfg, log, currentBuild().userAgent(), func(what string) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", what)
			})
		},
	}
}
