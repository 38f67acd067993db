package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// scaleCgroupEnv runs scimsync inside a memory cgroup of that many MiB (make scale CGROUP=256), as
// systemd's MemoryMax= or a Kubernetes memory limit would: the kernel reclaims file pages (the
// binary, the mapped state file) at the limit and kills the process if its own memory goes over it,
// and automemlimit gives the Go heap a soft limit of 90 % of it.
const scaleCgroupEnv = "SCIMSYNC_SCALE_CGROUP_MIB"

// cgroupRuns numbers the cgroups made, one per run.
var cgroupRuns int

// memCgroup is a memory cgroup made for one run (v1 or v2, under the harness's own cgroup).
type memCgroup struct {
	dir string
	v2  bool
}

// newMemCgroup makes a child memory cgroup of the harness's own with a limit of mib MiB.
func newMemCgroup(b *testing.B, mib int) *memCgroup {
	b.Helper()
	cg, err := ownMemCgroup()
	if err != nil {
		b.Fatalf("%s: %v", scaleCgroupEnv, err)
	}
	cgroupRuns++
	cg.dir = filepath.Join(cg.dir, fmt.Sprintf("scimsync-scale-%d-%d", os.Getpid(), cgroupRuns))
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		b.Fatalf("%s: make a memory cgroup: %v", scaleCgroupEnv, err)
	}
	b.Cleanup(func() { _ = os.Remove(cg.dir) })
	limit, file := strconv.Itoa(mib<<20), "memory.limit_in_bytes"
	if cg.v2 {
		file = "memory.max"
	}
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(limit), 0o644); err != nil {
		b.Fatalf("%s: set the limit: %v", scaleCgroupEnv, err)
	}
	return cg
}

// ownMemCgroup finds the memory cgroup this process is in, from /proc/self/cgroup and mountinfo.
func ownMemCgroup() (*memCgroup, error) {
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	var v1, v2 string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case strings.Contains(","+parts[1]+",", ",memory,"):
			v1 = parts[2]
		}
	}
	mounts, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer mounts.Close()
	var v1Mount, v2Mount string
	sc := bufio.NewScanner(mounts)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "/" {
			continue
		}
		sep := 6
		for sep < len(f) && f[sep] != "-" {
			sep++
		}
		if sep+3 >= len(f) {
			continue
		}
		switch fs, opts := f[sep+1], f[sep+3]; {
		case fs == "cgroup" && strings.Contains(","+opts+",", ",memory,"):
			v1Mount = f[4]
		case fs == "cgroup2" && v2Mount == "":
			v2Mount = f[4]
		}
	}
	switch {
	case v1 != "" && v1Mount != "":
		return &memCgroup{dir: filepath.Join(v1Mount, v1)}, nil
	case v2Mount != "":
		return &memCgroup{dir: filepath.Join(v2Mount, v2), v2: true}, nil
	}
	return nil, errors.New("no memory cgroup found")
}

// wrap returns the command line that puts itself into the cgroup, then runs argv.
func (cg *memCgroup) wrap(argv []string) []string {
	return append([]string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, cg.dir}, argv...)
}

// figures reads the cgroup's peak usage (page cache included), and how often the limit was hit and
// the kernel killed a process for memory.
func (cg *memCgroup) figures() (peak uint64, failcnt, oomKills int) {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(cg.dir, name))
		return strings.TrimSpace(string(b))
	}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	stat := func(file, key string) int {
		for _, line := range strings.Split(read(file), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok && k == key {
				return int(num(v))
			}
		}
		return 0
	}
	if cg.v2 {
		return num(read("memory.peak")), stat("memory.events", "max"), stat("memory.events", "oom_kill")
	}
	return num(read("memory.max_usage_in_bytes")), int(num(read("memory.failcnt"))), stat("memory.oom_control", "oom_kill")
}
