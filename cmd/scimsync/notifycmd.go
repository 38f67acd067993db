package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/notify"
)

// newNotifyCmd sends a test email, so that an admin learns that the relay, the credentials and the
// recipients work before the first real failure instead of after it.
func newNotifyCmd() *cobra.Command {
	var test bool
	cmd := &cobra.Command{
		Use:     "notify --test",
		Short:   "Send a test failure email to the notify.to addresses",
		Example: `  sudo -u scimsync scimsync notify --test --config /etc/scimsync/scimsync.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !test {
				return withCode(exitConfig, errors.New("notify needs --test (the only action it has)"))
			}
			cfg, log, err := loadConfigAndLogger(cmd)
			if err != nil {
				return err
			}
			if cfg.Notify == nil {
				return withCode(exitConfig, fmt.Errorf("%s has no notify block: failure emails are off", cfg.File))
			}
			n, err := job.NewNotifier(cfg, log)
			if err != nil {
				return err
			}
			ev := notify.Event{Kind: notify.Test, Job: cfg.Name, StatePath: cfg.StatePath, ConfigPath: cfg.File}
			if err := n.SendNow(cmd.Context(), ev); err != nil {
				return withCode(exitAborted, fmt.Errorf("the test email was not sent: %w", err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Test email sent to %s through %s:%d.\n", strings.Join(cfg.Notify.To, ", "), cfg.Notify.SMTP.Host, cfg.Notify.SMTP.Port)
			return nil
		},
	}
	cmd.Flags().BoolVar(&test, "test", false, "send a test email now")
	return cmd
}
