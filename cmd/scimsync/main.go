// Command scimsync provisions users from Microsoft Entra ID (through Microsoft Graph) into a SCIM 2.0
// app, as the Entra provisioning service does, but self-hosted: as a daemon (`run`), one cycle at a
// time (`sync`), or as a self-contained demo (`demo`).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes are typed so scripts and systemd can tell a bad config from a failed cycle.
const (
	exitOK       = 0
	exitFailures = 1 // the cycle ran but some objects failed
	exitConfig   = 2 // the configuration (or the command line) is invalid
	exitAborted  = 3 // the cycle could not run (Graph or the target unreachable, state locked)
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil && ee.err.Error() != "" {
				fmt.Fprintln(os.Stderr, "scimsync:", ee.err)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "scimsync:", err)
		os.Exit(exitConfig)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "scimsync",
		Short:         "Provision Microsoft Entra ID users into a SCIM 2.0 app, like the Entra provisioning service",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("config", "c", "/etc/scimsync/scimsync.yaml", "job configuration file")
	root.AddCommand(newRunCmd(), newSyncCmd(), newValidateCmd(), newEvalCmd(), newDemoCmd(), newTestConnectionCmd(),
		newStatusCmd(), newLogsCmd(), newRestartCmd(), newAllowDeletesCmd(), newProvisionCmd())
	return root
}
