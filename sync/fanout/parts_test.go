package fanout

import (
	"slices"
	"testing"
)

func TestPartsKeepsOrderAndSize(t *testing.T) {
	for _, tc := range []struct{ items, n, parts int }{{7, 3, 3}, {2, 8, 2}, {5, 0, 1}, {0, 4, 0}, {9, 9, 9}} {
		items := make([]int, tc.items)
		for i := range items {
			items[i] = i
		}
		got := Parts(items, tc.n)
		if len(got) != tc.parts {
			t.Errorf("Parts(%d items, %d) = %d parts, want %d", tc.items, tc.n, len(got), tc.parts)
		}
		var flat []int
		for _, p := range got {
			if len(p) == 0 || len(p) > (tc.items+len(got)-1)/len(got) {
				t.Errorf("Parts(%d items, %d): a part of %d", tc.items, tc.n, len(p))
			}
			flat = append(flat, p...)
		}
		if !slices.Equal(flat, items) && !(len(flat) == 0 && len(items) == 0) {
			t.Errorf("Parts(%d items, %d) = %v, want every item once in order", tc.items, tc.n, got)
		}
	}
}
