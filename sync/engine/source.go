package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scoping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/plan"
)

// snapshot is what one cycle read from the directory, and what to record once it is applied.
type snapshot struct {
	// users are the users to evaluate this cycle: every user in a full round; in a delta round the
	// changed users plus those whose assignment changed or who wait in escrow.
	users []directory.User
	// full is true when the users were read in a full round (initial cycle or forced resync).
	full     bool
	userLink string
	// assigned is the set of user ids in the assignment scope, nil when the scope is all users;
	// assignedGroups the same for groups.
	assigned       map[string]bool
	assignedGroups map[string]bool
	// roles holds each assigned user's app role values (direct and through groups), the computed
	// appRoleAssignments attribute; nil when the scope is all users.
	roles map[string][]string

	groupsRead bool
	groupsFull bool
	groupLink  string
	groups     []directory.Group
	// members is the direct membership of every group after this round; membersPut/membersDel are
	// the changes to record.
	members    map[string][]string
	membersPut map[string][]string
	membersDel []string
	// pending holds "kind/sourceID" of the creates sent in earlier cycles without a recorded answer.
	pending map[string]bool
}

// read gets everything the cycle needs from the directory. Any error aborts the cycle (ErrAborted);
// an expired delta token falls back to a full round.
func (e *Engine) read(ctx context.Context, initial bool) (*snapshot, error) {
	snap := &snapshot{}
	attrs := withFilterAttributes(e.o.Users.Attributes(), e.o.UserScoping)
	userLink, groupLink := "", ""
	if !initial {
		var err error
		if userLink, err = e.st.Watermark("users"); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		if groupLink, err = e.st.Watermark("groups"); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
	}
	round, err := e.dir.Users(ctx, attrs, userLink)
	if errors.Is(err, directory.ErrResyncRequired) && userLink != "" {
		e.log.Warn("Graph no longer accepts the users watermark; running a full round and reconciling", zap.Error(err))
		round, err = e.dir.Users(ctx, attrs, "")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read users from Graph: %w", ErrAborted, err)
	}
	snap.full = userLink == "" || round.Full
	snap.userLink = round.DeltaLink
	snap.users = round.Users

	var as []directory.Assignment
	var prev map[string][]string // the assignments the last cycle saw
	if e.o.Scope == ScopeAssigned {
		if as, err = e.dir.AppRoleAssignedTo(ctx, e.o.ServicePrincipalID); err != nil {
			return nil, fmt.Errorf("%w: read app assignments from Graph: %w", ErrAborted, err)
		}
		if prev, err = e.st.Sets(store.SetAssignments); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		snap.assignedGroups = assignedGroups(as)
		// A newly assigned group must be read whole (its attributes are not in a delta round unless
		// it changed): an assignment change of groups makes the group round a full one.
		if groupLink != "" && e.groups != nil && !sameSet(prev["groups"], snap.assignedGroups) {
			groupLink = ""
		}
	}
	escrows, err := e.st.Escrows()
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	pending, err := e.st.Sets(store.SetPendingCreates)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	snap.pending = make(map[string]bool, len(pending))
	pendingGroup := false
	for k := range pending {
		snap.pending[k] = true
		pendingGroup = pendingGroup || strings.HasPrefix(k, string(store.KindGroup)+"/")
	}
	now := e.o.Now()
	if groupLink != "" && e.groups != nil && pendingGroup {
		// A group created without its answer recorded did not change in the directory: read all
		// groups, so it is looked up again.
		groupLink = ""
	}
	if groupLink != "" && e.groups != nil && groupEscrowDue(escrows, now) {
		// A group that failed (its create, update or members) did not change in the directory, so a delta
		// round would not return it: read the groups whole and plan every one again. Groups are few next
		// to users, and this happens only when an escrow is due.
		e.log.Info("a group waits in escrow; reading all groups to retry it")
		groupLink = ""
	}
	if e.o.Scope == ScopeAssigned || e.groups != nil {
		if err := e.readGroups(ctx, snap, groupLink); err != nil {
			return nil, err
		}
	}
	if e.o.Scope == ScopeAssigned {
		snap.assigned, snap.roles = assignedUsers(as, snap.members)
	}

	if snap.full {
		return snap, nil
	}
	seen := make(map[string]bool, len(snap.users))
	for _, u := range snap.users {
		seen[u.ID] = true
	}
	// A delta round only returns users that changed themselves; users who were assigned or
	// unassigned (directly or through a group) and users waiting in escrow are read by id.
	extra := map[string]bool{}
	if snap.assigned != nil {
		was := map[string]bool{}
		for _, id := range prev["users"] {
			was[id] = true
			if !snap.assigned[id] {
				extra[id] = true
			}
		}
		for id := range snap.assigned {
			if !was[id] {
				extra[id] = true
			}
		}
		// A user whose assigned roles changed is read again: appRoleAssignments may be mapped.
		for id := range diffRoles(prev["roles"], snap.roles) {
			extra[id] = true
		}
	}
	for k := range snap.pending {
		if id, ok := strings.CutPrefix(k, string(store.KindUser)+"/"); ok {
			extra[id] = true
		}
	}
	for _, es := range escrows {
		switch {
		case escrow.Expired(es, now):
			// 28 days of failures: give up on the object, as the service drops the escrow entry.
			e.log.Warn("dropping an escrow after 28 days of failures", zap.String("kind", string(es.Kind)),
				zap.String("object", es.SourceID), zap.String("error", es.Error))
			if err := e.st.DeleteEscrow(es.Kind, es.SourceID); err != nil {
				return nil, fmt.Errorf("drop escrow: %w", err)
			}
		case es.Kind != store.KindUser:
		case escrow.DueAt(es, now):
			extra[es.SourceID] = true
		}
	}
	// A delta record names the manager only when it changed (manager@delta). A user about to be linked
	// for the first time (newly assigned, re-enabled, back in the filters) needs its manager all the
	// same, or its reference would never be set: read it whole.
	if len(e.refs) > 0 {
		for i := range snap.users {
			u := &snap.users[i]
			if u.ManagerKnown || u.Removed != directory.NotRemoved || (snap.assigned != nil && !snap.assigned[u.ID]) {
				continue
			}
			a, ok, err := e.st.Anchor(store.KindUser, u.ID)
			if err != nil {
				return nil, fmt.Errorf("read state: %w", err)
			}
			if !ok || !a.Managed {
				extra[u.ID] = true
				delete(seen, u.ID)
			}
		}
	}
	var ids []string
	for id := range extra {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		more, err := e.dir.UsersByID(ctx, attrs, ids)
		if err != nil {
			return nil, fmt.Errorf("%w: read %d users by id from Graph: %v", ErrAborted, len(ids), err)
		}
		// A user read whole replaces its delta record.
		byID := make(map[string]bool, len(more))
		for _, u := range more {
			byID[u.ID] = true
		}
		kept := snap.users[:0]
		for _, u := range snap.users {
			if !byID[u.ID] {
				kept = append(kept, u)
			}
		}
		snap.users = append(kept, more...)
	}
	return snap, nil
}

// groupEscrowDue reports whether a group waits in escrow and is due for a retry. Expired escrows count
// too: the next full round plans the group once more, and recordEscrows keeps or clears it then.
func groupEscrowDue(escrows []store.Escrow, now time.Time) bool {
	for _, es := range escrows {
		if es.Kind == store.KindGroup && escrow.DueAt(es, now) {
			return true
		}
	}
	return false
}

// readGroups reads a groups round and folds its membership changes into the stored member lists.
func (e *Engine) readGroups(ctx context.Context, snap *snapshot, link string) error {
	var attrs []string
	if e.o.Groups != nil {
		attrs = withFilterAttributes(e.o.Groups.Attributes(), e.o.GroupScoping)
	}
	gr, err := e.dir.Groups(ctx, attrs, link)
	if errors.Is(err, directory.ErrResyncRequired) && link != "" {
		e.log.Warn("Graph no longer accepts the groups watermark; running a full round", zap.Error(err))
		link = ""
		gr, err = e.dir.Groups(ctx, attrs, "")
	}
	if err != nil {
		return fmt.Errorf("%w: read groups from Graph: %w", ErrAborted, err)
	}
	snap.groupsRead, snap.groupsFull, snap.groupLink, snap.groups = true, link == "" || gr.Full, gr.DeltaLink, gr.Groups
	snap.members = map[string][]string{}
	snap.membersPut = map[string][]string{}
	if !snap.groupsFull && !snap.full {
		prev, err := e.st.Sets(store.SetGroupMembers)
		if err != nil {
			return fmt.Errorf("read state: %w", err)
		}
		snap.members = prev
	}
	for _, g := range gr.Groups {
		if g.Removed != directory.NotRemoved {
			delete(snap.members, g.ID)
			snap.membersDel = append(snap.membersDel, g.ID)
			continue
		}
		if !g.MembersKnown && !snap.groupsFull {
			continue
		}
		cur := map[string]bool{}
		if !snap.groupsFull {
			for _, id := range snap.members[g.ID] {
				cur[id] = true
			}
		}
		for _, m := range g.Members {
			if m.Removed {
				delete(cur, m.ID)
			} else {
				cur[m.ID] = true
			}
		}
		list := sortedKeys(cur)
		snap.members[g.ID] = list
		snap.membersPut[g.ID] = list
	}
	if snap.full {
		// A full users round is reconciled against a full membership picture.
		snap.groupsFull = true
	}
	return nil
}

// assignedGroups is the set of groups assigned to the app.
func assignedGroups(as []directory.Assignment) map[string]bool {
	out := map[string]bool{}
	for _, a := range as {
		if strings.EqualFold(a.PrincipalType, "group") {
			out[a.PrincipalID] = true
		}
	}
	return out
}

// sameSet reports whether list holds exactly the keys of set.
func sameSet(list []string, set map[string]bool) bool {
	if len(list) != len(set) {
		return false
	}
	for _, id := range list {
		if !set[id] {
			return false
		}
	}
	return true
}

// assignedUsers computes the assignment scope: users assigned directly, and the direct members of
// assigned groups (nested groups are not expanded, as in Entra); and each user's role values.
func assignedUsers(as []directory.Assignment, members map[string][]string) (map[string]bool, map[string][]string) {
	users := map[string]bool{}
	roles := map[string][]string{}
	add := func(id, role string) {
		users[id] = true
		if role != "" && !slices.Contains(roles[id], role) {
			roles[id] = append(roles[id], role)
		}
	}
	for _, a := range as {
		switch strings.ToLower(a.PrincipalType) {
		case "user":
			add(a.PrincipalID, a.AppRole)
		case "group":
			for _, id := range members[a.PrincipalID] {
				add(id, a.AppRole)
			}
		}
	}
	for _, r := range roles {
		sort.Strings(r)
	}
	return users, roles
}

// roleEntries renders roles for the state store, one "id=Role1,Role2" entry per user with roles.
func roleEntries(roles map[string][]string) []string {
	out := make([]string, 0, len(roles))
	for id, r := range roles {
		out = append(out, id+"="+strings.Join(r, ","))
	}
	sort.Strings(out)
	return out
}

// diffRoles returns the users whose roles differ between the stored entries and roles.
func diffRoles(prev []string, roles map[string][]string) map[string]bool {
	before := map[string]string{}
	for _, e := range prev {
		id, r, _ := strings.Cut(e, "=")
		before[id] = r
	}
	out := map[string]bool{}
	for id, r := range roles {
		if before[id] != strings.Join(r, ",") {
			out[id] = true
		}
		delete(before, id)
	}
	for id := range before {
		out[id] = true
	}
	return out
}

// missingUsers plans linked users that a full round no longer returns as gone from the directory.
// Graph cannot tell a soft delete from a hard delete here, so they are disabled (never deleted): the
// safe choice, and what the service does for soft-deleted users.
func (e *Engine) missingUsers(uk *objectKind, ids []string) []plan.Object {
	out := make([]plan.Object, 0, len(ids))
	for _, id := range ids {
		// Treated like a soft delete: disabled and still managed.
		o := plan.Object{SourceID: id, Identity: id, InScope: true, ScopeReason: "no longer in the directory"}
		d, err := e.o.Users.Evaluate(mapping.AttributeMap{"IsSoftDeleted": mapping.Bool(true), "objectId": mapping.Str(id)}, e.o.Env, false)
		if err != nil {
			o.Err = fmt.Errorf("evaluate mappings for %s: %w", id, err)
		} else {
			o.Values, _ = uk.export(d.Values)
		}
		out = append(out, o)
	}
	return out
}

// withFilterAttributes adds the scoping filters' attributes to the mapped ones: both must be read.
func withFilterAttributes(attrs []string, s *scoping.Set) []string {
	seen := map[string]bool{}
	for _, a := range attrs {
		seen[a] = true
	}
	for _, a := range s.Attributes() {
		if !seen[a] {
			attrs = append(attrs, a)
		}
	}
	return attrs
}
