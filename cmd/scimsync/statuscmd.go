package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/job"
)

// newStatusCmd is the portal's provisioning status page for the terminal. It asks the running daemon
// (live: the cycle in progress phase by phase) and reads the state file only when no daemon runs, so
// it works during a cycle, when the state file is locked.
func newStatusCmd() *cobra.Command {
	var cycles int
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the job's state: the running cycle, quarantine, escrows, staged deletions and the last cycles",
		Long: `Show the job's state. The running daemon is asked first, through the socket next to the state
file (STATE.sock) or else its metrics listener: it answers from memory with the cycle in progress
(phase, done/total per phase, counts so far) even while the cycle holds the state file. When no daemon
runs, the state file is read instead. -o json prints the same data as the daemon's /status.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return withCode(exitConfig, fmt.Errorf("-o %q: want text or json", output))
			}
			cfg, err := loadConfigOffline(configPath(cmd))
			if err != nil {
				return err
			}
			s, err := status.Ask(cmd.Context(), cfg, cycles)
			if errors.Is(err, status.ErrNoDaemon) {
				s, err = job.StatusFromState(cfg, cycles)
			}
			if err != nil {
				return withCode(exitAborted, err)
			}
			s.Lease = job.Lease(cmd.Context(), cfg)
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return status.WriteText(cmd.OutOrStdout(), s, cycles)
		},
	}
	cmd.Flags().IntVar(&cycles, "cycles", 10, "how many recent cycles to show")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
