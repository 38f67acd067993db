package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// logFlags are --log-level and --log-format: they override logging.level and logging.format for one
// run, so that an admin can debug without editing the configuration the daemon reads.
func logFlags(cmd *cobra.Command, level, format string) (string, string) {
	if v, _ := cmd.Flags().GetString("log-level"); v != "" {
		level = v
	}
	if v, _ := cmd.Flags().GetString("log-format"); v != "" {
		format = v
	}
	return level, format
}

// checkEnum returns an error naming the flag and the allowed values when v is not one of them (case
// does not matter), and the allowed spelling otherwise.
func checkEnum(flag, v string, allowed ...string) (string, error) {
	if v == "" {
		return "", nil
	}
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a, nil
		}
	}
	return "", withCode(exitConfig, fmt.Errorf("--%s %q: must be one of %s", flag, v, strings.Join(allowed, ", ")))
}
