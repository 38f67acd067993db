// Package merge folds the records of one object that Graph sends several times in one delta round
// (a large group's members@delta split over records, an object changed while the round pages).
package merge

import (
	"errors"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
)

// Merger keeps one item per id in first-seen order; Graph may send an object several times per round.
type Merger[T any] struct {
	Items []T
	index map[string]int
}

// New returns an empty Merger.
func New[T any]() *Merger[T] { return &Merger[T]{index: map[string]int{}} }

// Add adds an item, or folds it into the earlier record of the same id.
func (m *Merger[T]) Add(item T) error {
	id := itemID(item)
	if id == "" {
		return errors.New("record without id")
	}
	if i, ok := m.index[id]; ok {
		m.Items[i] = mergeItems(m.Items[i], item)
		return nil
	}
	m.index[id] = len(m.Items)
	m.Items = append(m.Items, item)
	return nil
}

func itemID(v any) string {
	switch x := v.(type) {
	case directory.User:
		return x.ID
	case directory.Group:
		return x.ID
	}
	return ""
}

func mergeItems[T any](earlier, later T) T {
	switch e := any(earlier).(type) {
	case directory.User:
		return any(mergeUser(e, any(later).(directory.User))).(T)
	case directory.Group:
		return any(mergeGroup(e, any(later).(directory.Group))).(T)
	}
	return later
}

// mergeUser folds a later record into an earlier one: later attributes win, a later removal or
// un-removal (restore) wins, and the manager is taken from the last record that mentioned it.
// User merges a later record of a user into an earlier one (later wins), for callers that keep users
// in another form than a Merger (directory.UserList).
func User(earlier, later directory.User) directory.User { return mergeUser(earlier, later) }

func mergeUser(e, l directory.User) directory.User {
	out := directory.User{ID: e.ID, Attributes: mapping.AttributeMap{}, Removed: l.Removed}
	for k, v := range e.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range l.Attributes {
		out.Attributes[k] = v
	}
	out.ManagerKnown = e.ManagerKnown || l.ManagerKnown
	if l.ManagerKnown {
		delete(out.Attributes, "manager")
		if v, ok := l.Attributes["manager"]; ok {
			out.Attributes["manager"] = v
		}
	}
	return out
}

// mergeGroup folds a later record of the same group: attributes as for users, member entries
// concatenated with the later state of a member winning.
func mergeGroup(e, l directory.Group) directory.Group {
	out := directory.Group{ID: e.ID, Attributes: mapping.AttributeMap{}, Removed: l.Removed,
		MembersKnown: e.MembersKnown || l.MembersKnown}
	for k, v := range e.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range l.Attributes {
		out.Attributes[k] = v
	}
	out.Members = Members(e.Members, l.Members)
	return out
}

// Members merges member entries, the later state of a member winning, keeping first-seen order;
// merging into nil removes the duplicates of one list.
func Members(e, l []directory.Member) []directory.Member {
	if len(l) == 0 {
		return e
	}
	out := append([]directory.Member(nil), e...)
	idx := make(map[string]int, len(out))
	for i, m := range out {
		idx[m.ID] = i
	}
	for _, m := range l {
		if i, ok := idx[m.ID]; ok {
			out[i] = m
			continue
		}
		idx[m.ID] = len(out)
		out = append(out, m)
	}
	return out
}
