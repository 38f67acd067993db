package evaluate

import (
	"fmt"
	"testing"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
)

// BenchmarkDrain evaluates 10,000 packed users of twelve attributes; the allocations per user are
// what a large initial cycle pays in evaluation (run with -benchmem).
func BenchmarkDrain(b *testing.B) {
	ev := New(table(b), nil, nil, nil, &mapping.Env{})
	const n = 10000
	users := make([]directory.User, n)
	for i := range users {
		a := mapping.AttributeMap{"userPrincipalName": mapping.Str(fmt.Sprintf("user%d@x", i)),
			"accountEnabled": mapping.Bool(true), "manager": mapping.Str("m")}
		for j := range 9 {
			a[fmt.Sprint("extra", j)] = mapping.Str(fmt.Sprint("value", i, j))
		}
		users[i] = directory.User{ID: fmt.Sprintf("u%05d", i), Attributes: a}
	}
	for b.Loop() {
		b.StopTimer()
		list := directory.ListOf(users...)
		b.StartTimer()
		ev.Drain(&list, nil, nil, true, nil)
	}
}
