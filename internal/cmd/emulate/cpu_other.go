//go:build !unix

package main

import (
	"os"
	"time"
)

// cpuTime is not measured here: the harness runs on Linux.
func cpuTime() time.Duration { return 0 }

// childUsage is not measured here.
func childUsage(*os.ProcessState) (maxRSS, cpu int64) { return 0, 0 }

// selfMaxRSS is not measured here.
func selfMaxRSS() int64 { return 0 }
