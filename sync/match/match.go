// Package match is the matching step: for each source object without a link, the target objects
// with the same value at the matching attributes, in precedence order, by one filter query per
// object or, when many objects need matching, by one listing of the target matched locally.
package match

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/sync/fanout"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// Finder looks target objects up; the engine's Objects implement it.
type Finder interface {
	Find(ctx context.Context, path, value string, read []string) ([]plan.Candidate, error)
	List(ctx context.Context, read []string, fn func(plan.Candidate) error) error
}

// ErrNoAttribute is returned when objects need matching and no matching attribute is mapped.
var ErrNoAttribute = errors.New("matching attribute is mapped")

// Matcher matches one kind of object (users or groups) against the target.
type Matcher struct {
	Finder Finder
	// Kind names the objects in messages ("user", "group").
	Kind string
	// Order lists the matching target paths in precedence order; Read every path read back from a
	// found object (see Paths).
	Order, Read []string
	// Concurrency bounds the queries in flight; more than ListThreshold objects to match make one
	// listing instead of one query each.
	Concurrency, ListThreshold int
	Log                        *zap.Logger
}

// Paths are a mapping table's matching paths in precedence order, and the paths read back from a
// found object: every mapped path, references too unless skipRefs (a group's members are tracked
// apart), so a matched user's manager is known.
func Paths(t *mapping.Table, skipRefs bool) (order, read []string) {
	type mp struct {
		prec int
		path string
	}
	var ms []mp
	for _, m := range t.Mappings {
		if !(m.Type == mapping.TypeReference && skipRefs) {
			read = append(read, m.Target)
		}
		if m.Matching > 0 {
			ms = append(ms, mp{m.Matching, m.Target})
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].prec < ms[j].prec })
	for _, m := range ms {
		order = append(order, m.path)
	}
	return order, read
}

// Match looks up, for every in-scope object without a link, target objects by the matching
// attributes in precedence order: one query per object, or one paged listing of the target when many
// objects need a lookup (an initial cycle), which is far cheaper than thousands of queries.
func (m *Matcher) Match(ctx context.Context, objs []plan.Object, links map[string]plan.Link) (map[string]plan.Lookup, error) {
	s, err := m.Start(ctx, m.Need(objs, links), m.Wanted(objs, links))
	if err != nil {
		return nil, err
	}
	return s.Match(ctx, objs, links)
}

// Need counts the objects of objs that need a lookup; it reads no values, so objects whose values are
// packed count too.
func (m *Matcher) Need(objs []plan.Object, links map[string]plan.Link) int {
	return len(need(objs, links))
}

// need lists the objects to look up. Disabled users are looked up too: an existing account of theirs
// is deactivated, never created. An object out of scope is looked up only when a create of it may have
// landed unrecorded.
func need(objs []plan.Object, links map[string]plan.Link) []int {
	var out []int
	for i, o := range objs {
		if l, ok := links[o.SourceID]; (ok && l.Managed) || (!o.InScope && !o.Pending) || o.Err != nil || o.HardDeleted {
			continue
		}
		out = append(out, i)
	}
	return out
}

// Keys are the strings of values at the matching paths, in order ("" where there is none): what an
// object keeps of its values for the matching while they are packed (plan.Object.MatchKeys).
func Keys(order []string, values map[string]any) []string {
	if len(order) == 0 || values == nil {
		return nil
	}
	out := make([]string, len(order))
	for i, p := range order {
		out[i], _ = values[p].(string)
	}
	return out
}

// Wanted is, for each matching path, the lowercased values that the objects needing a lookup hold
// there. A listing of the target keeps only the objects found under one of them: no lookup of these
// objects asks for any other, so the results are those of a whole listing, and a full round whose
// users are all linked no longer holds every account of the target (at 100,000 users, 56 MB).
// A nil Wanted keeps everything.
type Wanted map[string]map[string]struct{}

// Wanted lists what the objects of objs that need a lookup may match (see need). An object whose
// values are packed without its MatchKeys cannot say: the whole listing is kept then.
func (m *Matcher) Wanted(objs []plan.Object, links map[string]plan.Link) Wanted {
	w := make(Wanted, len(m.Order))
	for _, p := range m.Order {
		w[p] = map[string]struct{}{}
	}
	for _, i := range need(objs, links) {
		o := &objs[i]
		if o.Values == nil && len(o.MatchKeys) != len(m.Order) {
			return nil
		}
		for j, p := range m.Order {
			v := ""
			if o.Values != nil {
				v, _ = o.Values[p].(string)
			} else {
				v = o.MatchKeys[j]
			}
			if v != "" {
				w[p][strings.ToLower(v)] = struct{}{}
			}
		}
	}
	return w
}

// keeps reports whether a listed object's value v at path p may be asked for.
func (w Wanted) keeps(p, key string) bool {
	if w == nil {
		return true
	}
	_, ok := w[p][key]
	return ok
}

// Session matches a cycle's objects a part at a time with one choice for all of them (a listing of the
// target, or one query per object), so a cycle that plans its objects in parts lists the target once.
type Session struct {
	m   *Matcher
	idx targetIndex // nil: one query per object
}

// Start begins a session for n objects to look up in all: more than ListThreshold lists the target
// once, keeping what want says the objects may match (when the listing fails for another reason than
// credentials or an unreachable target, the session queries instead).
func (m *Matcher) Start(ctx context.Context, n int, want Wanted) (*Session, error) {
	s := &Session{m: m}
	if n == 0 {
		return s, nil
	}
	if len(m.Order) == 0 {
		return nil, fmt.Errorf("no %s %w", m.Kind, ErrNoAttribute)
	}
	if n > m.ListThreshold {
		idx, err := m.index(ctx, want)
		if err == nil {
			s.idx = idx
			return s, nil
		}
		if quarantine.IsFatal(err) || quarantine.IsAbort(err) {
			return nil, err
		}
		m.Log.Warn("listing the target failed; matching one query per object instead", zap.String("kind", m.Kind), zap.Error(err))
	}
	return s, nil
}

// Match looks up the objects of objs that need it (see Matcher.Match).
func (s *Session) Match(ctx context.Context, objs []plan.Object, links map[string]plan.Link) (map[string]plan.Lookup, error) {
	m, need := s.m, need(objs, links)
	out := make(map[string]plan.Lookup, len(need))
	if len(need) == 0 {
		return out, nil
	}
	if len(m.Order) == 0 {
		return nil, fmt.Errorf("no %s %w", m.Kind, ErrNoAttribute)
	}
	if s.idx != nil {
		for _, i := range need {
			out[objs[i].SourceID] = s.idx.lookup(objs[i], m.Order)
		}
		return out, nil
	}
	var mu sync.Mutex
	// A credentials or compliance failure would fail every lookup the same way: the first one stops
	// the matching (and the cycle), and the judge quarantines the job.
	err := fanout.Each(ctx, m.Concurrency, len(need), func(ctx context.Context, i int) error {
		o := objs[need[i]]
		lk := m.Query(ctx, o)
		if lk.Err != nil && (quarantine.IsFatal(lk.Err) || quarantine.IsAbort(lk.Err)) {
			return lk.Err
		}
		mu.Lock()
		out[o.SourceID] = lk
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Query looks one object up by its matching attributes; the first attribute that finds anything wins.
func (m *Matcher) Query(ctx context.Context, o plan.Object) plan.Lookup {
	for _, path := range m.Order {
		v, ok := o.Values[path].(string)
		if !ok || v == "" {
			continue
		}
		found, err := m.Finder.Find(ctx, path, v, m.Read)
		if err != nil {
			return plan.Lookup{By: path, Err: fmt.Errorf("query target by %s: %w", path, err)}
		}
		if len(found) > 0 {
			return plan.Lookup{By: path, Candidates: found}
		}
	}
	return plan.Lookup{}
}

// targetIndex is one listing of the target's objects, indexed by the matching attributes.
type targetIndex map[string]map[string][]plan.Candidate

func (m *Matcher) index(ctx context.Context, want Wanted) (targetIndex, error) {
	idx := targetIndex{}
	for _, p := range m.Order {
		idx[p] = map[string][]plan.Candidate{}
	}
	// Every matching path is a mapped path, so it is among the read paths.
	err := m.Finder.List(ctx, m.Read, func(c plan.Candidate) error {
		kept := false
		for _, p := range m.Order {
			if s, isStr := c.Values[p].(string); isStr && s != "" {
				if key := strings.ToLower(s); want.keeps(p, key) {
					if !kept {
						c, kept = detached(c), true
					}
					idx[p][key] = append(idx[p][key], c)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list target %ss: %w", m.Kind, err)
	}
	return idx, nil
}

// detached is c with copies of its strings: a listed candidate's strings may share the bytes of its
// whole page (scimclient decodes pages with jsonmap), and the index keeps a few candidates of each
// page for the rest of the cycle.
func detached(c plan.Candidate) plan.Candidate {
	c.TargetID = strings.Clone(c.TargetID)
	values := make(map[string]any, len(c.Values))
	for k, v := range c.Values { // the keys are the read paths, not the page's
		values[k] = cloneStrings(v)
	}
	c.Values = values
	return c
}

// cloneStrings copies the strings of a decoded JSON value (strings, and those in arrays and objects).
func cloneStrings(v any) any {
	switch x := v.(type) {
	case string:
		return strings.Clone(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneStrings(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[strings.Clone(k)] = cloneStrings(e)
		}
		return out
	}
	return v
}

// lookup matches case-insensitively, as SCIM's caseExact=false default for userName and displayName
// says a target filter would.
func (idx targetIndex) lookup(o plan.Object, order []string) plan.Lookup {
	for _, p := range order {
		v, ok := o.Values[p].(string)
		if !ok || v == "" {
			continue
		}
		if cs := idx[p][strings.ToLower(v)]; len(cs) > 0 {
			return plan.Lookup{By: p, Candidates: cs}
		}
	}
	return plan.Lookup{}
}
