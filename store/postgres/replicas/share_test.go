package replicas

import (
	"fmt"
	"slices"
	"testing"
)

func jobsN(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("j%02d", i)
	}
	return out
}

// held gives replica r the jobs listed.
func held(m map[string]string, r string, jobs ...string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	for _, j := range jobs {
		m[j] = r
	}
	return m
}

func TestShareTable(t *testing.T) {
	ten := jobsN(10)
	for _, tc := range []struct {
		name    string
		me      string
		live    []string
		jobs    []string
		holders map[string]string
		// expected sizes; the exact jobs taken depend on the hash, the sizes and the invariants not.
		keep, take, release int
		keepJobs            []string // when set, exactly these are kept
	}{
		{name: "alone takes all", me: "a", live: []string{"a"}, jobs: ten, take: 10},
		{name: "alone without a heartbeat yet", me: "a", live: nil, jobs: ten, take: 10},
		{name: "alone keeps all", me: "a", live: []string{"a"}, jobs: ten, holders: held(nil, "a", ten...), keep: 10},
		{name: "two start together", me: "a", live: []string{"a", "b"}, jobs: ten, take: 5},
		{name: "three start together: first id gets the remainder", me: "a", live: []string{"a", "b", "c"}, jobs: ten, take: 4},
		{name: "three start together: others get three", me: "c", live: []string{"a", "b", "c"}, jobs: ten, take: 3},
		{name: "newcomer: the holder releases down to its share", me: "a", live: []string{"a", "b"}, jobs: ten,
			holders: held(nil, "a", ten...), keep: 5, release: 5},
		{name: "newcomer takes only what is free", me: "b", live: []string{"a", "b"}, jobs: ten,
			holders: held(nil, "a", ten...)},
		{name: "newcomer takes the released", me: "b", live: []string{"a", "b"}, jobs: ten,
			holders: held(nil, "a", ten[:5]...), take: 5},
		{name: "the one holding most keeps the remainder", me: "b", live: []string{"a", "b", "c"}, jobs: ten,
			holders: held(held(nil, "b", ten[:4]...), "a", ten[4:7]...), keep: 4, take: 0, keepJobs: ten[:4]},
		{name: "the one holding most keeps the remainder: c takes three", me: "c", live: []string{"a", "b", "c"}, jobs: ten,
			holders: held(held(nil, "b", ten[:4]...), "a", ten[4:7]...), take: 3},
		{name: "a surplus of one goes to the one short", me: "a", live: []string{"a", "b"}, jobs: ten,
			holders: held(held(nil, "a", ten[:6]...), "b", ten[6:]...), keep: 5, release: 1},
		{name: "balanced with remainder: nothing moves", me: "a", live: []string{"a", "b", "c"}, jobs: ten,
			holders: held(held(held(nil, "a", ten[:3]...), "b", ten[3:6]...), "c", ten[6:]...), keep: 3},
		{name: "a dead holder's unexpired lease is out of reach", me: "a", live: []string{"a", "b"}, jobs: ten,
			holders: held(nil, "dead", ten[:4]...), take: 5},
		{name: "jobs removed from the list are not counted", me: "a", live: []string{"a"}, jobs: ten[:3],
			holders: held(nil, "a", ten...), keep: 3, keepJobs: ten[:3]},
		{name: "no jobs", me: "a", live: []string{"a", "b"}},
		{name: "more replicas than jobs", me: "d", live: []string{"a", "b", "c", "d"}, jobs: ten[:2],
			holders: held(held(nil, "a", ten[0]), "b", ten[1])},
		{name: "duplicate job names count once", me: "a", live: []string{"a"}, jobs: []string{"x", "x", "y"}, take: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Share(tc.me, tc.live, tc.jobs, tc.holders)
			if len(p.Keep) != tc.keep || len(p.Take) != tc.take || len(p.Release) != tc.release {
				t.Fatalf("plan %+v: keep/take/release %d/%d/%d, want %d/%d/%d", p, len(p.Keep), len(p.Take), len(p.Release), tc.keep, tc.take, tc.release)
			}
			if tc.keepJobs != nil && !slices.Equal(p.Keep, tc.keepJobs) {
				t.Errorf("keeps %v, want %v", p.Keep, tc.keepJobs)
			}
			for _, j := range p.Take {
				if _, ok := tc.holders[j]; ok {
					t.Errorf("takes %s, held by %s", j, tc.holders[j])
				}
			}
			for _, j := range append(slices.Clone(p.Keep), p.Release...) {
				if tc.holders[j] != tc.me {
					t.Errorf("keeps or releases %s, which it does not hold", j)
				}
			}
		})
	}
}

// TestShareConverges plays claim rounds of several replicas on the pure function alone (releases
// take effect at once, takes in turn): whatever the start, every job ends with one holder and the
// spread differs by at most one.
func TestShareConverges(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4} {
		for _, jobs := range []int{0, 1, 7, 10, 31} {
			replicas := []string{"r1", "r2", "r3", "r4"}[:n]
			all := jobsN(jobs)
			holders := held(nil, "r1", all...) // r1 was alone
			for round := 0; round < 10; round++ {
				for _, r := range replicas {
					p := Share(r, replicas, all, holders)
					for _, j := range p.Release {
						delete(holders, j)
					}
					for _, j := range p.Take {
						holders[j] = r
					}
				}
			}
			count := map[string]int{}
			for _, j := range all {
				if holders[j] == "" {
					t.Errorf("%d replicas, %d jobs: %s has no holder", n, jobs, j)
				}
				count[holders[j]]++
			}
			lo, hi := jobs, 0
			for _, r := range replicas {
				lo, hi = min(lo, count[r]), max(hi, count[r])
			}
			if hi-lo > 1 {
				t.Errorf("%d replicas, %d jobs: spread %v", n, jobs, count)
			}
		}
	}
}
