// Package rawload is the yardstick of the scale benchmarks: SCIM creates sent with plain net/http and no
// client logic at all, so the rate a target takes can be printed beside the rate scimsync reaches.
package rawload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/scimsync/scimsync/scimclient"
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
	hc := newHTTPClient(concurrency)
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

// Recorded is one create as the target received it: the id it gave and the request body.
type Recorded struct {
	ID   string          `json:"id"`
	Body json.RawMessage `json:"body"`
}

// ReadRecorded reads the JSON lines of a recording (internal/cmd/emulate scim -record).
func ReadRecorded(r io.Reader) ([]Recorded, error) {
	var out []Recorded
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var rec Recorded
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("recording line %d: %w", line, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// managerOf returns the manager id a recorded body references in the enterprise extension (as an
// id or as {"value": id}), or "".
func managerOf(body []byte) string {
	var u map[string]json.RawMessage
	if json.Unmarshal(body, &u) != nil {
		return ""
	}
	var ext map[string]json.RawMessage
	if json.Unmarshal(u[enterpriseSchema], &ext) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(ext["manager"], &id) == nil {
		return id
	}
	var ref struct {
		Value string `json:"value"`
	}
	_ = json.Unmarshal(ext["manager"], &ref)
	return ref.Value
}

const enterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// Waves orders recorded creates as scimsync sends them: a user whose manager is among them comes in
// the wave after the manager's, so the manager's new id can go into the body.
func Waves(recs []Recorded) [][]int { return newReplayer(recs).waves() }

func (r *replayer) waves() [][]int {
	depth := make([]int, len(r.recs))
	for i := range depth {
		depth[i] = -1
	}
	var depthOf func(i, guard int) int
	depthOf = func(i, guard int) int {
		if depth[i] >= 0 {
			return depth[i]
		}
		d := 0
		if m := r.mgr[i]; m >= 0 && m != i && guard < len(r.recs) {
			d = depthOf(m, guard+1) + 1
		}
		depth[i] = d
		return d
	}
	var waves [][]int
	for i := range r.recs {
		d := depthOf(i, 0)
		for len(waves) <= d {
			waves = append(waves, nil)
		}
		waves[d] = append(waves[d], i)
	}
	return waves
}

// Replay POSTs recorded bodies to a fresh target in manager waves at the given concurrency, with
// each manager reference replaced by the id the new target gave the manager: the same bodies and
// order scimsync sent, with no client logic at all. It stops at the first failure.
func Replay(ctx context.Context, baseURL, token string, recs []Recorded, concurrency int) (Result, error) {
	hc := newHTTPClient(concurrency)
	defer hc.CloseIdleConnections()
	url := strings.TrimRight(baseURL, "/") + "/Users"
	r := newReplayer(recs)
	var units [][][]int
	for _, wave := range r.waves() {
		one := make([][]int, len(wave))
		for k, i := range wave {
			one[k] = []int{i}
		}
		units = append(units, one)
	}
	return r.run(ctx, units, concurrency, func(unit []int) error {
		id, err := post(ctx, hc, url, token, r.body(unit[0]))
		r.newID[unit[0]] = id
		return err
	})
}

// replayer is what Replay and ReplayBulk share: the recorded creates, each one's manager among them,
// and the ids the new target gave. The bodies are parsed once here, before any timing starts.
type replayer struct {
	recs  []Recorded
	mgr   []int // position of create i's manager among recs, or -1
	newID []string
}

func newReplayer(recs []Recorded) *replayer {
	index := make(map[string]int, len(recs))
	for i, rec := range recs {
		index[rec.ID] = i
	}
	r := &replayer{recs: recs, mgr: make([]int, len(recs)), newID: make([]string, len(recs))}
	for i, rec := range recs {
		r.mgr[i] = -1
		if m, ok := index[managerOf(rec.Body)]; ok {
			r.mgr[i] = m
		}
	}
	return r
}

// body is create i's body with its manager's recorded id replaced by the manager's new one.
func (r *replayer) body(i int) []byte {
	body := []byte(r.recs[i].Body)
	if m := r.mgr[i]; m >= 0 && r.newID[m] != "" {
		body = bytes.ReplaceAll(body, []byte(`"`+r.recs[m].ID+`"`), []byte(`"`+r.newID[m]+`"`))
	}
	return body
}

// run sends the units of each wave, concurrency at a time, a wave after the one before; it stops at
// the first failure.
func (r *replayer) run(ctx context.Context, waves [][][]int, concurrency int, send func(unit []int) error) (Result, error) {
	start := time.Now()
	for _, units := range waves {
		var next atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		for range min(concurrency, len(units)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k := int(next.Add(1) - 1)
					if k >= len(units) || ctx.Err() != nil {
						return
					}
					if err := send(units[k]); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return Result{Elapsed: time.Since(start)}, firstErr
		}
	}
	el := time.Since(start)
	return Result{N: len(r.recs), Elapsed: el, PerSecond: float64(len(r.recs)) / el.Seconds()}, nil
}

func post(ctx context.Context, hc *http.Client, url, token string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Accept", "application/scim+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /Users: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return "", fmt.Errorf("POST /Users: %w", err)
	}
	if res.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /Users: status %d: %.200s", res.StatusCode, raw)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &created); err != nil || created.ID == "" {
		return "", fmt.Errorf("POST /Users: created user without id")
	}
	return created.ID, nil
}

// newHTTPClient keeps a connection per worker alive, as any load client would.
func newHTTPClient(concurrency int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency * 2,
	}, Timeout: 30 * time.Second}
}

// ReplayBulk is Replay through SCIM Bulk: each manager wave in requests of at most lim's operations
// and bytes, concurrency requests at a time, through scimclient's Bulk client. It measures what Bulk
// would give against a target that offers it.
func ReplayBulk(ctx context.Context, baseURL, token string, recs []Recorded, concurrency int, lim scimclient.BulkLimits) (Result, error) {
	c, err := scimclient.New(scimclient.Options{BaseURL: baseURL, Token: token, Concurrency: concurrency})
	if err != nil {
		return Result{}, err
	}
	r := newReplayer(recs)
	var units [][][]int
	for _, wave := range r.waves() {
		var chunks [][]int
		for len(wave) > 0 {
			n := min(len(wave), lim.MaxOperations)
			chunks, wave = append(chunks, wave[:n]), wave[n:]
		}
		units = append(units, chunks)
	}
	return r.run(ctx, units, concurrency, func(unit []int) error {
		ops := make([]scimclient.BulkOp, len(unit))
		for j, i := range unit {
			ops[j] = scimclient.BulkOp{Method: http.MethodPost, Path: "/Users", BulkID: "u" + strconv.Itoa(i), Data: json.RawMessage(r.body(i))}
		}
		res, err := c.Bulk(ctx, lim, ops)
		for j, br := range res {
			if err == nil && br.Err != nil {
				err = br.Err
			}
			r.newID[unit[j]] = br.ID
		}
		return err
	})
}
