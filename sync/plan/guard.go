package plan

import "fmt"

// Guard applies the deletion threshold, Entra's accidental-deletions prevention
// (https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions): when the disables
// and deletes of one cycle (users and groups together) reach threshold, none of them is sent; each is
// turned into a Skip marked Held, to be staged until an admin allows them. threshold 0 switches the guard
// off. It changes the slices in place and returns how many changes it held.
func Guard(threshold int, lists ...[]Change) int {
	if threshold <= 0 {
		return 0
	}
	n := 0
	for _, l := range lists {
		for _, c := range l {
			if c.Op == Disable || c.Op == Delete {
				n++
			}
		}
	}
	if n < threshold {
		return 0
	}
	for _, l := range lists {
		for i := range l {
			c := &l[i]
			if c.Op != Disable && c.Op != Delete {
				continue
			}
			c.Held, c.Op = c.Op, Skip
			c.Reason = fmt.Sprintf("StagedDelete: %d disables and deletes reach the deletion threshold of %d; held until `scimsync allow-deletes`", n, threshold)
		}
	}
	return n
}
