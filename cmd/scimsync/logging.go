package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// newLogger builds the zap logger: human-readable on a terminal, JSON otherwise (systemd's journal and
// log shippers parse JSON). format "auto" picks by whether stderr is a terminal.
func newLogger(level, format string) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log level %q: must be debug, info, warn or error", level)
		}
	}
	switch format {
	case "", "auto", "console", "json":
	default:
		return nil, fmt.Errorf("log format %q: must be auto, console or json", format)
	}
	console := format == "console" || (format == "" || format == "auto") && term.IsTerminal(int(os.Stderr.Fd()))
	var cfg zap.Config
	if console {
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		if noColor() {
			cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		}
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		// A failed cycle is an ordinary event, not a bug: its line says what failed, not where in the code.
		cfg.DisableStacktrace = true
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	return cfg.Build()
}

// noColor honours https://no-color.org: any non-empty NO_COLOR turns colour off.
func noColor() bool { return os.Getenv("NO_COLOR") != "" }

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
