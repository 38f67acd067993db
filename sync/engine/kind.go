package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/match"
	"github.com/scimsync/scimsync/sync/plan"
)

// objectKind is what differs between users and groups for the shared match, plan and apply steps:
// the policy, the matching and read-back paths of the mapping table, and the target's objects.
type objectKind struct {
	name   string
	store  store.Kind
	policy plan.Policy
	// matchOrder lists the matching target paths in precedence order; readPaths every mapped path
	// read back from a found target object (references too, so a matched user's manager is known;
	// group members are tracked apart).
	matchOrder []string
	readPaths  []string

	// tgt is the target's objects of this kind.
	tgt Objects
}

func newKind(name string, sk store.Kind, t *mapping.Table, p plan.Policy) *objectKind {
	k := &objectKind{name: name, store: sk, policy: p}
	caseExact := map[string]bool{}
	for _, m := range t.Mappings {
		caseExact[m.Target] = m.CaseExact
	}
	k.matchOrder, k.readPaths = match.Paths(t, sk == store.KindGroup)
	if k.policy.CaseExact == nil {
		k.policy.CaseExact = func(p string) bool { return caseExact[p] }
	}
	return k
}

// matcher matches objects of kind k against the target.
func (e *Engine) matcher(k *objectKind) *match.Matcher {
	return &match.Matcher{Finder: k.tgt, Kind: k.name, Order: k.matchOrder, Read: k.readPaths,
		Concurrency: e.o.Concurrency, ListThreshold: e.o.ListThreshold, Log: e.log}
}

// matchErr makes a missing matching attribute abort the cycle.
func matchErr(err error) error {
	if errors.Is(err, match.ErrNoAttribute) {
		return fmt.Errorf("%w: %w", ErrAborted, err)
	}
	return err
}

// userKind binds the user mappings and policy to the target's users.
func (e *Engine) userKind(users Objects) *objectKind {
	p := e.o.Policy
	for _, m := range e.o.Users.Mappings {
		if m.Target == "active" || strings.HasSuffix(strings.ToLower(m.Target), ":active") {
			p.Active = m.Target
		}
	}
	k := newKind("user", store.KindUser, e.o.Users, p)
	k.tgt = users
	return k
}

// groupKind binds the group mappings to the target's groups. Groups that leave the scope are deleted,
// as Entra does: a group has no active flag to turn off.
func (e *Engine) groupKind(groups Groups) *objectKind {
	p := e.o.Policy
	p.Active, p.DeleteOutOfScope = "", true
	k := newKind("group", store.KindGroup, e.o.Groups, p)
	k.tgt = groups
	return k
}
