package job

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// NewLogger builds the zap logger: human-readable on a terminal, JSON otherwise (systemd's journal and
// log shippers parse JSON). format "auto" picks by whether stderr is a terminal.
func NewLogger(level, format string) (*zap.Logger, error) {
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
	// zap's production sampling keeps 100 identical lines a second and drops the rest, whatever the
	// level: a cycle with a thousand failures kept a tenth of them. Warnings and errors are each one
	// object an admin must find, so only lines below warn are sampled.
	sampling := cfg.Sampling
	cfg.Sampling = nil
	log, err := cfg.Build()
	if err != nil || sampling == nil {
		return log, err
	}
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(
			zapcore.NewSamplerWithOptions(levelBelow{c, zapcore.WarnLevel}, time.Second, sampling.Initial, sampling.Thereafter),
			levelAtLeast{c, zapcore.WarnLevel})
	})), nil
}

// levelBelow and levelAtLeast split one core by level, so that the two halves can be sampled apart.
type levelBelow struct {
	zapcore.Core
	limit zapcore.Level
}

func (c levelBelow) Enabled(l zapcore.Level) bool { return l < c.limit && c.Core.Enabled(l) }
func (c levelBelow) With(f []zapcore.Field) zapcore.Core {
	return levelBelow{c.Core.With(f), c.limit}
}
func (c levelBelow) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !c.Enabled(e.Level) {
		return ce
	}
	return c.Core.Check(e, ce)
}

type levelAtLeast struct {
	zapcore.Core
	limit zapcore.Level
}

func (c levelAtLeast) Enabled(l zapcore.Level) bool { return l >= c.limit && c.Core.Enabled(l) }
func (c levelAtLeast) With(f []zapcore.Field) zapcore.Core {
	return levelAtLeast{c.Core.With(f), c.limit}
}
func (c levelAtLeast) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !c.Enabled(e.Level) {
		return ce
	}
	return c.Core.Check(e, ce)
}

// noColor honours https://no-color.org: any non-empty NO_COLOR turns colour off.
func noColor() bool { return os.Getenv("NO_COLOR") != "" }
