package engine

import (
	"sort"
	"strings"

	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// objectKind is what differs between users and groups for the shared match, plan and apply steps:
// the mapping table, the policy, and the SCIM endpoints.
type objectKind struct {
	name   string
	store  store.Kind
	table  *mapping.Table
	types  map[string]mapping.TargetType
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
	k := &objectKind{name: name, store: sk, table: t, types: map[string]mapping.TargetType{}, policy: p}
	type mp struct {
		prec int
		path string
	}
	var ms []mp
	caseExact := map[string]bool{}
	for _, m := range t.Mappings {
		k.types[m.Target] = m.Type
		caseExact[m.Target] = m.CaseExact
		if !(m.Type == mapping.TypeReference && sk == store.KindGroup) {
			k.readPaths = append(k.readPaths, m.Target)
		}
		if m.Matching > 0 {
			ms = append(ms, mp{m.Matching, m.Target})
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].prec < ms[j].prec })
	for _, m := range ms {
		k.matchOrder = append(k.matchOrder, m.path)
	}
	if k.policy.CaseExact == nil {
		k.policy.CaseExact = func(p string) bool { return caseExact[p] }
	}
	return k
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

// export turns mapped Values into the JSON-able values the target receives, and splits off the
// reference attributes (which carry source ids until resolved).
func (k *objectKind) export(vals map[string]mapping.Value) (map[string]any, map[string]string) {
	out := make(map[string]any, len(vals))
	var refs map[string]string
	for path, v := range vals {
		switch k.types[path] {
		case mapping.TypeReference:
			if refs == nil {
				refs = map[string]string{}
			}
			refs[path] = v.String()
		case mapping.TypeBoolean:
			if b, ok := v.AsBool(); ok {
				out[path] = b
			} else {
				out[path] = v.String()
			}
		case mapping.TypeInteger:
			if n, ok := v.AsInt(); ok {
				out[path] = n
			} else {
				out[path] = v.String()
			}
		case mapping.TypeMulti:
			out[path] = append([]string(nil), v.Strings()...)
		default:
			out[path] = v.String()
		}
	}
	return out, refs
}
