// Package metrics holds the Prometheus series of the daemon: one registry for every job, each series
// labelled with its `job`, so one /metrics answers for all the jobs a daemon runs.
package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
)

// Label values exported at 0 before anything happened, so that rate() and absent() alerts work from
// the first scrape instead of after the first failure.
var (
	cycleResults  = []string{"success", "failures", "aborted"}
	objectActions = []string{"create", "match", "update", "disable", "delete", "unchanged", "skip", "fail", "staged",
		"group-create", "group-update", "group-delete", "member-add", "member-remove"}
)

// Build names the running build for scimsync_build_info.
type Build struct{ Version, Commit, GoVersion string }

// Metrics is the daemon's registry.
type Metrics struct {
	// Registry is what /metrics serves.
	Registry    *prometheus.Registry
	duration    *prometheus.HistogramVec
	objects     *prometheus.CounterVec
	cycles      *prometheus.CounterVec
	last        *prometheus.GaugeVec
	quarantined *prometheus.GaugeVec
	requests    *prometheus.CounterVec
	next        *prometheus.GaugeVec
	escrows     *prometheus.GaugeVec
	staged      *prometheus.GaugeVec
	linked      *prometheus.GaugeVec
	inProgress  *prometheus.GaugeVec

	mu sync.Mutex
	// targets are the SCIM clients of the jobs, read live by scimsync_target_concurrency_limit.
	targets map[string]*scimclient.Client
	// jobs are the series' owners; a Job no longer here (its job was removed) exports nothing more,
	// so a cancelled cycle ending after the removal cannot bring its series back.
	jobs map[string]*Job
}

// New registers every series, with the Go and process collectors and scimsync_build_info.
func New(b Build) *Metrics {
	job := []string{"job"}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append(job, labels...))
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scimsync_cycle_duration_seconds",
			Help: "Duration of provisioning cycles.", Buckets: prometheus.ExponentialBuckets(0.5, 2, 14)}, job),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimsync_objects_total",
			Help: "Objects processed, by action."}, []string{"job", "action"}),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimsync_cycles_total",
			Help: "Cycles run, by result."}, []string{"job", "result"}),
		last:        gauge("scimsync_last_success_timestamp_seconds", "Unix time of the last cycle that completed."),
		quarantined: gauge("scimsync_quarantined", "1 while the job is quarantined."),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimsync_scim_requests_total",
			Help: "SCIM requests sent to the target, by response status (0: no response)."}, []string{"job", "status"}),
		next:       gauge("scimsync_next_cycle_timestamp_seconds", "Unix time of the next scheduled cycle."),
		escrows:    gauge("scimsync_escrows", "Failed operations waiting for their retry (escrows), after the last cycle."),
		staged:     gauge("scimsync_staged_deletions", "Disables and deletes held by the deletion threshold until `scimsync allow-deletes`."),
		linked:     gauge("scimsync_linked_objects", "Source objects linked to a target object, by kind.", "kind"),
		inProgress: gauge("scimsync_cycle_in_progress", "1 while a cycle runs."),
		targets:    map[string]*scimclient.Client{},
		jobs:       map[string]*Job{},
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimsync_build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion}})
	info.Set(1)
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), info,
		m.duration, m.objects, m.cycles, m.last, m.quarantined, m.requests, m.next, m.escrows, m.staged, m.linked,
		m.inProgress, limitCollector{m})
	return m
}

// limitDesc is scimsync_target_concurrency_limit, read from each job's client at scrape time so the
// gauge moves during a cycle.
var limitDesc = prometheus.NewDesc("scimsync_target_concurrency_limit",
	"SCIM requests the adaptive limiter lets be in flight now; 0 when target.maxConcurrency is unset.", []string{"job"}, nil)

type limitCollector struct{ m *Metrics }

func (c limitCollector) Describe(ch chan<- *prometheus.Desc) { ch <- limitDesc }
func (c limitCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for job, t := range c.m.targets {
		v := 0.0
		if t != nil {
			v = float64(t.ConcurrencyLimit())
		}
		ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, v, job)
	}
}

// Job is the series of one job.
type Job struct {
	m    *Metrics
	name string
	// seen is the SCIM client's status counts already exported, so each cycle adds its difference;
	// client is the client they came from (a reload brings a new one, counting from zero).
	mu     sync.Mutex
	seen   map[int]int64
	client *scimclient.Client
}

// Job returns the series of the named job, its labelled counters initialised at 0.
func (m *Metrics) Job(name string) *Job {
	for _, r := range cycleResults {
		m.cycles.WithLabelValues(name, r)
	}
	for _, a := range objectActions {
		m.objects.WithLabelValues(name, a)
	}
	for _, k := range []string{"user", "group"} {
		m.linked.WithLabelValues(name, k)
	}
	for _, g := range []*prometheus.GaugeVec{m.last, m.quarantined, m.next, m.escrows, m.staged, m.inProgress} {
		g.WithLabelValues(name)
	}
	j := &Job{m: m, name: name, seen: map[int]int64{}}
	m.mu.Lock()
	if _, ok := m.targets[name]; !ok {
		m.targets[name] = nil
	}
	m.jobs[name] = j
	m.mu.Unlock()
	return j
}

// current reports whether j still owns its job's series.
func (j *Job) current() bool {
	j.m.mu.Lock()
	defer j.m.mu.Unlock()
	return j.m.jobs[j.name] == j
}

// Forget drops every series of a job removed from the daemon.
func (m *Metrics) Forget(name string) {
	l := prometheus.Labels{"job": name}
	m.duration.DeletePartialMatch(l)
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.objects, m.cycles, m.requests,
		m.last, m.quarantined, m.next, m.escrows, m.staged, m.linked, m.inProgress} {
		v.DeletePartialMatch(l)
	}
	m.mu.Lock()
	delete(m.targets, name)
	delete(m.jobs, name)
	m.mu.Unlock()
}

// WatchTarget points scimsync_target_concurrency_limit at the client a cycle is about to use.
func (j *Job) WatchTarget(c *scimclient.Client) {
	if !j.current() {
		return
	}
	j.m.mu.Lock()
	j.m.targets[j.name] = c
	j.m.mu.Unlock()
}

// Running sets scimsync_cycle_in_progress.
func (j *Job) Running(on bool) {
	if !j.current() {
		return
	}
	j.m.inProgress.WithLabelValues(j.name).Set(map[bool]float64{true: 1, false: 0}[on])
}

// Next exports the scheduler's next tick.
func (j *Job) Next(t time.Time) {
	if !j.current() {
		return
	}
	v := 0.0
	if !t.IsZero() {
		v = float64(t.Unix())
	}
	j.m.next.WithLabelValues(j.name).Set(v)
}

// Requests exports the SCIM client's request counts by status since the last call.
func (j *Job) Requests(c *scimclient.Client) {
	if !j.current() {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if c != j.client {
		j.client, j.seen = c, map[int]int64{}
	}
	for status, n := range c.Stats().ByStatus {
		if d := n - j.seen[status]; d > 0 {
			j.m.requests.WithLabelValues(j.name, strconv.Itoa(status)).Add(float64(d))
		}
		j.seen[status] = n
	}
}

// Cycle counts a cycle that ran.
func (j *Job) Cycle(res *engine.Result, err error, took time.Duration) {
	if !j.current() {
		return
	}
	m, name := j.m, j.name
	m.duration.WithLabelValues(name).Observe(took.Seconds())
	m.quarantined.WithLabelValues(name).Set(map[bool]float64{true: 1, false: 0}[res.Quarantine != nil])
	r := res.Report
	switch {
	case err != nil || r == nil:
		m.cycles.WithLabelValues(name, "aborted").Inc()
		return
	case r.TotalFailed() > 0:
		m.cycles.WithLabelValues(name, "failures").Inc()
	default:
		m.cycles.WithLabelValues(name, "success").Inc()
	}
	m.last.WithLabelValues(name).SetToCurrentTime()
	for action, n := range map[string]int{"create": r.Created, "match": r.Adopted, "update": r.Updated, "disable": r.Disabled,
		"delete": r.Deleted, "unchanged": r.Unchanged, "skip": r.Skipped, "fail": r.TotalFailed(), "staged": r.Staged,
		"group-create": r.Groups.Created, "group-update": r.Groups.Updated, "group-delete": r.Groups.Deleted,
		"member-add": r.MembersAdded, "member-remove": r.MembersRemoved} {
		m.objects.WithLabelValues(name, action).Add(float64(n))
	}
}

// State reads the state gauges from the job's state, between cycles; lastSuccess (zero when unknown)
// sets the last success at start, so that a restarted daemon does not report 0 (1970) until its
// first cycle ends.
func (j *Job) State(st store.State, lastSuccess time.Time) {
	if !j.current() {
		return
	}
	m, name := j.m, j.name
	if es, err := st.Escrows(); err == nil {
		m.escrows.WithLabelValues(name).Set(float64(len(es)))
	}
	if ops, err := st.StagedOps(); err == nil {
		m.staged.WithLabelValues(name).Set(float64(len(ops)))
	}
	for kind, label := range map[store.Kind]string{store.KindUser: "user", store.KindGroup: "group"} {
		if n, err := st.CountLinks(kind); err == nil {
			m.linked.WithLabelValues(name, label).Set(float64(n))
		}
	}
	if q, err := st.Quarantine(); err == nil {
		m.quarantined.WithLabelValues(name).Set(map[bool]float64{true: 1, false: 0}[q != nil])
	}
	if !lastSuccess.IsZero() {
		m.last.WithLabelValues(name).Set(float64(lastSuccess.Unix()))
	}
}

// LastSuccess is the end of the last cycle in the history that ran without error or quarantine.
func LastSuccess(st store.State) time.Time {
	cycles, err := st.Cycles(100)
	if err != nil {
		return time.Time{}
	}
	var last time.Time
	for _, c := range cycles {
		if c.Error == "" && !c.Quarantined && c.Finished.After(last) {
			last = c.Finished
		}
	}
	return last
}
