package main

import (
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"

	"github.com/scimsync/scimsync/daemon/metrics"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
)

// TestMetricsOps: the state gauges come from the state file (three links, one escrow, two staged
// deletions, quarantined, as failedJob leaves it), labelled series exist at 0 before any cycle, and
// the build and runtime collectors are there.
func TestMetricsOps(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, adminT0.Add(2*time.Hour)) })
	cfg, err := loadConfigOffline(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Build{Version: "v1", Commit: "abc", GoVersion: "go1.26"})
	j := m.Job("admin")
	j.Next(time.Date(2026, 3, 2, 14, 40, 0, 0, time.UTC))
	st, err := openState(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	j.State(st, metrics.LastSuccess(st))
	st.Close()
	j.Running(true)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`scimsync_linked_objects{job="admin",kind="user"} 3`, `scimsync_linked_objects{job="admin",kind="group"} 0`,
		`scimsync_escrows{job="admin"} 1`, `scimsync_staged_deletions{job="admin"} 2`, `scimsync_quarantined{job="admin"} 1`,
		`scimsync_cycle_in_progress{job="admin"} 1`, `scimsync_next_cycle_timestamp_seconds{job="admin"} 1.7724624e+09`,
		`scimsync_cycles_total{job="admin",result="aborted"} 0`, `scimsync_objects_total{action="member-remove",job="admin"} 0`,
		"scimsync_build_info{commit=", "go_goroutines ", "process_open_fds ", `scimsync_target_concurrency_limit{job="admin"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(body), `scimsync_last_success_timestamp_seconds{job="admin"} 0`+"\n") {
		t.Error("the last success was not read from the state's cycle history")
	}
}

// TestPrometheusRulesNameRealSeries: every scimsync_ series the example rules use is one the daemon
// exports, so a renamed metric cannot leave a rule that never fires.
func TestPrometheusRulesNameRealSeries(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Build{})
	m.Job("any")
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range fams {
		known[f.GetName()] = true
	}
	n := 0
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			n++
			for _, name := range regexp.MustCompile(`scimsync_[a-z_]+`).FindAllString(r.Expr, -1) {
				if !known[name] {
					t.Errorf("rule %s uses %s, which the daemon does not export", r.Alert, name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules parsed")
	}
}

// TestMetricsConcurrencyLimit: the gauge reads the running job's client live.
func TestMetricsConcurrencyLimit(t *testing.T) {
	c, err := scimclient.New(scimclient.Options{BaseURL: "http://127.0.0.1:9/scim", Concurrency: 3, MaxConcurrency: 12})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Build{})
	m.Job("a").WatchTarget(c)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if body := rec.Body.String(); !strings.Contains(body, `scimsync_target_concurrency_limit{job="a"} 3`+"\n") {
		t.Errorf("/metrics lacks scimsync_target_concurrency_limit{job=\"a\"} 3:\n%s", body)
	}
}
