package engine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
)

// A target that stops answering aborts the cycle through the SCIM client's circuit breaker: the cycle
// error is ErrTargetUnreachable, nothing is escrowed or quarantined, the watermark stays, and the number
// of requests that reached the network is bounded by the breaker, not by the number of objects.
func TestUnreachableTargetAbortsTheCycle(t *testing.T) {
	const (
		retries     = 1
		concurrency = 4
		threshold   = scimclient.DefaultBreakerThreshold
		// The breaker opens at the threshold-th failed request; at most concurrency-1 others were in
		// flight then, each of at most 1+retries attempts.
		maxAttempts = (threshold + concurrency - 1) * (1 + retries)
	)
	targets := map[string]func(tb testing.TB) (addr string, conns func() int){
		"connection refused": func(tb testing.TB) (string, func() int) {
			return scimserver.ClosedAddr(tb), func() int { return 0 }
		},
		"accepts and never answers": scimserver.Silent,
	}
	phases := map[string]func(h *harness){
		// 60 new users: more than ListThreshold, so the listing fails first and matching falls back to
		// one query per user.
		"matching, listing first":  func(h *harness) { h.dir.add(manyUsers("new", 60)...) },
		"matching, one query each": func(h *harness) { h.dir.add(manyUsers("new", 8)...) },
		// Linked users whose title changed: PATCHes only.
		"updates": func(h *harness) {
			for i := range 20 {
				id := fmt.Sprintf("u%05d", i)
				h.dir.find(h.t, id).Attributes["jobTitle"] = mapping.Str("Manager")
				h.dir.touch(id)
			}
		},
	}
	for tname, target := range targets {
		for pname, change := range phases {
			t.Run(tname+"/"+pname, func(t *testing.T) {
				h := newHarness(t, manyUsers("u", 20)...)
				withConc := func(o *Options) { o.Concurrency = concurrency }
				h.mustRun(h.engine(goodToken, withConc), false)
				mark, err := h.st.Watermark("users")
				if err != nil || mark == "" {
					t.Fatalf("watermark after the first cycle: %q %v", mark, err)
				}
				before, err := h.st.Links(store.KindUser)
				if err != nil {
					t.Fatal(err)
				}
				change(h)

				addr, conns := target(t)
				dead, err := scimclient.New(scimclient.Options{BaseURL: "http://" + addr + "/scim/v2", Token: goodToken,
					Timeout: 20 * time.Millisecond, MaxRetries: retries, RetryInitialInterval: time.Millisecond,
					RetryMaxInterval: 2 * time.Millisecond, Mode: scimclient.ModeAADOptSCIM062020})
				if err != nil {
					t.Fatal(err)
				}
				o := h.options()
				withConc(&o)
				h.advance(40 * time.Minute)
				res, err := h.run(New(h.dir, scimTarget(dead), h.st, o), false)
				if !errors.Is(err, scimclient.ErrTargetUnreachable) {
					t.Fatalf("cycle error = %v, want ErrTargetUnreachable", err)
				}
				if res.Quarantine != nil {
					t.Fatalf("an unreachable target quarantined the job: %+v", res.Quarantine)
				}
				s := dead.Stats()
				if s.Requests < threshold*(1+retries) || s.Requests > maxAttempts {
					t.Fatalf("%d attempts reached the network, want %d..%d", s.Requests, threshold*(1+retries), maxAttempts)
				}
				if n := conns(); n > maxAttempts {
					t.Fatalf("the listener accepted %d connections, want at most %d", n, maxAttempts)
				}
				if got, _ := h.st.Watermark("users"); got != mark {
					t.Fatalf("watermark moved from %q to %q", mark, got)
				}
				if es := h.escrows(); len(es) != 0 {
					t.Fatalf("escrows recorded for an aborted cycle: %+v", es)
				}
				after, err := h.st.Links(store.KindUser)
				if err != nil {
					t.Fatal(err)
				}
				if len(after) != len(before) {
					t.Fatalf("%d links after the aborted cycle, want %d", len(after), len(before))
				}
				for id, a := range after {
					if a.Hash != before[id].Hash {
						t.Fatalf("link %s recorded as updated: %v", id, a.Values)
					}
				}

				// The target is back: the same changes are read again and applied.
				h.advance(40 * time.Minute)
				res = h.mustRun(h.engine(goodToken, withConc), false)
				if rep := res.Report; rep.TotalFailed() != 0 || rep.Created+rep.Updated == 0 {
					t.Fatalf("recovery cycle: %+v", rep)
				}
			})
		}
	}
}
