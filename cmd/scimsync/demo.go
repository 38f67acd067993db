package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/cmd/scimsync/internal/demo"
	"github.com/scimsync/scimsync/job"
)

// newDemoCmd runs the embedded default end to end, so a newcomer sees a real sync in one command.
func newDemoCmd() *cobra.Command {
	var keep, serve bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a real sync against an emulated Graph tenant and an in-process SCIM target",
		Long: `Start an emulated Microsoft Graph tenant (about 50 users of the fictional Contoso) and an
in-process SCIM 2.0 target on 127.0.0.1, write a job configuration with the Gong preset, run one real
cycle through msgraph-sdk-go, azidentity and the SCIM client, print the summary and what the target now
holds, then run a second cycle to show that nothing changed is nothing sent.

With --serve the tenant and the target keep running after the first cycle, and the configuration is
printed with the commands to try against it (run, status and its web page, logs, sync, provision);
Ctrl-C stops them and removes the files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serve {
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return serveDemo(ctx, cmd.OutOrStdout(), keep)
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the generated configuration and state directory")
	cmd.Flags().BoolVar(&serve, "serve", false, "keep the emulated tenant and target running and print a configuration to try every command against; Ctrl-C stops")
	return cmd
}

// firstCycle runs one manual cycle and prints its summary.
func firstCycle(ctx context.Context, e *demo.Env, w io.Writer) (*job.Job, error) {
	log, err := newLogger(e.Config.Logging.Level, e.Config.Logging.Format)
	if err != nil {
		return nil, err
	}
	j, err := openJob(e.Config, log, nil)
	if err != nil {
		return nil, err
	}
	rep, err := j.Cycle(ctx, false)
	if err != nil {
		return nil, withCode(exitAborted, err)
	}
	fmt.Fprintln(w, "First cycle:")
	printReport(w, rep)
	fmt.Fprintf(w, "  SCIM requests %5d\n\n", j.Target().Stats().Requests)
	return j, nil
}

func runDemo(ctx context.Context, w io.Writer, keep bool) error {
	dir, err := os.MkdirTemp("", "scimsync-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	e, err := demo.Start(dir, demo.Options{})
	if err != nil {
		return err
	}
	defer e.Close()
	e.Describe(w)
	j, err := firstCycle(ctx, e, w)
	if err != nil {
		return err
	}
	demo.PrintTarget(w, e.Target.Users())
	demo.PrintGroups(w, e.Target.Groups(), e.Target.Users())

	before := j.Target().Stats().Requests
	rep, err := j.Cycle(ctx, false)
	if err != nil {
		return withCode(exitAborted, err)
	}
	fmt.Fprintf(w, "\nSecond cycle (%s, nothing changed in the tenant): %d changed users read, %d SCIM requests sent.\n",
		rep.Kind, rep.Read, j.Target().Stats().Requests-before)
	if keep {
		fmt.Fprintf(w, "Kept %s\n", dir)
	}
	return nil
}

// serveDemo is `demo --serve`: the emulators stay up until ctx ends (Ctrl-C), with a first cycle run
// so that status and logs have something to show at once.
func serveDemo(ctx context.Context, w io.Writer, keep bool) error {
	dir, err := os.MkdirTemp("", "scimsync-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	metrics, err := demo.FreeLoopbackAddr()
	if err != nil {
		return err
	}
	e, err := demo.Start(dir, demo.Options{Metrics: metrics})
	if err != nil {
		return err
	}
	defer e.Close()
	e.Describe(w)
	if _, err := firstCycle(ctx, e, w); err != nil {
		return err
	}
	c := job.ShellQuote(e.ConfigPath)
	fmt.Fprintf(w, `The emulated tenant and target keep running. Try, in another terminal:
  scimsync run --config %[1]s            # the daemon; its status page: http://%[2]s/status
  scimsync status --config %[1]s         # asks the daemon, or reads the state file when none runs
  scimsync status -o json --config %[1]s
  scimsync logs --config %[1]s
  scimsync sync --dry-run --config %[1]s
  scimsync provision --user %[3]s --config %[1]s
Press Ctrl-C to stop.
config: %[1]s
`, c, metrics, e.Tenant.Users[0]["userPrincipalName"])
	<-ctx.Done()
	fmt.Fprintln(w, "stopped")
	if keep {
		fmt.Fprintf(w, "Kept %s\n", dir)
	}
	return nil
}
