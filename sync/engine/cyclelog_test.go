package engine

import (
	"testing"
	"time"

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

// TestQuarantineLinesNameTheCycle: the lines written after the cycle proper, judging it (job
// quarantined) and emailing about it (the notifier's and the mailer's, through the context), carry
// the cycle id too.
func TestQuarantineLinesNameTheCycle(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	lg := zap.New(core)
	sink := startSink(t)
	h, _, bad := quarantinedByToken(t, func(h *harness, o *Options) {
		o.Alerter, o.Logger = newAlerter(t, sink.port, h.clock, lg), lg
	})
	logs.TakeAll() // the setup's cycles
	h.set(t0.Add(7 * time.Hour))
	res, _ := h.run(bad, false)
	if res.Report == nil {
		t.Fatal("the retry after 6 h did not run")
	}
	want := map[string]bool{"job quarantined": false, "failure email already sent": false}
	for _, l := range logs.All() {
		if got := l.ContextMap()["cycle"]; got != res.Report.CycleID {
			t.Errorf("%q: cycle = %v, want %s", l.Message, got, res.Report.CycleID)
		}
		if _, ok := want[l.Message]; ok {
			want[l.Message] = true
		}
	}
	for msg, seen := range want {
		if !seen {
			t.Errorf("no %q line; the test checks less than it says", msg)
		}
	}
}
