package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// newSyncCmd runs one cycle now: the admin's initial sync by hand, or a retry after fixing something.
func newSyncCmd() *cobra.Command {
	var initial, dryRun bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run one provisioning cycle now and print a summary",
		Long: `Run one provisioning cycle now and print a summary of what was created, updated and
what failed. The exit code is 0 when every object succeeded, 1 when some failed, 2 for a bad
configuration, 3 when the cycle could not run at all (nothing was changed then) and 4 when
the state file is damaged (run restart --rebuild).
A cycle started with sync runs at once even while the job is quarantined, and lifts the
quarantine when it succeeds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var bar engine.Progress
			tp := &terminalProgress{w: os.Stderr}
			if term.IsTerminal(int(os.Stderr.Fd())) {
				bar = tp
			}
			j, err := jobFromFlags(cmd, job.Options{Progress: bar, DryRun: dryRun})
			if err != nil {
				return err
			}
			defer j.Logger().Sync() //nolint:errcheck // nothing useful to do when stderr is gone
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if dryRun {
				return dryRunCycle(ctx, cmd.OutOrStdout(), j, initial)
			}
			res, err := j.Run(ctx, engine.RunOptions{Initial: initial, Manual: true})
			tp.finish()
			w := cmd.OutOrStdout()
			if res != nil && res.Why != "" && res.Why != "not quarantined" {
				fmt.Fprintln(w, res.Why)
			}
			if res != nil && res.Report != nil && !res.Report.Finished.IsZero() {
				printReport(w, res.Report)
			}
			if res != nil && res.Quarantine != nil {
				printQuarantine(w, res.Quarantine)
			}
			if code := syncExitCode(res, err); code != exitOK {
				if code == exitFailures {
					return withCode(code, fmt.Errorf("the job is quarantined (%s): %w", res.Quarantine.Reason, err))
				}
				return withCode(code, err)
			}
			if n := res.Report.TotalFailed(); n > 0 {
				return withCode(exitFailures, fmt.Errorf("%d object(s) failed; they are retried in the next cycle", n))
			}
			if res.Quarantine != nil {
				return withCode(exitFailures, fmt.Errorf("the job is quarantined (%s)", res.Quarantine.Reason))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&initial, "initial", false, "re-evaluate every object, as an initial cycle does")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "plan the cycle and print what it would send, without sending or recording anything")
	return cmd
}

// printReport writes the cycle summary admins read after a one-shot sync.
func printReport(w io.Writer, r *engine.Report) {
	fmt.Fprintf(w, "cycle %s (%s) finished in %s\n", r.CycleID, r.Kind, r.Finished.Sub(r.Started).Round(1e6))
	fmt.Fprintf(w, "  users read   %6d\n", r.Read)
	fmt.Fprintf(w, "  created      %6d\n", r.Created)
	fmt.Fprintf(w, "  matched      %6d  (pre-existing accounts linked and updated)\n", r.Adopted)
	fmt.Fprintf(w, "  updated      %6d\n", r.Updated)
	fmt.Fprintf(w, "  disabled     %6d\n", r.Disabled)
	fmt.Fprintf(w, "  deleted      %6d\n", r.Deleted)
	fmt.Fprintf(w, "  unchanged    %6d\n", r.Unchanged)
	fmt.Fprintf(w, "  skipped      %6d  (out of scope or disabled)\n", r.Skipped)
	fmt.Fprintf(w, "  manager links %5d\n", r.Linked)
	if g := r.Groups; g != (engine.Counts{}) || r.MembersAdded+r.MembersRemoved > 0 {
		fmt.Fprintf(w, "  groups: created %d, matched %d, updated %d, deleted %d, unchanged %d, skipped %d, failed %d\n",
			g.Created, g.Adopted, g.Updated, g.Deleted, g.Unchanged, g.Skipped, g.Failed)
		fmt.Fprintf(w, "  memberships: %d added, %d removed\n", r.MembersAdded, r.MembersRemoved)
	}
	fmt.Fprintf(w, "  failed       %6d\n", r.TotalFailed())
	for i, f := range r.Failures {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more failures (see the log)\n", len(r.Failures)-i)
			break
		}
		fmt.Fprintf(w, "  FAILED %s %s: %s\n", f.Op, f.Identity, f.Err)
	}
}

// terminalProgress draws one progress bar per phase of the cycle on an interactive terminal (a
// spinner for reading Graph, whose size is not known ahead); each bar is cleared when the next starts.
type terminalProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *terminalProgress) Start(phase string, total int) {
	p.finish()
	if total == 0 && phase != engine.PhaseReading {
		return
	}
	size := total
	if total == 0 {
		size = -1 // spinner
	}
	p.bar = progressbar.NewOptions(size, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(status.PhaseLabel(phase)),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100e6), progressbar.OptionSetRenderBlankState(true))
}

func (p *terminalProgress) Done(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// finish clears the current bar, so the summary that follows starts on a clean line.
func (p *terminalProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// dryRunCycle plans a cycle against the live directory and target (it reads both, writes neither and
// records nothing) and prints what it would send.
func dryRunCycle(ctx context.Context, w io.Writer, j *job.Job, initial bool) error {
	return j.WithEngine(func(e *engine.Engine) error {
		rep, err := e.Cycle(ctx, initial)
		if err != nil {
			return withCode(exitAborted, err)
		}
		fmt.Fprintf(w, "dry run: nothing was sent or recorded\n")
		printReport(w, rep)
		if rep.Staged > 0 {
			fmt.Fprintf(w, "deletion threshold: %d disables and deletes reach the threshold of %d; the cycle would hold them "+
				"(marked held below) and quarantine the job until `scimsync allow-deletes`\n", rep.Staged, j.Config().DeletionThreshold)
		}
		for _, c := range rep.Planned {
			switch c.Op {
			case plan.Unchanged:
				continue
			case plan.Skip:
				if !c.Failed && !c.Staged() {
					continue
				}
			}
			fmt.Fprintf(w, "  %-9s %s", c.Op, c.Identity)
			if c.TargetID != "" {
				fmt.Fprintf(w, " (%s)", c.TargetID)
			}
			if c.Reason != "" {
				fmt.Fprintf(w, ": %s", c.Reason)
			}
			fmt.Fprintln(w)
			for _, a := range c.Attrs {
				fmt.Fprintf(w, "      %s: %v -> %v\n", a.Path, show(c, a.Path, a.Old), show(c, a.Path, a.New))
			}
		}
		for _, m := range rep.PlannedMembers {
			fmt.Fprintf(w, "  %-9s %s (%s)\n", "Members", m.Group, m.TargetID)
			for _, step := range []struct {
				verb  string
				names []string
			}{{"remove", m.Remove}, {"add", m.Add}} {
				if len(step.names) > 0 {
					fmt.Fprintf(w, "      %s: %s\n", step.verb, firstNames(step.names, 20))
				}
			}
		}
		return nil
	})
}

// firstNames joins the first n names and says how many more there are, so a large group's change
// stays readable.
func firstNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

// show renders a planned value, honouring Redact.
func show(c plan.Change, path string, v any) any {
	if v == nil {
		return "(none)"
	}
	if c.Redacted[path] {
		return "[Redact]"
	}
	return v
}

// printQuarantine tells the admin the job is quarantined and what happens next.
func printQuarantine(w io.Writer, q *store.Quarantine) {
	fmt.Fprintf(w, "QUARANTINED: %s since %s; next attempt %s\n", q.Reason, q.SeriesBegan.UTC().Format(time.RFC3339),
		quarantine.NextAttempt(*q).UTC().Format(time.RFC3339))
	if q.Error != "" {
		fmt.Fprintf(w, "  cause: %s\n", q.Error)
	}
}

// syncExitCode is the exit code docs/commands.md gives for a cycle that returned err: a cycle that quarantined the
// job (the target refused the credentials, say) taught something and exits 1 like any quarantine; a
// cycle that could not run at all exits 3. exitOK means err is nil and the caller goes on.
func syncExitCode(res *engine.Result, err error) int {
	if err == nil {
		return exitOK
	}
	if res == nil || res.Quarantine == nil || errors.Is(err, engine.ErrAborted) || quarantine.IsAbort(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, store.ErrLocked) {
		return exitAborted
	}
	return exitFailures
}
