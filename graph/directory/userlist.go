package directory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/scimsync/scimsync/mapping"
)

// UserList is a round's users, each kept packed (its attributes encoded in one byte slice) until it is
// taken. A full round at 100,000 users held as Users with their attribute maps was the largest part of
// a cycle's memory (about 1.7 KB a user, against about a third of that packed), and it is held whole:
// the same user may come again later in the round and must be merged with what came before
// (docs/performance.md#memory).
//
// The zero value is an empty list. A list is not safe for concurrent use.
type UserList struct {
	items []packedUser
	// names interns attribute names: each packed attribute carries the index of its name.
	names []string
	index map[string]int
	// buf is where pack encodes a user before the exact-size copy it keeps, reused from one user to
	// the next (a fresh estimate-sized buffer for each was half of what packing allocated).
	buf []byte
}

// packedUser is one user of a list; data is nil once the user was released.
type packedUser struct {
	id           string
	data         []byte
	managerKnown bool
	removed      Removal
}

// ListOf returns a list holding users.
func ListOf(users ...User) UserList {
	var l UserList
	for _, u := range users {
		l.Append(u)
	}
	return l
}

// Len is the number of users in the list.
func (l *UserList) Len() int { return len(l.items) }

// ID is the id of the i-th user, without unpacking it.
func (l *UserList) ID(i int) string { return l.items[i].id }

// Removed is the i-th user's @removed reason, without unpacking it.
func (l *UserList) Removed(i int) Removal { return l.items[i].removed }

// At unpacks the i-th user. A released user comes back with its id only.
func (l *UserList) At(i int) User {
	p := &l.items[i]
	u := User{ID: p.id, ManagerKnown: p.managerKnown, Removed: p.removed}
	if p.data != nil {
		// Room for the three attributes evaluation computes into an unpacked user (IsSoftDeleted,
		// appRoleAssignments, objectId), so adding them does not grow the map.
		u.Attributes = l.unpack(p.data, make(mapping.AttributeMap, l.count(p.data)+3))
	}
	return u
}

// AtInto is At for a caller that unpacks many users one after the other: the i-th user's attributes
// are unpacked into scratch, cleared first, instead of into a map of their own (at 100,000 users the
// fresh maps were a tenth of the initial cycle's allocations). The returned user's Attributes is
// scratch (nil for a released user), so it is the caller's only until the next AtInto with the same
// scratch: nothing may keep the map, only values read from it.
func (l *UserList) AtInto(i int, scratch mapping.AttributeMap) User {
	clear(scratch)
	p := &l.items[i]
	u := User{ID: p.id, ManagerKnown: p.managerKnown, Removed: p.removed}
	if p.data != nil {
		u.Attributes = l.unpack(p.data, scratch)
	}
	return u
}

// Append packs u at the end of the list.
func (l *UserList) Append(u User) { l.items = append(l.items, l.pack(u)) }

// Set replaces the i-th user.
func (l *UserList) Set(i int, u User) { l.items[i] = l.pack(u) }

// SetManagerKnown marks the i-th user's manager as known (a full round: no manager means none).
func (l *UserList) SetManagerKnown(i int) { l.items[i].managerKnown = true }

// Release lets go of the i-th user's attributes once a caller has taken what it needs of it.
func (l *UserList) Release(i int) { l.items[i].data = nil }

// Keep keeps only the users for which keep returns true, in order.
func (l *UserList) Keep(keep func(id string) bool) {
	kept := l.items[:0]
	for _, p := range l.items {
		if keep(p.id) {
			kept = append(kept, p)
		}
	}
	clear(l.items[len(kept):])
	l.items = kept
}

// All unpacks every user (for small lists and tests).
func (l *UserList) All() []User {
	out := make([]User, l.Len())
	for i := range out {
		out[i] = l.At(i)
	}
	return out
}

// The packed form of an attribute: the uvarint index of its name, a kind byte, then the value:
// a string as uvarint length and bytes; a bool as one byte; an int as a varint; a date as varint
// seconds and uvarint nanoseconds (UTC, as mapping.Date keeps it); a multi-value as a uvarint count
// plus one (0 for nil) and each string.
func (l *UserList) pack(u User) packedUser {
	p := packedUser{id: u.ID, managerKnown: u.ManagerKnown, removed: u.Removed}
	if u.Attributes == nil {
		return p
	}
	buf := binary.AppendUvarint(l.buf[:0], uint64(len(u.Attributes)))
	for name, v := range u.Attributes {
		buf = binary.AppendUvarint(buf, uint64(l.nameIndex(name)))
		buf = append(buf, byte(v.Kind()))
		switch v.Kind() {
		case mapping.KindString:
			buf = appendString(buf, v.String())
		case mapping.KindBool:
			b, _ := v.AsBool()
			buf = append(buf, boolByte(b))
		case mapping.KindInt:
			n, _ := v.AsInt()
			buf = binary.AppendVarint(buf, n)
		case mapping.KindDate:
			t, _ := v.AsTime()
			buf = binary.AppendVarint(buf, t.Unix())
			buf = binary.AppendUvarint(buf, uint64(t.Nanosecond()))
		case mapping.KindMulti:
			items := v.Strings()
			n := uint64(len(items)) + 1 // 0 for nil, so an empty list stays empty and not nil
			if items == nil {
				n = 0
			}
			buf = binary.AppendUvarint(buf, n)
			for _, s := range items {
				buf = appendString(buf, s)
			}
		}
	}
	p.data = append(make([]byte, 0, len(buf)), buf...)
	if cap(buf) <= maxPackBuf {
		l.buf = buf
	}
	return p
}

// maxPackBuf bounds the buffer a list keeps between users: one grown by a huge user is let go.
const maxPackBuf = 64 << 10

func (l *UserList) nameIndex(name string) int {
	if i, ok := l.index[name]; ok {
		return i
	}
	if l.index == nil {
		l.index = map[string]int{}
	}
	l.index[name] = len(l.names)
	l.names = append(l.names, name)
	return len(l.names) - 1
}

// errPacked is a packed user that does not decode: a bug in pack, never input from Graph.
var errPacked = errors.New("directory: damaged packed user")

// count is the number of attributes of a packed user.
func (l *UserList) count(data []byte) int {
	r := reader{b: data}
	return int(min(r.uvarint(), uint64(len(data))))
}

// unpack decodes what pack encoded into out, which it returns. Only pack writes data, so a decoding
// failure is a bug: it panics rather than hand the engine a user with attributes missing.
func (l *UserList) unpack(data []byte, out mapping.AttributeMap) mapping.AttributeMap {
	r := reader{b: data}
	n := r.uvarint()
	for range n {
		idx := r.uvarint()
		if idx >= uint64(len(l.names)) {
			panic(fmt.Errorf("%w: name index %d", errPacked, idx))
		}
		var v mapping.Value
		switch mapping.Kind(r.byte()) {
		case mapping.KindNull:
			v = mapping.Null()
		case mapping.KindString:
			v = mapping.Str(r.string())
		case mapping.KindBool:
			v = mapping.Bool(r.byte() == 1)
		case mapping.KindInt:
			v = mapping.Int(r.varint())
		case mapping.KindDate:
			sec := r.varint()
			nsec := r.uvarint()
			v = mapping.Date(time.Unix(sec, int64(min(nsec, math.MaxInt32))).UTC())
		case mapping.KindMulti:
			var items []string
			if n := r.uvarint(); n > 0 {
				items = make([]string, n-1)
			}
			for j := range items {
				items[j] = r.string()
			}
			v = mapping.Multi(items)
		default:
			panic(errPacked)
		}
		out[l.names[idx]] = v
	}
	return out
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// reader reads a packed user; it panics with errPacked on data pack did not write.
type reader struct {
	b []byte
	i int
}

func (r *reader) byte() byte {
	if r.i >= len(r.b) {
		panic(errPacked)
	}
	r.i++
	return r.b[r.i-1]
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.i:])
	r.advance(n)
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b[r.i:])
	r.advance(n)
	return v
}

// advance moves past a number of n bytes (n <= 0: none could be read).
func (r *reader) advance(n int) {
	if n <= 0 {
		panic(errPacked)
	}
	r.i += n
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)-r.i) {
		panic(errPacked)
	}
	s := string(r.b[r.i : r.i+int(n)])
	r.i += int(n)
	return s
}
