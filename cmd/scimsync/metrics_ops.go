package main

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
)

// opsMetrics are the series an operator alerts on besides the cycle counters: what the state holds
// (escrows, staged deletions, links), whether a cycle runs, when the next one starts, and the build.
type opsMetrics struct {
	escrows    prometheus.Gauge
	staged     prometheus.Gauge
	linked     *prometheus.GaugeVec
	inProgress prometheus.Gauge
	// target is the SCIM client of the running job, read by scimsync_target_concurrency_limit.
	target atomic.Pointer[scimclient.Client]
}

// Label values exported at 0 before anything happened, so that rate() and absent() alerts work from
// the first scrape instead of after the first failure.
var (
	cycleResults  = []string{"success", "failures", "aborted"}
	objectActions = []string{"create", "match", "update", "disable", "delete", "unchanged", "skip", "fail", "staged",
		"group-create", "group-update", "group-delete", "member-add", "member-remove"}
)

// registerOps adds the Go and process collectors, scimsync_build_info and the state gauges to m, and
// initialises the labelled counters at 0.
func (m *metrics) registerOps() {
	b := currentBuild()
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimsync_build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion}})
	info.Set(1)
	m.ops = &opsMetrics{
		escrows: prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimsync_escrows",
			Help: "Failed operations waiting for their retry (escrows), after the last cycle."}),
		staged: prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimsync_staged_deletions",
			Help: "Disables and deletes held by the deletion threshold until `scimsync allow-deletes`."}),
		linked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimsync_linked_objects",
			Help: "Source objects linked to a target object, by kind."}, []string{"kind"}),
		inProgress: prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimsync_cycle_in_progress",
			Help: "1 while a cycle runs."}),
	}
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scimsync_target_concurrency_limit",
		Help: "SCIM requests the adaptive limiter lets be in flight now; 0 when target.maxConcurrency is unset."},
		func() float64 {
			if c := m.ops.target.Load(); c != nil {
				return float64(c.ConcurrencyLimit())
			}
			return 0
		})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), info,
		m.ops.escrows, m.ops.staged, m.ops.linked, m.ops.inProgress, limit)
	for _, r := range cycleResults {
		m.cycles.WithLabelValues(r)
	}
	for _, a := range objectActions {
		m.objects.WithLabelValues(a)
	}
	m.ops.linked.WithLabelValues("user")
	m.ops.linked.WithLabelValues("group")
}

// registerNextCycle exports the scheduler's next tick.
func (m *metrics) registerNextCycle(next func() time.Time) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scimsync_next_cycle_timestamp_seconds",
		Help: "Unix time of the next scheduled cycle."}, func() float64 {
		if t := next(); !t.IsZero() {
			return float64(t.Unix())
		}
		return 0
	}))
}

// watchTarget points scimsync_target_concurrency_limit at the client a cycle is about to use; it is
// read live, so the gauge moves during the cycle.
func (m *metrics) watchTarget(c *scimclient.Client) { m.ops.target.Store(c) }

// cycleRunning sets scimsync_cycle_in_progress.
func (m *metrics) cycleRunning(on bool) {
	if on {
		m.ops.inProgress.Set(1)
	} else {
		m.ops.inProgress.Set(0)
	}
}

// observeState reads the state gauges from the state file, between cycles; at start it also sets the
// last success from the cycle history, so that a restarted daemon does not report 0 (1970) until its
// first cycle ends. A state file that cannot be opened leaves the gauges as they were.
func (m *metrics) observeState(cfg *config.Config, atStart bool) {
	st, err := openState(cfg, true)
	if err != nil {
		return
	}
	defer st.Close()
	if es, err := st.Escrows(); err == nil {
		m.ops.escrows.Set(float64(len(es)))
	}
	if ops, err := st.StagedOps(); err == nil {
		m.ops.staged.Set(float64(len(ops)))
	}
	for kind, label := range map[store.Kind]string{store.KindUser: "user", store.KindGroup: "group"} {
		if n, err := st.CountAnchors(kind); err == nil {
			m.ops.linked.WithLabelValues(label).Set(float64(n))
		}
	}
	if q, err := st.Quarantine(); err == nil {
		m.quarantined.Set(map[bool]float64{true: 1, false: 0}[q != nil])
	}
	if atStart {
		if t := lastSuccessIn(st); !t.IsZero() {
			m.last.Set(float64(t.Unix()))
		}
	}
}
