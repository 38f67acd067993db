package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/store"
)

// stateDump is the document of `state export`: the job's name, so an import into another job is a
// deliberate act, and its whole state.
type stateDump struct {
	Job string `json:"job"`
	*store.Snapshot
}

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
			st, err := openState(cfg, true)
			if err != nil {
				return err
			}
			defer st.Close()
			snap, err := st.Snapshot()
			if err != nil {
				return withCode(exitAborted, err)
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			if err := enc.Encode(stateDump{Job: cfg.Name, Snapshot: snap}); err != nil {
				return withCode(exitAborted, fmt.Errorf("write the export: %w", err))
			}
			if err := w.Flush(); err != nil {
				return withCode(exitAborted, fmt.Errorf("write the export: %w", err))
			}
			return nil
		},
	}
}

// errStateNotEmpty is the refusal to overwrite a job's state without --replace.
var errStateNotEmpty = errors.New("the job already has state")

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
			var dump stateDump
			dec := json.NewDecoder(io.LimitReader(cmd.InOrStdin(), 4<<30))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&dump); err != nil {
				return withCode(exitConfig, fmt.Errorf("read the export from standard input: %w", err))
			}
			if dump.Snapshot == nil {
				return withCode(exitConfig, errors.New("read the export from standard input: no state in it"))
			}
			if dump.Job != cfg.Name && dump.Job != fromJob {
				return withCode(exitConfig, fmt.Errorf("the export is of job %q, this configuration is job %q; add --from-job %s to import it anyway",
					dump.Job, cfg.Name, dump.Job))
			}
			st, err := openState(cfg, false)
			if err != nil {
				return err
			}
			defer st.Close()
			if !replace {
				if err := checkEmpty(st); err != nil {
					return withCode(exitAborted, fmt.Errorf("%w: %v; add --replace to overwrite it", errStateNotEmpty, err))
				}
			}
			if err := st.Restore(dump.Snapshot); err != nil {
				return withCode(exitAborted, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported the state of job %s into %s: %d links, %d cycles, %d log entries\n",
				dump.Job, st.Path(), len(dump.Anchors), len(dump.Cycles), len(dump.Log))
			return nil
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "overwrite the job's existing state")
	cmd.Flags().StringVar(&fromJob, "from-job", "", "accept an export of this other job")
	return cmd
}

// checkEmpty says what the state already holds, nil when nothing that an import would lose.
func checkEmpty(st store.State) error {
	for _, k := range []store.Kind{store.KindUser, store.KindGroup} {
		n, err := st.CountAnchors(k)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d %s links", n, k)
		}
	}
	cycles, err := st.Cycles(1)
	if err != nil {
		return err
	}
	if len(cycles) > 0 {
		return errors.New("a cycle history")
	}
	for _, w := range []string{"users", "groups"} {
		if v, err := st.Watermark(w); err != nil {
			return err
		} else if v != "" {
			return fmt.Errorf("a %s watermark", w)
		}
	}
	return nil
}
