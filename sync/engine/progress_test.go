package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/sync/plan"
)

// phaseLog records what the engine reports, in order.
type phaseLog struct {
	mu       sync.Mutex
	order    []string
	total    map[string]int
	done     map[string]int
	cur      string
	outcomes map[string]int
}

func (p *phaseLog) Start(phase string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.order = append(p.order, phase)
	p.total[phase], p.cur = total, phase
}

func (p *phaseLog) Done(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[p.cur] += n
}

func (p *phaseLog) Outcome(op plan.Op, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outcomes[fmt.Sprintf("%s/%v", op, failed)]++
}

func TestProgressReportsEveryPhase(t *testing.T) {
	// Three enabled users (one of them fails to be created) and one disabled: 4 matched, 3 sent.
	dir := &fakeDir{users: []directory.User{
		user("a", "ann@contoso.com", "Engineer", "", true),
		user("b", "bob@contoso.com", "Lead", "", true),
		user("c", "cy@contoso.com", "CTO", "", true),
		user("d", "dan@contoso.com", "Intern", "", false),
	}}
	tgt := &failingTarget{fakeTarget: newFakeTarget(), fail: "bob@contoso.com"}
	p := &phaseLog{total: map[string]int{}, done: map[string]int{}, outcomes: map[string]int{}}
	e := newEngine(t, dir, tgt, openStore(t), ScopeAll)
	e.o.Progress = p
	if _, err := e.Cycle(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(p.order, ","), "reading,matching,users,managers"; got != want {
		t.Errorf("phases = %s, want %s", got, want)
	}
	for phase, want := range map[string][2]int{PhaseReading: {0, 0}, PhaseMatching: {4, 4}, PhaseUsers: {3, 3}, PhaseManagers: {0, 0}} {
		if p.done[phase] != want[0] || p.total[phase] != want[1] {
			t.Errorf("%s: done %d of %d, want %d of %d", phase, p.done[phase], p.total[phase], want[0], want[1])
		}
	}
	if p.outcomes["create/false"] != 2 || p.outcomes["create/true"] != 1 || len(p.outcomes) != 2 {
		t.Errorf("outcomes = %v, want 2 created and 1 failed create", p.outcomes)
	}
}

// failingTarget refuses to create one userName.
type failingTarget struct {
	*fakeTarget
	fail string
}

func (f *failingTarget) Create(ctx context.Context, values map[string]any) (string, error) {
	if values["userName"] == f.fail {
		return "", fmt.Errorf("injected: create %s refused", f.fail)
	}
	return f.fakeTarget.Create(ctx, values)
}
