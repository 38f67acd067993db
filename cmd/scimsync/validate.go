package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newValidateCmd checks a configuration without touching Graph, the target or the state, so a change
// can be checked before it is deployed.
func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration file and print every problem with its file, line and key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s: ok: job %q, %d user mapping(s), scope %s, target %s, schedule %q, state %s\n",
				path, cfg.Name, len(cfg.Users.Table.Mappings), cfg.Scope, cfg.Target.URL, cfg.Schedule, cfg.StatePath)
			return nil
		},
	}
}
