// Package procstatus reads a process's memory figures from Linux's /proc/<pid>/status, for the
// benchmarks, the scale harness and its launcher (internal/cmd/emulate exec), which measure scimsync
// as the kernel counts it.
package procstatus

import (
	"os"
	"strconv"
	"strings"
)

// Memory returns the lines of /proc/<pid>/status counted in kB (VmHWM, VmRSS, RssAnon, RssFile...)
// in bytes, keyed by their name; pid "self" is the calling process. It is empty where there is no
// /proc or the process is gone, so a figure reads 0.
func Memory(pid string) map[string]uint64 {
	out := map[string]uint64{}
	raw, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(raw), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if rest = strings.TrimSpace(rest); ok && strings.HasSuffix(rest, " kB") {
			if kb, err := strconv.ParseUint(strings.TrimSuffix(rest, " kB"), 10, 64); err == nil {
				out[name] = kb * 1024
			}
		}
	}
	return out
}
