package scimserver

import (
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Throttle makes the server behave like a SaaS target with a request quota: a token bucket of Rate
// requests per second (burst Burst, default Rate rounded up) in front of every request, answering 429
// with a Retry-After in whole seconds (rounded up, as delta-seconds must be) when the bucket is empty.
type Throttle struct {
	Rate  float64
	Burst int
}

// SlowDown makes the server slow down under load: every request is held for Base × (1 + ((n−1)/Knee)²),
// where n is the number of requests in flight when it arrived. Throughput (n / latency) then peaks near
// n = Knee + 1 and falls beyond, like an application whose database thrashes, so there is a best
// concurrency to find rather than a plateau.
type SlowDown struct {
	Base time.Duration
	Knee int
}

// loadModes is the server's state for Options.Throttle and Options.SlowDown.
type loadModes struct {
	bucket    *rate.Limiter
	inflight  atomic.Int64
	throttled atomic.Int64
	answered  atomic.Int64
}

func newLoadModes(o Options) *loadModes {
	m := &loadModes{}
	if o.Throttle != nil && o.Throttle.Rate > 0 {
		burst := o.Throttle.Burst
		if burst <= 0 {
			burst = int(math.Ceil(o.Throttle.Rate))
		}
		m.bucket = rate.NewLimiter(rate.Limit(o.Throttle.Rate), burst)
	}
	return m
}

// admit applies the load modes to one request. It returns false when it answered the request itself
// (429), and a func to call when the request is done.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (ok bool, done func()) {
	m := s.load
	m.answered.Add(1)
	if m.bucket != nil {
		now := time.Now()
		if !m.bucket.AllowN(now, 1) {
			m.throttled.Add(1)
			// The wait until one token is back, in whole seconds (at least 1).
			wait := time.Duration(float64(time.Second) / float64(m.bucket.Limit()))
			secs := max(1, int(math.Ceil(wait.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, errf(http.StatusTooManyRequests, "", "request quota exceeded"))
			return false, nil
		}
	}
	n := m.inflight.Add(1)
	done = func() { m.inflight.Add(-1) }
	if sd := s.opts.SlowDown; sd != nil && sd.Base > 0 {
		knee := float64(max(sd.Knee, 1))
		x := float64(n-1) / knee
		d := time.Duration(float64(sd.Base) * (1 + x*x))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	return true, done
}

// LoadCounts reports what the load modes saw: requests answered (429s included) and requests answered
// 429 by the Throttle.
func (s *Server) LoadCounts() (answered, throttled int64) {
	return s.load.answered.Load(), s.load.throttled.Load()
}
