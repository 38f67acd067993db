// Command scimsync provisions users from Microsoft Entra ID (through Microsoft Graph) into a SCIM 2.0
// app, as the Entra provisioning service does, but self-hosted: as a daemon (`run`), one cycle at a
// time (`sync`), or as a self-contained demo (`demo`).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"

	"github.com/scimsync/scimsync/cmd/scimsync/internal/memtarget"
	"github.com/scimsync/scimsync/cmd/scimsync/internal/profile"
	"github.com/scimsync/scimsync/daemon"
	"github.com/scimsync/scimsync/job"
)

// Exit codes are typed so scripts and systemd can tell a bad config from a failed cycle.
const (
	exitOK       = 0
	exitFailures = 1 // the cycle ran but some objects failed
	exitConfig   = 2 // the configuration (or the command line) is invalid
	exitAborted  = 3 // the cycle could not run (Graph or the target unreachable, state locked)
	exitDamaged  = 4 // the state file is damaged: retrying cannot help, `restart --rebuild` does
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
	// Under a cgroup memory limit (systemd's MemoryMax=, a Kubernetes memory limit) the Go heap gets a
	// soft limit of 90 % of it, so the collector works harder near the limit instead of the kernel
	// killing the process mid-cycle (docs/performance.md#memory). GOMEMLIMIT, when set, wins. An error
	// leaves Go's default, which is what it would be anyway. The limit found is the ceiling of
	// --memory-target (startMemoryTarget).
	memCeiling, _ = memlimit.Set()
	root := newRootCmd()
	err := root.Execute()
	running.Stop()
	if memTuner != nil {
		memTuner.Stop()
	}
	if err != nil {
		if msg, ok := job.DamagedMessage(err, configPathOf(root)); ok {
			fmt.Fprintln(os.Stderr, "scimsync:", msg)
			os.Exit(exitDamaged)
		}
		code, cause, ok := codeOf(err)
		if !ok {
			code, cause = exitConfig, err
		}
		if cause != nil && cause.Error() != "" {
			fmt.Fprintln(os.Stderr, "scimsync:", cause)
		}
		os.Exit(code)
	}
}

// codeOf is the exit code err carries and the error under it: a command's own (withCode) first, else
// the kind of a job's error; ok is false when err carries neither.
func codeOf(err error) (code int, cause error, ok bool) {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.err, true
	}
	var je *job.Error
	if errors.As(err, &je) {
		switch je.Kind {
		case job.KindConfig:
			return exitConfig, je.Err, true
		case job.KindAborted:
			return exitAborted, je.Err, true
		}
	}
	return 0, nil, false
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "scimsync",
		Short:         "Provision Microsoft Entra ID users into a SCIM 2.0 app, like the Entra provisioning service",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentBuild().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringP("config", "c", "/etc/scimsync/scimsync.yaml", "job configuration file")
	root.PersistentFlags().String("jobs", "", "folder of job files (one job per *.yaml), or a daemon configuration listing them: `run` runs them all, other commands take --job NAME")
	root.PersistentFlags().String("job", "", "with --jobs: the job a command acts on (its file NAME.yaml, or the file whose name: is NAME)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if err := startProfiles(cmd); err != nil {
			return err
		}
		if err := startMemoryTarget(cmd); err != nil {
			return err
		}
		return resolveJob(cmd, args)
	}
	root.PersistentFlags().String("cpu-profile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	root.PersistentFlags().String("heap-profile", "", "write a heap profile, taken when the live heap was highest, to this file")
	root.PersistentFlags().String("memory-target", memtarget.Default, "keep the process's memory near this size while its live data allows (200MiB, 1GiB; 0 turns it off); GOMEMLIMIT, when set, replaces it")
	root.PersistentFlags().String("log-level", "", "debug, info, warn or error (overrides logging.level)")
	root.PersistentFlags().String("log-format", "", "auto, console or json (overrides logging.format)")
	root.AddCommand(newRunCmd(), newSyncCmd(), newValidateCmd(), newEvalCmd(), newDemoCmd(), newTestConnectionCmd(),
		newStatusCmd(), newLogsCmd(), newRestartCmd(), newAllowDeletesCmd(), newProvisionCmd(), newAuthorizeCmd(), newNotifyCmd(), newStateCmd(), newVersionCmd())
	addExamples(root)
	return root
}

// running is the profiles of this process (--cpu-profile, --heap-profile), stopped before it exits.
var running *profile.Profiles

// startProfiles starts what the profile flags ask for; a second call does nothing.
func startProfiles(cmd *cobra.Command) error {
	if running != nil {
		return nil
	}
	cpuPath, _ := cmd.Flags().GetString("cpu-profile")
	heapPath, _ := cmd.Flags().GetString("heap-profile")
	p, err := profile.Start(cpuPath, heapPath)
	if err != nil {
		return withCode(exitConfig, err)
	}
	running = p
	return nil
}

var (
	// memCeiling is the memory limit automemlimit set (90 % of the cgroup's, or none: MaxInt64).
	memCeiling int64
	// memTuner keeps the limit for --memory-target; nil when off.
	memTuner *memtarget.Tuner
)

// startMemoryTarget checks --memory-target and starts its tuner under the cgroup's limit, once.
func startMemoryTarget(cmd *cobra.Command) error {
	raw, _ := cmd.Flags().GetString("memory-target")
	target, err := memtarget.Parse(raw)
	if err != nil {
		return withCode(exitConfig, err)
	}
	if memTuner == nil {
		memTuner = memtarget.StartTarget(target, memCeiling)
	}
	return nil
}

// resolveJob turns --jobs DIR --job NAME into the --config of that job, so every command acts on one
// job of a many-jobs daemon as it does on a single job file.
func resolveJob(cmd *cobra.Command, _ []string) error {
	dir, _ := cmd.Flags().GetString("jobs")
	name, _ := cmd.Flags().GetString("job")
	switch {
	case name != "" && dir == "":
		return withCode(exitConfig, errors.New("--job needs --jobs DIR (the folder of job files)"))
	case name == "" && dir != "" && cmd.Name() != "run" && cmd.Name() != "validate":
		return withCode(exitConfig, fmt.Errorf("--jobs %s: say which job with --job NAME", dir))
	case name == "":
		return nil
	case cmd.Name() == "run":
		return withCode(exitConfig, errors.New("run --jobs runs every job of the folder; --job is for the other commands"))
	}
	path, err := daemon.JobFile(dir, name)
	if err != nil {
		return withCode(exitConfig, err)
	}
	return cmd.Flags().Set("config", path)
}

// configPathOf reads the --config flag after the command ran, for messages printed by main.
func configPathOf(root *cobra.Command) string {
	p, _ := root.PersistentFlags().GetString("config")
	return p
}
