package main

import (
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/sync/engine"
)

// loadConfig loads the configuration and turns its errors into exit code 2.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return cfg, nil
}

// loadConfigOffline loads the configuration without reading its secrets, for the commands that only
// read the state file: an admin can run them without the service's environment.
func loadConfigOffline(path string) (*config.Config, error) {
	cfg, err := config.LoadOffline(path)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return cfg, nil
}

// newLogger builds the logger of --log-level and --log-format, turning a bad value into exit code 2.
func newLogger(level, format string) (*zap.Logger, error) {
	log, err := job.NewLogger(level, format)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return log, nil
}

// loadConfigAndLogger loads the --config file and builds the logger it asks for: every command that
// talks to Graph or the target starts this way.
func loadConfigAndLogger(cmd *cobra.Command) (*config.Config, *zap.Logger, error) {
	cfg, err := loadConfig(configPath(cmd))
	if err != nil {
		return nil, nil, err
	}
	log, err := newLogger(logFlags(cmd, cfg.Logging.Level, cfg.Logging.Format))
	if err != nil {
		return nil, nil, err
	}
	return cfg, log, nil
}

// jobFromFlags loads the --config file and wires its job: the start of every command that sends
// requests. o's logger and User-Agent are filled in here.
func jobFromFlags(cmd *cobra.Command, o job.Options) (*job.Job, error) {
	cfg, log, err := loadConfigAndLogger(cmd)
	if err != nil {
		return nil, err
	}
	o.Logger, o.UserAgent = log, currentBuild().userAgent()
	return job.Open(cfg, o)
}

// openJob wires the job of cfg with this build's User-Agent: the daemon's, the demo's and the
// in-process tests' way in.
func openJob(cfg *config.Config, log *zap.Logger, progress engine.Progress) (*job.Job, error) {
	return job.Open(cfg, job.Options{Logger: log, Progress: progress, UserAgent: currentBuild().userAgent()})
}
