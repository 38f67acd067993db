package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version and commit are set by the Makefile (-ldflags "-X main.version=... -X main.commit=...") from
// git; a `go install` or `go build` without them falls back to what the Go toolchain recorded.
var (
	version = ""
	commit  = ""
)

// buildInfo is what `scimsync version`, --version, the User-Agent and scimsync_build_info report.
type buildInfo struct {
	Version, Commit, GoVersion string
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && b.Commit == "" {
				b.Commit = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("scimsync %s (commit %s, %s %s/%s)", b.Version, shortCommit(b.Commit), b.GoVersion, runtime.GOOS, runtime.GOARCH)
}

// userAgent names scimsync and its version on every Graph and SCIM request, so that the operators of
// a target (and Microsoft support) can tell it from Entra and from other versions in their logs.
func (b buildInfo) userAgent() string {
	return "scimsync/" + strings.TrimPrefix(b.Version, "v") + " (+https://github.com/scimsync/scimsync)"
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, the commit and the Go version it was built with",
		Example: "  scimsync version\n  scimsync --version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), currentBuild())
		},
	}
}
