package procstatus

import (
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestMemoryOfThisProcess reads this test's own figures: its peak RSS is at least what it holds now,
// which is at least the memory it just touched.
func TestMemoryOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's /proc")
	}
	b := make([]byte, 16<<20)
	for i := range b {
		if i%4096 == 0 {
			b[i] = 1
		}
	}
	self := Memory("self")
	byPid := Memory(strconv.Itoa(os.Getpid()))
	runtime.KeepAlive(b)
	if self["VmRSS"] < 16<<20 || self["VmHWM"] < self["VmRSS"] {
		t.Errorf("VmRSS %d, VmHWM %d: want VmHWM >= VmRSS >= 16 MiB", self["VmRSS"], self["VmHWM"])
	}
	if byPid["VmHWM"] < self["VmHWM"] {
		t.Errorf("by pid VmHWM %d, below what self said before (%d)", byPid["VmHWM"], self["VmHWM"])
	}
}

func TestMemoryOfNoProcess(t *testing.T) {
	if m := Memory("no-such-process"); len(m) != 0 {
		t.Errorf("got %v, want nothing", m)
	}
}
