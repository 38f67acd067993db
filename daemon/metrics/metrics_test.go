package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func scrape(m *Metrics) string {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestForget: a removed job's series go, and its Job (held by a cycle still ending) brings none back;
// a job added again under the same name exports afresh.
func TestForget(t *testing.T) {
	m := New(Build{})
	a, b := m.Job("a"), m.Job("b")
	a.Running(true)
	b.Running(true)
	m.Forget("b")
	b.Running(false)
	b.Next(time.Unix(1, 0))
	body := scrape(m)
	if strings.Contains(body, `job="b"`) {
		t.Fatalf("the removed job's series are back:\n%s", body)
	}
	if !strings.Contains(body, `scimsync_cycle_in_progress{job="a"} 1`) {
		t.Fatalf("the other job's series went too:\n%s", body)
	}
	m.Job("b").Running(true)
	if !strings.Contains(scrape(m), `scimsync_cycle_in_progress{job="b"} 1`) {
		t.Fatal("a job added again exports nothing")
	}
}
