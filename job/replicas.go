package job

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/postgres"
	"github.com/scimsync/scimsync/store/postgres/replicas"
)

// Replicas: several daemons sharing the jobs of one PostgreSQL database (docs/operations.md,
// "Replicas"). The daemon gets its coordinator from ReplicaCoordinator and calls Claim on every claim
// tick; from then on the cycles of the jobs it owns run under the coordinator's leases
// (openDatabaseState), and the jobs it does not own are refused with store.ErrLocked.

var (
	coordinatorsMu sync.Mutex
	coordinators   = map[string]*replicas.Coordinator{} // by database URL
)

// ReplicaCoordinator returns this process's coordinator for the database of cfg, creating it on first
// use with the lease ttl of SCIMSYNC_LEASE_TTL. Jobs whose state is a bbolt file have no replicas:
// the error says so.
func ReplicaCoordinator(cfg *config.Config) (*replicas.Coordinator, error) {
	if cfg.StateDatabase == nil {
		return nil, configError(fmt.Errorf("job %s: replicas need the state in PostgreSQL (state: postgres://…), not a file", cfg.Name))
	}
	db, err := Database(cfg)
	if err != nil {
		return nil, err
	}
	ttl, err := LeaseTTL()
	if err != nil {
		return nil, err
	}
	coordinatorsMu.Lock()
	defer coordinatorsMu.Unlock()
	if co := coordinators[cfg.StateDatabase.URL]; co != nil {
		return co, nil
	}
	co, err := replicas.New(db, replicas.Options{ID: HolderID(), TTL: ttl})
	if err != nil {
		return nil, err
	}
	coordinators[cfg.StateDatabase.URL] = co
	return co, nil
}

// StopCoordinators releases the leases of every coordinator of this process and removes their
// heartbeats, so the other replicas take the jobs at their next claim instead of after the ttl. The
// daemon calls it when it stops, after its cycles ended.
func StopCoordinators(ctx context.Context) error {
	coordinatorsMu.Lock()
	defer coordinatorsMu.Unlock()
	var errs []error
	for url, co := range coordinators {
		errs = append(errs, co.Stop(ctx))
		delete(coordinators, url)
	}
	return errors.Join(errs...)
}

// CoordinatorOf is the coordinator of cfg's database when the daemon made one, else nil (a single
// `run`, an admin command: they lease the job per use).
func CoordinatorOf(cfg *config.Config) *replicas.Coordinator {
	if cfg.StateDatabase == nil {
		return nil
	}
	coordinatorsMu.Lock()
	defer coordinatorsMu.Unlock()
	return coordinators[cfg.StateDatabase.URL]
}

// leaseGate holds a job's requests to its target to the lease its cycle runs under. The database
// refuses the state writes of a holder that lost its lease, but the target cannot tell one replica
// from another; so every request first asks the lease (postgres.Hold.Check), which fails from the
// moment the lease might be given to another replica — also in the instant a paused process resumes,
// before any of its timers fired.
type leaseGate struct {
	check atomic.Pointer[func() error]
}

var gates sync.Map // job name → *leaseGate

func gateOf(job string) *leaseGate {
	g, _ := gates.LoadOrStore(job, &leaseGate{})
	return g.(*leaseGate)
}

// set installs the lease check of the cycle starting, nil when it ended.
func (g *leaseGate) set(check func() error) {
	if check == nil {
		g.check.Store(nil)
		return
	}
	g.check.Store(&check)
}

// GatedTransport is next behind the gate of the named job: while a cycle of the job runs under a
// PostgreSQL lease, a request is sent only while the lease holds. NewTarget puts the target's
// transport behind it.
func GatedTransport(job string, next http.RoundTripper) http.RoundTripper {
	return gatedTransport{gate: gateOf(job), next: next}
}

// gatedTransport is the target's transport behind the job's gate.
type gatedTransport struct {
	gate *leaseGate
	next http.RoundTripper
}

func (t gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c := t.gate.check.Load(); c != nil {
		if err := (*c)(); err != nil {
			if r.Body != nil {
				_ = r.Body.Close()
			}
			return nil, fmt.Errorf("not sent: %w", err)
		}
	}
	return t.next.RoundTrip(r)
}

// registerReplicaMetrics adds the replica's series to a daemon's registry: an info series naming the
// replica (its id is the holder in the lease rows and in `status`) and, under a coordinator, how many
// jobs it owns. Every series carries the replica label, so the replicas' /metrics can be told apart
// however they are scraped.
func registerReplicaMetrics(reg prometheus.Registerer, cfg *config.Config) {
	if cfg.StateDatabase == nil {
		return
	}
	host, _ := os.Hostname()
	id := HolderID()
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimsync_replica_info",
		Help:        "The replica this process is: its id is the holder of the leases it takes.",
		ConstLabels: prometheus.Labels{"replica": id, "host": host}})
	info.Set(1)
	owned := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scimsync_replica_jobs_owned",
		Help:        "Jobs this replica owns, in every database (0 without a replica coordinator: leases are taken per cycle).",
		ConstLabels: prometheus.Labels{"replica": id}},
		func() float64 {
			coordinatorsMu.Lock()
			defer coordinatorsMu.Unlock()
			n := 0
			for _, co := range coordinators {
				n += len(co.Owned())
			}
			return float64(n)
		})
	for _, c := range []prometheus.Collector{info, owned} {
		_ = reg.Register(c) // an error means registered already: the series are the same
	}
}

// YieldWait is how long a command waits for a replica to give up the job it asked for: a claim
// interval plus the end of the cycle running (a variable so that tests can wait less). yieldPoll is how often it tries the lease meanwhile.
var (
	YieldWait = 2 * time.Minute
	yieldPoll = 200 * time.Millisecond
)

// openYielded is openDatabaseState for a command (restart, allow-deletes, a manual sync, …) when the
// job's lease is held. A replica keeps the lease between cycles, so giving up at once, as beside a
// single `run`, would lock the command out for good: it asks the replicas to yield the job, waits for
// the owner to release it at its next claim after its cycle, and withdraws the request when the state
// closes (or when it gives up), so the replicas take the job back. A holder that is no live replica
// (another command, a single `run` mid-cycle) is refused at once, as before.
func openYielded(db *postgres.DB, cfg *config.Config, ttl time.Duration, held *postgres.LeaseHeldError) (store.State, error) {
	ctx, cancel := context.WithTimeout(context.Background(), YieldWait)
	defer cancel()
	live, err := db.IsLiveReplica(ctx, held.Holder, ttl)
	if err != nil || !live {
		return nil, errors.Join(held, err)
	}
	me := HolderID()
	withdraw := func() {
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		_ = db.EndYield(wctx, cfg.Name, me) // not withdrawn: it expires with YieldWait anyway
	}
	if err := db.AskYield(ctx, cfg.Name, me, YieldWait); err != nil {
		return nil, err
	}
	t := time.NewTicker(yieldPoll)
	defer t.Stop()
	for {
		st, keeper, err := db.OpenLeased(ctx, cfg.Name, me, ttl)
		if err == nil {
			ls := newLeasedState(cfg.Name, st, keeper.Hold)
			ls.yielded = withdraw
			return ls, nil
		}
		if !errors.Is(err, postgres.ErrLeaseHeld) {
			withdraw()
			return nil, err
		}
		select {
		case <-ctx.Done():
			withdraw()
			return nil, fmt.Errorf("%w: asked for %s, the replica did not give the job up (a long cycle?); try again when it ends", err, YieldWait)
		case <-t.C:
		}
	}
}

// Jobs is what the Claimer asks the daemon: a job's configuration (nil while it is loading) and the
// registry its metrics go to (nil without a metrics listener). daemon.Host implements it.
type Jobs interface {
	JobConfig(name string) *config.Config
	Registry() *prometheus.Registry
}

// NewClaimer is the daemon's Claimer for the jobs of host.
func NewClaimer(host Jobs) *Claimer { return &Claimer{host: host} }

// Claimer is the daemon's Claimer: a job whose state is a file is this process's alone; the
// jobs whose state is in a database are shared with the other replicas pointed at it, through that
// database's coordinator (one per database, so each sees every job it coordinates on each claim).
type Claimer struct {
	host Jobs
	// registered is set once the replica's series are on the daemon's registry.
	registered bool
}

// Claim implements daemon.Claimer. A job the host has not finished loading (a reload in flight) is
// left out until the next claim, rather than run without asking its database.
func (c *Claimer) Claim(ctx context.Context, jobs []string) ([]string, error) {
	var mine []string
	shared := map[*replicas.Coordinator][]string{}
	var order []*replicas.Coordinator
	for _, name := range jobs {
		cfg := c.host.JobConfig(name)
		switch {
		case cfg == nil:
		case cfg.StateDatabase == nil:
			mine = append(mine, name)
		default:
			co, err := ReplicaCoordinator(cfg)
			if err != nil {
				return nil, fmt.Errorf("job %s: %w", name, err)
			}
			if _, seen := shared[co]; !seen {
				order = append(order, co)
			}
			shared[co] = append(shared[co], name)
			if reg := c.host.Registry(); reg != nil && !c.registered {
				registerReplicaMetrics(reg, cfg)
				c.registered = true
			}
		}
	}
	for _, co := range order {
		got, err := co.Claim(ctx, shared[co])
		if err != nil {
			return nil, err
		}
		mine = append(mine, got...)
	}
	return mine, nil
}
