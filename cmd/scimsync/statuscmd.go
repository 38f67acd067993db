package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/store"
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
				s, err = statusFromState(cfg, cycles)
			}
			if err != nil {
				return withCode(exitAborted, err)
			}
			s.Lease = jobLease(cmd.Context(), cfg)
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

// statusFromState is the status when no daemon runs: the state file, opened read-only.
func statusFromState(cfg *config.Config, cycles int) (*status.Snapshot, error) {
	st, err := openState(cfg, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	// bbolt cannot notice a damaged value until it is read, so the health check reads them all.
	if err := st.Verify(); err != nil {
		return nil, err
	}
	return readStatus(cfg, st, cycles, time.Now())
}

// readStored is the job's stored status for the daemon's live status; nil before the first cycle.
func readStored(cfg *config.Config, now time.Time) (*status.Snapshot, error) {
	if !stateExists(cfg) {
		return nil, nil // no cycle has run yet: nothing to show, and nothing wrong
	}
	st, err := openState(cfg, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return readStatus(cfg, st, status.StoredCycles, now)
}

// readStatus is status.Read with the target's authentication, which only the wiring knows.
func readStatus(cfg *config.Config, st store.State, n int, now time.Time) (*status.Snapshot, error) {
	s, err := status.Read(cfg, st, n, now)
	if err != nil {
		return nil, withCode(exitAborted, err)
	}
	s.Auth = authStatus(cfg, st)
	return s, nil
}
