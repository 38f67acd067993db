package replicas

import (
	"cmp"
	"hash/fnv"
	"slices"
)

// Plan is what one replica does with the jobs at a claim tick.
type Plan struct {
	Keep    []string // held, and within the replica's share: renew
	Take    []string // free: try to acquire
	Release []string // held above the share while another replica has less than its own: let go
}

// Share divides jobs among the live replicas and says what replica me does about it. holders maps
// each job whose lease has not expired to its holder; a job held by a replica that is not live stays
// out of reach until its lease expires. Pure, so the rules are tested with tables.
//
// Every replica gets len(jobs)/len(live) jobs, and the remainder goes one each to the replicas that
// hold the most already (ties by id), so that a balanced spread does not move. A replica alone takes
// everything; a replica never takes more than its share, so it leaves jobs for an idle one; and it
// releases its surplus only when another live replica is below its share, so every job keeps running
// while shares settle. Which free jobs a replica takes is ordered by a hash of replica and job
// (rendezvous hashing), so replicas starting together mostly reach for different jobs.
func Share(me string, live, jobs []string, holders map[string]string) Plan {
	jobs = slices.Compact(slices.Sorted(slices.Values(jobs)))
	members := map[string]bool{me: true}
	for _, r := range live {
		members[r] = true
	}
	count := map[string]int{}
	for r := range members {
		count[r] = 0
	}
	for _, j := range jobs {
		if h, ok := holders[j]; ok && members[h] {
			count[h]++
		}
	}
	order := slices.Collect(func(yield func(string) bool) {
		for r := range members {
			if !yield(r) {
				return
			}
		}
	})
	slices.SortFunc(order, func(a, b string) int {
		return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b))
	})
	quota := map[string]int{}
	for i, r := range order {
		quota[r] = len(jobs) / len(order)
		if i < len(jobs)%len(order) {
			quota[r]++
		}
	}

	var mine, free []string
	for _, j := range jobs {
		switch h, held := holders[j]; {
		case !held:
			free = append(free, j)
		case h == me:
			mine = append(mine, j)
		}
	}
	byHash := func(list []string) {
		slices.SortFunc(list, func(a, b string) int { return cmp.Or(cmp.Compare(rank(me, a), rank(me, b)), cmp.Compare(a, b)) })
	}
	byHash(mine)
	byHash(free)

	var p Plan
	q := quota[me]
	if len(mine) > q && someoneShort(order, me, count, quota) {
		p.Keep, p.Release = mine[:q], mine[q:]
	} else {
		p.Keep = mine
	}
	if room := q - len(p.Keep); room > 0 {
		p.Take = free[:min(room, len(free))]
	}
	for _, l := range []*[]string{&p.Keep, &p.Take, &p.Release} {
		*l = slices.Clip(slices.Sorted(slices.Values(*l)))
	}
	return p
}

func someoneShort(replicas []string, me string, count, quota map[string]int) bool {
	for _, r := range replicas {
		if r != me && count[r] < quota[r] {
			return true
		}
	}
	return false
}

func rank(replica, job string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(replica))
	h.Write([]byte{0})
	h.Write([]byte(job))
	return h.Sum64()
}
