package directory

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/mapping"
)

func TestUserListKeepsEveryKindOfValue(t *testing.T) {
	users := []User{
		{ID: "a", ManagerKnown: true, Attributes: mapping.AttributeMap{
			"userPrincipalName": mapping.Str("a@x"), "displayName": mapping.Str(""), "accountEnabled": mapping.Bool(false),
			"employeeNumber": mapping.Int(-42), "hired": mapping.Date(time.Date(2021, 7, 1, 7, 0, 0, 123456789, time.UTC)),
			"expires":        mapping.Date(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)),
			"proxyAddresses": mapping.Multi([]string{"SMTP:a@x", "", "smtp:é@x"}), "none": mapping.Multi(nil), "empty": mapping.Multi([]string{}),
			"nothing": mapping.Null(), "manager": mapping.Str("m")}},
		{ID: "b", Removed: SoftDeleted, Attributes: mapping.AttributeMap{"objectId": mapping.Str("b")}},
		{ID: "c"}, // no attributes at all
	}
	l := ListOf(users...)
	if l.Len() != 3 || l.ID(1) != "b" || l.Removed(1) != SoftDeleted {
		t.Fatalf("len %d id %q removed %q", l.Len(), l.ID(1), l.Removed(1))
	}
	for i, want := range users {
		got := l.At(i)
		if got.ID != want.ID || got.ManagerKnown != want.ManagerKnown || got.Removed != want.Removed ||
			len(got.Attributes) != len(want.Attributes) {
			t.Fatalf("user %d: %+v, want %+v", i, got, want)
		}
		for k, v := range want.Attributes {
			if g := got.Attributes[k]; g.Kind() != v.Kind() || !g.Equal(v) || g.String() != v.String() ||
				!reflect.DeepEqual(g.Strings(), v.Strings()) {
				t.Errorf("user %d %s: %#v, want %#v", i, k, g, v)
			}
		}
	}
}

func TestUserListSetKeepRelease(t *testing.T) {
	l := ListOf(User{ID: "a", Attributes: mapping.AttributeMap{"x": mapping.Str("1")}},
		User{ID: "b", Attributes: mapping.AttributeMap{"y": mapping.Str("2")}},
		User{ID: "c", Attributes: mapping.AttributeMap{"x": mapping.Str("3")}})
	l.Set(1, User{ID: "b", ManagerKnown: true, Attributes: mapping.AttributeMap{"y": mapping.Str("2b"), "z": mapping.Bool(true)}})
	if u := l.At(1); !u.ManagerKnown || u.Attributes["y"].String() != "2b" || len(u.Attributes) != 2 {
		t.Fatalf("set: %+v", u)
	}
	l.Release(0)
	if u := l.At(0); u.ID != "a" || u.Attributes != nil {
		t.Fatalf("released: %+v", u)
	}
	l.Keep(func(id string) bool { return id != "b" })
	if l.Len() != 2 || l.ID(0) != "a" || l.ID(1) != "c" || l.At(1).Attributes["x"].String() != "3" {
		t.Fatalf("keep: %+v", l.All())
	}
	l.SetManagerKnown(1)
	if !l.At(1).ManagerKnown {
		t.Fatal("manager known not kept")
	}
	var empty UserList
	if empty.Len() != 0 || len(empty.All()) != 0 {
		t.Fatal("zero list not empty")
	}
}

// AtInto reuses the caller's map: what it returns must be the i-th user's attributes alone, never a
// leftover of the user unpacked into the map before.
func TestAtIntoLeavesNothingOfTheUserBefore(t *testing.T) {
	users := []User{
		{ID: "a", Attributes: mapping.AttributeMap{"department": mapping.Str("x"), "manager": mapping.Str("m"), "userPrincipalName": mapping.Str("a@x")}},
		{ID: "b", Attributes: mapping.AttributeMap{"userPrincipalName": mapping.Str("b@x")}},
		{ID: "c"},
		{ID: "d", ManagerKnown: true, Removed: SoftDeleted, Attributes: mapping.AttributeMap{"title": mapping.Str("t")}},
	}
	l := ListOf(users...)
	l.Release(2)
	scratch := mapping.AttributeMap{"stale": mapping.Str("from elsewhere")}
	for i, want := range users {
		got := l.AtInto(i, scratch)
		if got.ID != want.ID || got.ManagerKnown != want.ManagerKnown || got.Removed != want.Removed || len(got.Attributes) != len(want.Attributes) {
			t.Fatalf("user %d: %+v, want %+v", i, got, want)
		}
		for k, v := range want.Attributes {
			if g, ok := got.Attributes[k]; !ok || !g.Equal(v) {
				t.Errorf("user %d %s: %#v, want %#v", i, k, g, v)
			}
		}
		if len(scratch) != len(want.Attributes) {
			t.Errorf("user %d: scratch holds %v", i, scratch)
		}
	}
}

// pack encodes every user in one reused buffer: a long user followed by short ones, and one past the
// size the list keeps, must each read back as itself.
func TestPackReusesNoBytesOfAnotherUser(t *testing.T) {
	users := []User{
		{ID: "long", Attributes: mapping.AttributeMap{"a": mapping.Str(string(make([]byte, 500))), "b": mapping.Multi([]string{"x", "y"})}},
		{ID: "short", Attributes: mapping.AttributeMap{"a": mapping.Str("s")}},
		{ID: "huge", Attributes: mapping.AttributeMap{"a": mapping.Str(string(make([]byte, maxPackBuf+1)))}},
		{ID: "after", Attributes: mapping.AttributeMap{"b": mapping.Multi([]string{"z"})}},
	}
	l := ListOf(users...)
	for i, want := range users {
		got := l.At(i)
		if len(got.Attributes) != len(want.Attributes) {
			t.Fatalf("user %d: %v, want %v", i, got.Attributes, want.Attributes)
		}
		for k, v := range want.Attributes {
			if g := got.Attributes[k]; !g.Equal(v) || !reflect.DeepEqual(g.Strings(), v.Strings()) {
				t.Errorf("user %d %s: %#v, want %#v", i, k, g, v)
			}
		}
	}
}

// BenchmarkAppend packs 1,000 users of twelve attributes.
func BenchmarkAppend(b *testing.B) {
	users := make([]User, 1000)
	for i := range users {
		a := mapping.AttributeMap{"accountEnabled": mapping.Bool(true)}
		for j := range 11 {
			a[string(rune('a'+j))+"attribute"] = mapping.Str(strings.Repeat("v", 10+j))
		}
		users[i] = User{ID: "u", Attributes: a}
	}
	for b.Loop() {
		var l UserList
		for _, u := range users {
			l.Append(u)
		}
	}
}
