package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
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

	find   func(ctx context.Context, path, value string) ([]scimclient.Resource, error)
	list   func(ctx context.Context, pageSize int, fn func(scimclient.Resource) error) error
	create func(ctx context.Context, values map[string]any) (scimclient.Resource, error)
	patch  func(ctx context.Context, id string, changes []scimclient.Change) error
	del    func(ctx context.Context, id string) error
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

// userKind binds the user endpoints of the target.
func (e *Engine) userKind() *objectKind {
	p := e.o.Policy
	for _, m := range e.o.Users.Mappings {
		if m.Target == "active" || strings.HasSuffix(strings.ToLower(m.Target), ":active") {
			p.Active = m.Target
		}
	}
	k := newKind("user", store.KindUser, e.o.Users, p)
	k.find = e.tgt.FindUsers
	k.list = e.tgt.ListUsers
	k.create = func(ctx context.Context, v map[string]any) (scimclient.Resource, error) {
		return e.tgt.CreateUser(ctx, scimclient.BuildUser(v))
	}
	k.patch = func(ctx context.Context, id string, ch []scimclient.Change) error {
		if u, ok := e.tgt.(interface {
			UpdateUser(context.Context, string, []scimclient.Change) error
		}); ok {
			return u.UpdateUser(ctx, id, ch) // *scimclient.Client: the body for its mode and learned dialect
		}
		return e.tgt.PatchUser(ctx, id, scimclient.UserPatch(e.o.PatchMode, ch))
	}
	k.del = e.tgt.DeleteUser
	return k
}

// groupKind binds the group endpoints. Groups that leave the scope are deleted, as Entra does: a group
// has no active flag to turn off.
func (e *Engine) groupKind(gt GroupTarget) *objectKind {
	p := e.o.Policy
	p.Active, p.DeleteOutOfScope = "", true
	k := newKind("group", store.KindGroup, e.o.Groups, p)
	k.find = func(ctx context.Context, path, value string) ([]scimclient.Resource, error) {
		if !strings.EqualFold(path, "displayName") {
			return nil, fmt.Errorf("groups are matched by displayName only, not %s", path)
		}
		return gt.FindGroups(ctx, value)
	}
	k.list = gt.ListGroups
	k.create = func(ctx context.Context, v map[string]any) (scimclient.Resource, error) {
		// Entra creates groups with an empty member list and adds members by PATCH afterwards.
		return gt.CreateGroup(ctx, scimclient.BuildGroup(v))
	}
	k.patch = func(ctx context.Context, id string, ch []scimclient.Change) error {
		return gt.PatchGroup(ctx, id, scimclient.GroupPatch(e.o.PatchMode, ch))
	}
	k.del = gt.DeleteGroup
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
