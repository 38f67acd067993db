package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/cmd/scimsync/internal/logsjson"
	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/postgres"
	"github.com/scimsync/scimsync/sync/engine"
)

func configPath(cmd *cobra.Command) string {
	p, _ := cmd.Flags().GetString("config")
	return p
}

// stamp and oneLine write times and messages as the status does.
var stamp, oneLine = status.Stamp, status.OneLine

// newLogsCmd queries the provisioning log, like the portal's provisioning logs blade.
func newLogsCmd() *cobra.Command {
	var q store.LogQuery
	var since, until string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Query the provisioning log (one entry per object per cycle that did something or failed)",
		Long: `Query the provisioning log. Filters combine: --status Success|Failure|Skipped|Warning,
--action Create|Update|Disable|Delete|StagedDelete|Other, --object (a source id, target id or part of
the name), --cycle, --since and --until (RFC 3339 times or durations such as 24h). Entries are shown
newest first as a table, or as JSON lines with --json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigOffline(configPath(cmd))
			if err != nil {
				return err
			}
			if q.Status, err = checkEnum("status", q.Status, "Success", "Failure", "Skipped", "Warning"); err != nil {
				return err
			}
			if q.Action, err = checkEnum("action", q.Action, "Create", "Update", "Disable", "Delete", "StagedDelete", "Other"); err != nil {
				return err
			}
			now := time.Now()
			if q.Since, err = parseWhen(since, now); err != nil {
				return withCode(exitConfig, fmt.Errorf("--since: %w", err))
			}
			if q.Until, err = parseWhen(until, now); err != nil {
				return withCode(exitConfig, fmt.Errorf("--until: %w", err))
			}
			st, err := job.OpenState(cfg, true)
			if err != nil {
				return err
			}
			defer st.Close()
			entries, err := st.QueryLog(q)
			if err != nil {
				return withCode(exitAborted, err)
			}
			return printLogs(cmd.OutOrStdout(), entries, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Status, "status", "", "Success, Failure, Skipped or Warning")
	f.StringVar(&q.Action, "action", "", "Create, Update, Disable, Delete, StagedDelete or Other")
	f.StringVar(&q.Object, "object", "", "source id, target id or part of the identity")
	f.StringVar(&q.CycleID, "cycle", "", "cycle id")
	f.StringVar(&since, "since", "", "entries at or after this time (RFC 3339) or this long ago (24h)")
	f.StringVar(&until, "until", "", "entries before this time (RFC 3339) or this long ago")
	f.IntVar(&q.Limit, "limit", 100, "at most this many entries (0: all)")
	f.BoolVar(&asJSON, "json", false, "print JSON lines")
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return now.Add(-d), nil
}

func printLogs(w io.Writer, entries []store.LogEntry, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, e := range entries {
			if err := enc.Encode(logsjson.FromEntry(e)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "time\tcycle\tkind\taction\tstatus\tidentity\ttarget id\tdetails")
	for _, e := range entries {
		details := e.Error
		if details == "" {
			var parts []string
			for _, p := range e.Modified {
				parts = append(parts, fmt.Sprintf("%s: %q -> %q", p.Name, p.Old, p.New))
			}
			details = strings.Join(parts, "; ")
		}
		if details == "" && len(e.Steps) > 0 {
			details = e.Steps[len(e.Steps)-1].Description
		}
		if e.ErrorCode != "" {
			details = e.ErrorCode + ": " + details
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", stamp(e.Time), e.CycleID, e.Kind, e.Action, e.Status, e.Identity, e.TargetID, oneLine(details, 120))
	}
	if len(entries) == 0 {
		fmt.Fprintln(tw, "(no entries)")
	}
	return tw.Flush()
}

// newRestartCmd is the portal's "Restart provisioning": the next cycle is an initial one, escrows and
// quarantine are cleared, and the links between source and target objects are kept. With --rebuild it
// replaces a damaged state file instead, keeping the old one.
func newRestartCmd() *cobra.Command {
	var rebuild bool
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Clear the watermark, escrows, quarantine and staged deletions (links are kept); the next cycle is initial",
		Long: `Clear the watermark, escrows, quarantine and staged deletions; links between source and target
objects are kept, and the next cycle is an initial one. The state file is checked first: a damaged
one is refused (exit 4).

With --rebuild the state file is moved aside to STATE.damaged-<UTC time> (kept, never deleted) and a
fresh one is created. The next cycle is initial and links every in-scope object to its existing
account by the matching attributes, so nothing is created twice. Nothing of the old file is carried
over: quarantine, escrows, staged deletions, cycle history and the provisioning log start empty.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath(cmd))
			if err != nil {
				return err
			}
			if rebuild {
				return rebuildState(cmd.OutOrStdout(), cfg, time.Now())
			}
			st, err := job.OpenState(cfg, false)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Verify(); err != nil {
				return withCode(exitAborted, err)
			}
			if err := st.Restart(); err != nil {
				return withCode(exitAborted, err)
			}
			users, _ := st.CountLinks(store.KindUser)
			groups, _ := st.CountLinks(store.KindGroup)
			fmt.Fprintf(cmd.OutOrStdout(), "restarted job %s: watermark, escrows, quarantine and staged deletions cleared; %d user and %d group links kept; the next cycle is an initial one\n",
				cfg.Name, users, groups)
			return nil
		},
	}
	cmd.Flags().BoolVar(&rebuild, "rebuild", false, "move the state file aside (kept) and start a fresh one; the next cycle re-links every object by matching the target")
	return cmd
}

// rebuildState is `restart --rebuild`: the way out of a damaged state file.
func rebuildState(w io.Writer, cfg *config.Config, now time.Time) error {
	if cfg.StateDatabase != nil {
		// A database is not damaged the way a file is: PostgreSQL checks its pages itself, and a
		// damaged value shows in `restart` (which verifies first) and in `state export`.
		return withCode(exitConfig, fmt.Errorf("restart --rebuild moves a state file aside; job %s keeps its state in %s: "+
			"use `scimsync restart`, or `state import --replace` of an exported state", cfg.Name, postgres.Redact(cfg.StateDatabase.URL)))
	}
	moved, err := store.Rebuild(cfg.StatePath, now)
	if errors.Is(err, store.ErrLocked) {
		return withCode(exitAborted, fmt.Errorf("%w: stop the daemon first", err))
	}
	if err != nil {
		return withCode(exitAborted, err)
	}
	if err := job.ForgetDamageAlert(cfg.StatePath); err != nil {
		return withCode(exitAborted, err)
	}
	if moved != "" {
		fmt.Fprintf(w, "moved the state file of job %s to %s (kept for inspection)\n", cfg.Name, moved)
	}
	fmt.Fprintf(w, "created a fresh state file %s; the next cycle is an initial one and links every in-scope object to its existing account by matching, "+
		"so nothing is created twice; quarantine, escrows, staged deletions, cycle history and the provisioning log start empty\n", cfg.StatePath)
	return nil
}

// newAllowDeletesCmd is the portal's "Allow deletes": it sends what the deletion threshold held back.
func newAllowDeletesCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "allow-deletes",
		Short: "Send the disables and deletes that the deletion threshold staged, and lift the quarantine",
		Long: `Send the disables and deletes that the deletion threshold held back, and lift the
TooManyDeletes quarantine: Entra's "Allow deletes". It lists them (the first 50 and a count) and asks
for confirmation; --yes skips the question, and without a terminal --yes is required.`,
		Example: `  sudo -u scimsync scimsync allow-deletes --config /etc/scimsync/scimsync.yaml
  sudo -u scimsync scimsync allow-deletes --yes --config /etc/scimsync/scimsync.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			j, err := jobFromFlags(cmd, job.Options{})
			if err != nil {
				return err
			}
			if ok, err := confirmHeld(cmd, j, yes); err != nil || !ok {
				return err
			}
			var done, failed int
			err = j.WithEngine(func(e *engine.Engine) error {
				var err error
				done, failed, err = e.AllowDeletes(cmd.Context())
				return err
			})
			if err != nil {
				return withCode(exitAborted, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d staged operation(s), %d failed\n", done, failed)
			if failed > 0 {
				return withCode(exitFailures, fmt.Errorf("%d staged operation(s) failed and stay staged", failed))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	return cmd
}
