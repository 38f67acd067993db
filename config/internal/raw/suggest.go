package raw

import (
	"sort"
	"strings"
)

// suggest returns up to three candidates close to name (case-insensitive edit distance), best first, so
// that a typo in a key, attribute or target produces "did you mean ...?" instead of a bare rejection.
func suggest(name string, candidates []string) []string {
	if name == "" {
		return nil
	}
	lname := strings.ToLower(name)
	limit := 2
	if l := len([]rune(name)) / 4; l > limit {
		limit = l
	}
	type scored struct {
		s string
		d int
	}
	var out []scored
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		d := distance(lname, strings.ToLower(c))
		if d <= limit {
			out = append(out, scored{c, d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].d != out[j].d {
			return out[i].d < out[j].d
		}
		return out[i].s < out[j].s
	})
	if len(out) > 3 {
		out = out[:3]
	}
	res := make([]string, len(out))
	for i, o := range out {
		res[i] = o.s
	}
	return res
}

// didYouMean renders suggest's result as a message suffix ("; did you mean a or b?"), or "".
func DidYouMean(name string, candidates []string) string {
	s := suggest(name, candidates)
	switch len(s) {
	case 0:
		return ""
	case 1:
		return "; did you mean " + s[0] + "?"
	}
	return "; did you mean " + strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1] + "?"
}

// distance is the Levenshtein distance over runes. Inputs are short (keys, attribute names, paths) and
// capped by the caller's candidates, so the quadratic cost does not matter; very long inputs are cut to
// keep a hostile file from costing much.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	const max = 256
	if len(ra) > max {
		ra = ra[:max]
	}
	if len(rb) > max {
		rb = rb[:max]
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
