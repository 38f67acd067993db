package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/daemon"
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
machine without the service's environment or secret files. With --jobs and no --job, every job file
of the folder (or daemon configuration) is checked.`,
		Example: `  scimsync validate --config /etc/scimsync/scimsync.yaml
  scimsync validate --offline --config gong.yaml
  scimsync validate --jobs /etc/scimsync/jobs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			load := loadConfig
			if offline {
				load = loadConfigOffline
			}
			paths := []string{configPath(cmd)}
			if dir := jobsDir(cmd); dir != "" && !cmd.Flags().Changed("job") {
				var err error
				if paths, err = daemon.JobFiles(dir); err != nil {
					return withCode(exitConfig, err)
				}
			}
			var failed error
			for _, path := range paths { // every file of --jobs, so one pass shows every problem
				cfg, err := load(path)
				if err != nil && len(paths) == 1 {
					return err
				}
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					failed = withCode(exitConfig, errors.New("")) // printed already
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: job %q, %d user mapping(s), scope %s, target %s, schedule %q, state %s\n",
					path, cfg.Name, len(cfg.Users.Table.Mappings), cfg.Scope, cfg.Target.URL, cfg.Schedule, cfg.StatePath)
			}
			return failed
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "do not read secrets (environment variables and secret files)")
	return cmd
}
