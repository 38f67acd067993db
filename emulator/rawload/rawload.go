// Package rawload is the yardstick of the scale benchmarks: SCIM creates sent with plain net/http and no
// client logic at all, so the rate a target takes can be printed beside the rate scimsync reaches.
package rawload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Result is what a load run measured.
type Result struct {
	N         int
	Elapsed   time.Duration
	PerSecond float64
}

// Create POSTs n minimal Gong users with plain net/http at the given concurrency. It is the
// yardstick for the benchmark: the rate a target takes with no client logic at all, printed beside the
// rate scimsync's client reaches against the same target. It stops at the first failed request.
func Create(ctx context.Context, baseURL, token string, n, concurrency int) (Result, error) {
	if n <= 0 {
		return Result{}, nil
	}
	if concurrency <= 0 {
		concurrency = 1
	}
	hc := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency * 2,
	}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	url := strings.TrimRight(baseURL, "/") + "/Users"
	run := uuid.NewString()[:8]
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				// A user as the Gong preset sends it, so the raw rate compares like with like.
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:Gong:2.0:User"],`+
					`"userName":"load-%s-%d@example.com","active":true,"title":"Account Executive","externalId":"load-%s-%d","locale":"en-US",`+
					`"name":{"givenName":"Load","familyName":"User%d"},`+
					`"emails":[{"primary":true,"type":"work","value":"load-%s-%d@example.com"}],`+
					`"phoneNumbers":[{"type":"work","value":"+1 425 555 %04d"}],`+
					`"urn:ietf:params:scim:schemas:extension:Gong:2.0:User":{"country":"United States","stateOrProvince":"WA"}}`,
					run, i, run, i, i, run, i, i%10000)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				req.Header.Set("Content-Type", "application/scim+json")
				req.Header.Set("Accept", "application/scim+json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				res, err := hc.Do(req)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("POST /Users: %w", err); cancel() })
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					once.Do(func() { firstErr = fmt.Errorf("POST /Users: status %d", res.StatusCode); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	done := int(min(next.Load(), int64(n)))
	res := Result{N: done, Elapsed: el}
	if firstErr != nil {
		return res, firstErr
	}
	res.N = n
	if el > 0 {
		res.PerSecond = float64(n) / el.Seconds()
	}
	return res, nil
}
