//go:build unix

package main

import (
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/scimsync/scimsync/internal/procstatus"
)

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childUsage is an exited child's peak RSS in bytes and its CPU time, from the kernel's accounting.
func childUsage(ps *os.ProcessState) (maxRSS, cpu int64) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0
	}
	return rssBytes(int64(ru.Maxrss)), ru.Utime.Nano() + ru.Stime.Nano()
}

// selfMaxRSS is the peak RSS of this process's memory so far, in bytes: VmHWM on Linux, which
// counts this memory alone, where getrusage's maxrss would also carry the peak of the process that
// started this one (the harness, see runExec). 0 where it cannot be read.
func selfMaxRSS() int64 { return int64(procstatus.Memory("self")["VmHWM"]) }

// rssBytes converts ru_maxrss, which Linux and the BSDs count in KiB and macOS in bytes.
func rssBytes(maxrss int64) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return maxrss
	}
	return maxrss * 1024
}
