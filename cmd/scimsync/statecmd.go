package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/job"
)

// newStateCmd moves a job's state between backends (a bbolt file and a PostgreSQL database) or hosts.
func newStateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Export or import a job's state, to move it between a state file and a PostgreSQL database",
	}
	cmd.AddCommand(newStateExportCmd(), newStateImportCmd())
	return cmd
}

func newStateExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Write the job's whole state as JSON to standard output",
		Long: `Write the job's whole state (links, watermarks, escrows, quarantine, staged deletions, sets, cycle
history, provisioning log, learned dialect, OAuth grant) as JSON to standard output. The state is read
in one consistent snapshot. A state file is locked while a cycle runs: stop the daemon first. The
OAuth refresh token is exported as stored: encrypted when an encryption key is configured, else in the
clear, so protect the dump like the state itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigOffline(configPath(cmd))
			if err != nil {
				return err
			}
			return job.ExportState(cfg, cmd.OutOrStdout())
		},
	}
}

func newStateImportCmd() *cobra.Command {
	var replace bool
	var fromJob string
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Replace the job's state by a `state export` read from standard input",
		Long: `Read a document written by "scimsync state export" from standard input and make it the job's state,
in one transaction: after a failure the state is as it was. A job that already has state (links, cycles
or a watermark) is refused unless --replace is given. A dump of another job is refused unless --from-job
names it. A state file is locked while a cycle runs, and a database job's lease is taken for the import:
stop the daemon (or every replica) first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath(cmd))
			if err != nil {
				return err
			}
			summary, err := job.ImportState(cfg, cmd.InOrStdin(), fromJob, replace)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), summary)
			return nil
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "overwrite the job's existing state")
	cmd.Flags().StringVar(&fromJob, "from-job", "", "accept an export of this other job")
	return cmd
}
