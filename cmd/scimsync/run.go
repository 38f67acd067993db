package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
)

// newRunCmd is the daemon systemd runs: a first cycle at start, then one per schedule tick.
func newRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run as a daemon: a cycle at start, then on the schedule (default every 40 minutes)",
		Long: `Run as a daemon. The first cycle starts at once, later ones follow the configured cron
schedule (default "@every 40m"); a tick that comes while a cycle still runs is skipped. SIGTERM or
SIGINT cancels the cycle in flight (what was already sent is recorded, the watermark is not
advanced) and exits. SIGHUP reloads the configuration: the job (source, target, mappings,
notify), the schedule, the logging level and format and the metrics listener; a change of the
state file needs a restart and is refused, naming the key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadConfigAndLogger(cmd)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck // nothing useful to do when stderr is gone
			d := &daemon{path: configPath(cmd), log: log, metrics: newMetrics(),
				newLog: func(c *config.Config) (*zap.Logger, error) {
					return newLogger(logFlags(cmd, c.Logging.Level, c.Logging.Format))
				}}
			return d.run(cmd.Context(), cfg)
		},
	}
}

// daemon owns the schedule, the signals and the current job.
type daemon struct {
	path    string
	metrics *metrics
	// newLog builds the logger a configuration asks for (--log-level and --log-format still win).
	newLog func(*config.Config) (*zap.Logger, error)

	// mu guards what a reload replaces: the job, the logger and the schedule entry.
	mu  sync.Mutex
	job *job
	log *zap.Logger
	// tick is the scheduler's job (it queues a cycle); a reload schedules it anew.
	tick cron.Job
	// metricsAddr is where the metrics listener listens ("" when off); stopMetrics closes it.
	metricsAddr string
	stopMetrics func()

	// live is what /status and `scimsync status` show; cron and entry give the next cycle's time.
	live  *liveStatus
	cron  *cron.Cron
	entry cron.EntryID
	// cycled, when set (tests), is told after each cycle once the status is up to date.
	cycled chan<- struct{}
	// servers counts the HTTP servers still shutting down.
	servers sync.WaitGroup
	// nextCycle is the scheduler's next tick, for the idle STATUS= line.
	nextCycle func() time.Time
}

func (d *daemon) run(parent context.Context, cfg *config.Config) error {
	ctx, cancel := context.WithCancel(parent)
	defer func() {
		cancel()
		d.servers.Wait() // the listeners are closed when run returns: a new daemon can bind them
	}()
	d.live = newLiveStatus(cfg)
	j, err := openJob(cfg, d.log, d.live)
	if err != nil {
		return err
	}
	d.job = j
	d.live.refresh(time.Now())
	d.live.serveStatusSocket(ctx, statusSocket(cfg), d.log, &d.servers)
	if cfg.Metrics != nil {
		stop, err := d.serveMetrics(ctx, cfg.Metrics.Listen, d.log)
		if err != nil {
			return withCode(exitConfig, err)
		}
		d.metricsAddr, d.stopMetrics = cfg.Metrics.Listen, stop
	}

	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		return withCode(exitConfig, fmt.Errorf("schedule %q: %w", cfg.Schedule, err))
	}
	cycles := make(chan struct{}, 1)
	c := cron.New(cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	d.cron = c
	d.tick = cron.FuncJob(func() {
		select {
		case cycles <- struct{}{}:
		default: // a cycle is still pending or running: skip this tick
		}
	})
	d.entry = c.Schedule(sched, d.tick)
	c.Start()
	defer c.Stop()
	d.nextCycle = func() time.Time {
		d.mu.Lock()
		id := d.entry
		d.mu.Unlock()
		return c.Entry(id).Next
	}
	d.live.setNext(d.nextCycle())
	d.metrics.registerNextCycle(d.nextCycle)
	d.metrics.observeState(cfg, true)
	registerReplicaMetrics(d.metrics.reg, cfg)
	watchdog, stopWatchdog := watchdogTicker()
	defer stopWatchdog()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	done := make(chan struct{})
	go func() {
		defer close(done)
		d.loop(ctx, cycles)
	}()
	notifySystemd("READY=1")
	d.log.Info("scimsync started", zap.String("job", cfg.Name), zap.String("schedule", cfg.Schedule), zap.String("state", cfg.StatePath))
	cycles <- struct{}{} // the first cycle runs at start
	for {
		select {
		case <-watchdog:
			notifySystemd("WATCHDOG=1")
		case s := <-sigs:
			if s == syscall.SIGHUP {
				d.reload(ctx)
				continue
			}
			log := d.logger()
			log.Info("stopping", zap.String("signal", s.String()))
			notifySystemd("STOPPING=1")
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				log.Warn("the cycle did not stop within 30s; exiting anyway")
			}
			return nil
		case <-done:
			return nil
		}
	}
}

// loop runs cycles one at a time as ticks arrive.
func (d *daemon) loop(ctx context.Context, cycles <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-cycles:
			d.mu.Lock()
			j := d.job
			d.mu.Unlock()
			start := time.Now()
			d.live.begin()
			systemdStatus("cycle running")
			d.metrics.cycleRunning(true)
			d.metrics.watchTarget(j.target)
			res, err := j.run(ctx, engine.RunOptions{})
			d.metrics.cycleRunning(false)
			d.metrics.observeState(j.cfg, false)
			d.live.end(res, err)
			d.afterCycle(ctx)
			systemdStatus(idleStatus(d.nextCycle()))
			switch {
			case errors.Is(err, store.ErrLocked):
				d.logger().Warn("the state file is in use (a manual sync?); skipping this tick", zap.Error(err))
				continue
			case errors.Is(err, context.Canceled) && ctx.Err() != nil:
				return
			}
			if res != nil && res.Ran {
				d.metrics.observe(res, err, time.Since(start))
			}
			d.metrics.observeRequests(j.target)
		}
	}
}

// logger is the daemon's current logger (a reload may replace it).
func (d *daemon) logger() *zap.Logger {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log
}

// reload re-reads the configuration and applies all of it, or none of it: a file that is invalid, a
// change that needs a restart (the state file: the daemon holds its lock and status socket), or a
// part that cannot be set up (a metrics address already in use) keeps the running configuration and
// says which key is the reason. The cycle in flight finishes with the old job; the next uses the new.
func (d *daemon) reload(ctx context.Context) {
	log := d.logger()
	cfg, err := loadConfig(d.path)
	if err != nil {
		log.Error("reload: the configuration is invalid; keeping the running one", zap.Error(err))
		return
	}
	d.mu.Lock()
	old := d.job.cfg
	d.mu.Unlock()
	if cfg.StatePath != old.StatePath {
		log.Error("reload: this key needs a restart; keeping the running configuration (systemctl restart)",
			zap.String("key", "state"), zap.String("running", old.StatePath), zap.String("file", cfg.StatePath))
		return
	}
	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		log.Error("reload: keeping the running configuration", zap.String("key", "schedule"), zap.Error(err))
		return
	}
	newLog, err := d.newLog(cfg)
	if err != nil {
		log.Error("reload: keeping the running configuration", zap.String("key", "logging"), zap.Error(err))
		return
	}
	j, err := openJob(cfg, newLog, d.live)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", zap.Error(err))
		return
	}
	addr := ""
	if cfg.Metrics != nil {
		addr = cfg.Metrics.Listen
	}
	var stopNew func()
	if addr != d.metricsAddr && addr != "" {
		if stopNew, err = d.serveMetrics(ctx, addr, newLog); err != nil {
			log.Error("reload: keeping the running configuration", zap.String("key", "metrics.listen"), zap.Error(err))
			return
		}
	}
	changed := changedKeys(old, cfg)
	d.mu.Lock()
	d.job, d.log = j, newLog
	if cfg.Schedule != old.Schedule {
		d.cron.Remove(d.entry)
		d.entry = d.cron.Schedule(sched, d.tick)
	}
	stopOld := func() {}
	if addr != d.metricsAddr {
		if d.stopMetrics != nil {
			stopOld = d.stopMetrics
		}
		d.metricsAddr, d.stopMetrics = addr, stopNew
	}
	d.mu.Unlock()
	stopOld()
	d.live.setConfig(cfg)
	d.live.setNext(d.nextCycle())
	if newLog != log {
		_ = log.Sync()
	}
	newLog.Info("configuration reloaded", zap.Strings("changed", changed))
}

// changedKeys names the top-level configuration keys (metrics.listen for the listener) that differ,
// for the reload's log line.
func changedKeys(a, b *config.Config) []string {
	var out []string
	add := func(key string, differ bool) {
		if differ {
			out = append(out, key)
		}
	}
	listen := func(c *config.Config) string {
		if c.Metrics == nil {
			return ""
		}
		return c.Metrics.Listen
	}
	add("schedule", a.Schedule != b.Schedule)
	add("logging", a.Logging != b.Logging)
	add("metrics.listen", listen(a) != listen(b))
	add("notify", !reflect.DeepEqual(a.Notify, b.Notify))
	add("source", !reflect.DeepEqual(a.Source, b.Source))
	add("target", !reflect.DeepEqual(a.Target, b.Target))
	return out
}

// metrics are the Prometheus series the daemon exports.
type metrics struct {
	reg         *prometheus.Registry
	duration    prometheus.Histogram
	objects     *prometheus.CounterVec
	cycles      *prometheus.CounterVec
	last        prometheus.Gauge
	quarantined prometheus.Gauge
	requests    *prometheus.CounterVec
	// seen is the SCIM client's status counts already exported, so each cycle adds its difference;
	// client is the client they came from (a reload brings a new one, counting from zero).
	seen   map[int]int64
	client *scimclient.Client
	ops    *opsMetrics
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scimsync_cycle_duration_seconds",
			Help: "Duration of provisioning cycles.", Buckets: prometheus.ExponentialBuckets(0.5, 2, 14)}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimsync_objects_total",
			Help: "Objects processed, by action."}, []string{"action"}),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimsync_cycles_total",
			Help: "Cycles run, by result."}, []string{"result"}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimsync_last_success_timestamp_seconds",
			Help: "Unix time of the last cycle that completed."}),
		quarantined: prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimsync_quarantined",
			Help: "1 while the job is quarantined."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimsync_scim_requests_total",
			Help: "SCIM requests sent to the target, by response status (0: no response)."}, []string{"status"}),
		seen: map[int]int64{},
	}
	m.reg.MustRegister(m.duration, m.objects, m.cycles, m.last, m.quarantined, m.requests)
	m.registerOps()
	return m
}

// observeRequests exports the SCIM client's request counts by status since the last call.
func (m *metrics) observeRequests(c *scimclient.Client) {
	if c != m.client {
		m.client, m.seen = c, map[int]int64{}
	}
	for status, n := range c.Stats().ByStatus {
		if d := n - m.seen[status]; d > 0 {
			m.requests.WithLabelValues(strconv.Itoa(status)).Add(float64(d))
		}
		m.seen[status] = n
	}
}

func (m *metrics) observe(res *engine.Result, err error, took time.Duration) {
	m.duration.Observe(took.Seconds())
	if res.Quarantine != nil {
		m.quarantined.Set(1)
	} else {
		m.quarantined.Set(0)
	}
	r := res.Report
	switch {
	case err != nil || r == nil:
		m.cycles.WithLabelValues("aborted").Inc()
		return
	case r.TotalFailed() > 0:
		m.cycles.WithLabelValues("failures").Inc()
	default:
		m.cycles.WithLabelValues("success").Inc()
	}
	m.last.SetToCurrentTime()
	for action, n := range map[string]int{"create": r.Created, "match": r.Adopted, "update": r.Updated, "disable": r.Disabled,
		"delete": r.Deleted, "unchanged": r.Unchanged, "skip": r.Skipped, "fail": r.TotalFailed(), "staged": r.Staged,
		"group-create": r.Groups.Created, "group-update": r.Groups.Updated, "group-delete": r.Groups.Deleted,
		"member-add": r.MembersAdded, "member-remove": r.MembersRemoved} {
		m.objects.WithLabelValues(action).Add(float64(n))
	}
}

// serveMetrics exposes /metrics and /healthz on addr until ctx ends or stop is called.
func (d *daemon) serveMetrics(ctx context.Context, addr string, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	ctx, stop = context.WithCancel(ctx)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	// /status and /status.json answer from memory, so they work while a cycle holds the state file.
	d.live.statusRoutes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	d.servers.Add(1)
	go func() {
		defer d.servers.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", zap.String("addr", ln.Addr().String()))
	return stop, nil
}

// afterCycle brings the status up to date after a cycle: what the state file now holds and when the
// next cycle runs.
func (d *daemon) afterCycle(ctx context.Context) {
	d.live.refresh(time.Now())
	d.live.setNext(d.nextCycle())
	if d.cycled != nil {
		select {
		case d.cycled <- struct{}{}:
		case <-ctx.Done():
		}
	}
}
