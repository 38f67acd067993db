package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newValidateCmd checks a configuration without touching Graph, the target or the state, so a change
// can be checked before it is deployed.
func newValidateCmd() *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration file and print every problem with its file, line and key",
		Long: `Check a configuration file and print every problem with its file, line and key. With
--offline the secrets are not read (their keys are still checked), so a file can be checked on a
machine without the service's environment or secret files.`,
		Example: `  scimsync validate --config /etc/scimsync/scimsync.yaml
  scimsync validate --offline --config gong.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			load := loadConfig
			if offline {
				load = loadConfigOffline
			}
			cfg, err := load(path)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s: ok: job %q, %d user mapping(s), scope %s, target %s, schedule %q, state %s\n",
				path, cfg.Name, len(cfg.Users.Table.Mappings), cfg.Scope, cfg.Target.URL, cfg.Schedule, cfg.StatePath)
			return nil
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "do not read secrets (environment variables and secret files)")
	return cmd
}
