package engine

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestEveryCycleLogLineNamesTheCycle: each line the engine logs during a cycle, at any level and from
// any step, carries the cycle id of the report, so a cycle's lines can be picked out of the journal.
func TestEveryCycleLogLineNamesTheCycle(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	lg := zap.New(core)
	h, _ := assignedHarness(t, 5, nil)
	e := h.engine(goodToken, func(o *Options) { o.Logger = lg })
	res, err := h.run(e, false)
	if err != nil || res.Report == nil {
		t.Fatalf("cycle: %v", err)
	}
	if logs.Len() == 0 {
		t.Fatal("the cycle logged nothing; the test checks nothing")
	}
	for _, l := range logs.All() {
		if got := l.ContextMap()["cycle"]; got != res.Report.CycleID {
			t.Errorf("%q: cycle = %v, want %s", l.Message, got, res.Report.CycleID)
		}
	}
}
