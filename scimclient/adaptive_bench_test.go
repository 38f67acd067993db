package scimclient_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
)

// benchSeconds is how long each adaptive-concurrency run lasts: SCIMSYNC_AIMD_SECONDS, else def.
func benchSeconds(def int) time.Duration {
	if v, err := strconv.Atoi(os.Getenv("SCIMSYNC_AIMD_SECONDS")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return time.Duration(def) * time.Second
}

// createFor runs workers goroutines creating users through c until d has passed, and returns how many
// creates succeeded and the elapsed time.
func createFor(b *testing.B, c *scimclient.Client, workers int, d time.Duration) (int64, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var ok, seq atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := c.CreateUser(ctx, gongUser(fmt.Sprintf("aimd%d@contoso.com", seq.Add(1))))
				switch {
				case err == nil:
					ok.Add(1)
				case ctx.Err() != nil:
				case errors.Is(err, scimclient.ErrThrottled):
				default:
					b.Errorf("create: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	return ok.Load(), time.Since(start)
}

// BenchmarkAdaptiveThrottled runs against a target that allows 20 requests/s (429 with Retry-After
// beyond) and prints the share of the allowance used and the share of requests answered 429, for the
// adaptive client and for the fixed concurrency 4 with no pace. Goals (issue "Scale", part 5): ≥ 95 %
// used, ≤ 1 % answered 429. Figures only; nothing is asserted.
func BenchmarkAdaptiveThrottled(b *testing.B) {
	const allow = 20.0
	d := benchSeconds(40)
	for _, tc := range []struct {
		name string
		max  int
	}{{"adaptive", 16}, {"fixed-4", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				srv, c := setup(b, scimserver.Options{Throttle: &scimserver.Throttle{Rate: allow}},
					scimclient.Options{Concurrency: 4, MaxConcurrency: tc.max, RetryInitialInterval: 50 * time.Millisecond, Logger: zaptest.NewLogger(b, zaptest.Level(zap.WarnLevel))})
				workers := max(tc.max, 4)
				ok, el := createFor(b, c, workers, d)
				answered, throttled := srv.LoadCounts()
				used := 100 * float64(ok) / (allow*el.Seconds() + allow)
				share := 100 * float64(throttled) / float64(max(answered, 1))
				b.ReportMetric(used, "%allowance")
				b.ReportMetric(share, "%429")
				b.ReportMetric(float64(c.ConcurrencyLimit()), "limit")
				b.Logf("%s: %d creates in %.1fs = %.1f/s of %.0f allowed (%.1f %% of the allowance incl. the burst); %d of %d requests answered 429 (%.2f %%)",
					tc.name, ok, el.Seconds(), float64(ok)/el.Seconds(), allow, used, throttled, answered, share)
			}
		})
	}
}

// BenchmarkAdaptiveSlowDown runs against a target whose latency grows with the load (scimserver.SlowDown,
// best near 9 in flight): first every fixed concurrency from 1 to 16, "by hand", then the adaptive
// client starting at 4 with a maximum of 32, and prints its throughput as a share of the best fixed
// one. Goal: within 10 %. Figures only.
func BenchmarkAdaptiveSlowDown(b *testing.B) {
	slow := &scimserver.SlowDown{Base: 20 * time.Millisecond, Knee: 8}
	fixedFor := benchSeconds(3)
	adaptiveFor := 5 * fixedFor
	for range b.N {
		best, bestN := 0.0, 0
		var fixed []string // one summary line: go test keeps only the first lines a benchmark logs
		for n := 1; n <= 16; n++ {
			_, c := setup(b, scimserver.Options{SlowDown: slow}, scimclient.Options{Concurrency: n})
			ok, el := createFor(b, c, n, fixedFor)
			r := float64(ok) / el.Seconds()
			fixed = append(fixed, fmt.Sprintf("%d: %.0f", n, r))
			if r > best {
				best, bestN = r, n
			}
		}
		_, c := setup(b, scimserver.Options{SlowDown: slow}, scimclient.Options{Concurrency: 4, MaxConcurrency: 32})
		ok, el := createFor(b, c, 32, adaptiveFor)
		r := float64(ok) / el.Seconds()
		b.ReportMetric(best, "best-fixed/s")
		b.ReportMetric(r, "adaptive/s")
		b.ReportMetric(100*r/best, "%of-best")
		b.ReportMetric(float64(c.ConcurrencyLimit()), "limit")
		b.Logf("fixed concurrency → creates/s: %s", strings.Join(fixed, ", "))
		b.Logf("best fixed concurrency %d: %.0f creates/s; adaptive (start 4, max 32): %.0f creates/s over %.0fs = %.1f %% of the best, final limit %d",
			bestN, best, r, el.Seconds(), 100*r/best, c.ConcurrencyLimit())
	}
}
