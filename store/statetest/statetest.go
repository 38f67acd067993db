// Package statetest is the behaviour every store.State backend must have, run against each of them
// (bbolt in package store, PostgreSQL in store/postgres), so that a job behaves the same whichever
// backend keeps its state.
package statetest

import (
	"testing"
	"time"

	"github.com/scimsync/scimsync/store"
)

// Backend opens states of one kind for the suite.
type Backend interface {
	// Open returns a fresh, empty state, closed when the test ends.
	Open(t testing.TB) store.State
	// Reopen closes st (when still open) and opens the same state again.
	Reopen(t testing.TB, st store.State, readOnly bool) store.State
	// Raw returns the bytes the backend stored for st, to check that a secret is not among them.
	Raw(t testing.TB, st store.State) []byte
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// pruneChunk is the bbolt store's pruning chunk (store/log.go); the chunk test writes past two of them
// whatever the backend's own chunk is.
const pruneChunk = 10000

// Run runs the whole suite on b.
func Run(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"LinksCRUD", testLinksCRUD},
		{"LinkErrorContext", testLinkErrorContext},
		{"PackedLinkRefused", testPackedLinkRefused},
		{"BatcherConcurrentPut", testBatcherConcurrentPut},
		{"BatcherSizeTrigger", testBatcherSizeTrigger},
		{"BatcherDelayFlush", testBatcherDelayFlush},
		{"BatcherOrderAndDelete", testBatcherOrderAndDelete},
		{"BatcherErrors", testBatcherErrors},
		{"BatcherCommitFailureRequeues", testBatcherCommitFailureRequeues},
		{"Cycles", testCycles},
		{"CyclesKeepLast500", testCyclesKeepLast500},
		{"Escrows", testEscrows},
		{"Quarantine", testQuarantine},
		{"StagedOps", testStagedOps},
		{"RestartKeepsLinks", testRestartKeepsLinks},
		{"QueryLog", testQueryLog},
		{"AppendLogDefaultsAndIdempotence", testAppendLogDefaultsAndIdempotence},
		{"PruneLog", testPruneLog},
		{"PruneLogChunks", testPruneLogChunks},
		{"Sets", testSets},
		{"TargetDialect", testTargetDialect},
		{"GrantRoundTrip", testGrantRoundTrip},
		{"GrantWrongKey", testGrantWrongKey},
		{"GrantSurvivesRestart", testGrantSurvivesRestart},
		{"MetaWatermarkFingerprint", testMetaWatermarkFingerprint},
		{"AbortStreakRoundTripAndRestart", testAbortStreakRoundTripAndRestart},
		{"SnapshotRoundTrip", testSnapshotRoundTrip},
		{"ReadOnly", testReadOnly},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}
