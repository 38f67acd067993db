package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/sync/engine"
)

// newProvisionCmd is the portal's "Provision on demand": one or a few users now, outside the schedule,
// printing each step (import, scope, match, action) so an admin can see why a user is or is not
// provisioned.
func newProvisionCmd() *cobra.Command {
	var users []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "provision --user ID [--user ID ...] [--dry-run]",
		Short: "Provision users now, on demand, printing every step (import, scope, match, action)",
		Long: `Provision one or more users now, like Entra's "Provision on demand". Each --user is an object id or a
userPrincipalName. The command reads the users from Graph, decides their scope against the current
assignments and scoping filters (and says which clause decided), matches them in the target, and sends
what they need, manager link included; the schedule's watermark does not move. --dry-run shows the same
steps and sends nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(users) == 0 {
				return withCode(exitConfig, fmt.Errorf("--user is required"))
			}
			j, err := jobFromFlags(cmd, job.Options{DryRun: dryRun})
			if err != nil {
				return err
			}
			var res *engine.OnDemand
			err = j.WithEngine(func(e *engine.Engine) error {
				var err error
				res, err = e.Provision(cmd.Context(), users)
				return err
			})
			if res != nil {
				printOnDemand(cmd.OutOrStdout(), res, dryRun)
			}
			if err != nil {
				return withCode(exitAborted, err)
			}
			if len(res.NotFound) > 0 {
				return withCode(exitFailures, fmt.Errorf("not found in the directory: %v", res.NotFound))
			}
			if n := res.Report.TotalFailed(); n > 0 {
				return withCode(exitFailures, fmt.Errorf("%d user(s) failed", n))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&users, "user", nil, "object id or userPrincipalName (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the steps without sending anything")
	return cmd
}

func printOnDemand(w io.Writer, res *engine.OnDemand, dryRun bool) {
	if dryRun {
		fmt.Fprintln(w, "dry run: nothing is sent or recorded")
	}
	attrs := map[string][]string{}
	for _, u := range res.Users {
		var lines []string
		for name, v := range u.Attributes {
			lines = append(lines, fmt.Sprintf("%s = %q", name, v.Strings()))
		}
		sort.Strings(lines)
		attrs[u.ID] = lines
	}
	for _, e := range res.Entries {
		fmt.Fprintf(w, "\nuser %s (source %s)\n", e.Identity, e.SourceID)
		fmt.Fprintf(w, "  1. import: %d attributes read from Microsoft Graph\n", len(attrs[e.SourceID]))
		for _, l := range attrs[e.SourceID] {
			fmt.Fprintf(w, "       %s\n", l)
		}
		n := 2
		for _, s := range e.Steps {
			if s.Name == "import" {
				continue
			}
			fmt.Fprintf(w, "  %d. %s: %s: %s\n", n, s.Name, s.Status, s.Description)
			n++
		}
		fmt.Fprintf(w, "  result: %s %s", e.Action, e.Status)
		if e.TargetID != "" {
			fmt.Fprintf(w, " (target id %s)", e.TargetID)
		}
		if e.ErrorCode != "" {
			fmt.Fprintf(w, ": %s", e.ErrorCode)
		}
		fmt.Fprintln(w)
		for _, p := range e.Modified {
			fmt.Fprintf(w, "       %s: %q -> %q\n", p.Name, p.Old, p.New)
		}
	}
	for _, id := range res.NotFound {
		fmt.Fprintf(w, "\nuser %s: not found in the directory\n", id)
	}
}
