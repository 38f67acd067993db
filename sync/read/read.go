// Package read is the cycle's read step: the users and groups rounds from Graph (delta or full), the
// app's assignments, and the users a delta round does not return but the cycle must evaluate again
// (assignment changes, escrows due, pending creates). It only reads: the state it consults comes
// through the read-only State, and what it learned is recorded by the record step once the cycle's
// changes were applied. Any read error aborts the cycle before anything is planned, so an outage can
// never look like mass unassignment.
package read

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
	"github.com/scimsync/scimsync/scoping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
)

// Directory reads the source tenant. graph.Reader implements it; tests use graphapi or a fake.
type Directory interface {
	// Users runs a users delta round: a full one when deltaLink is empty.
	Users(ctx context.Context, attrs []string, deltaLink string) (*directory.UserRound, error)
	// UsersByID reads specific users (who entered or left the assignment scope without changing
	// themselves); ids not found are left out.
	UsersByID(ctx context.Context, attrs []string, ids []string) ([]directory.User, error)
	// Groups runs a groups delta round with members.
	Groups(ctx context.Context, attrs []string, deltaLink string) (*directory.GroupRound, error)
	AppRoleAssignedTo(ctx context.Context, servicePrincipalID string) ([]directory.Assignment, error)
}

// State is what the read step consults in the job's state, read-only; store.State implements it.
type State interface {
	Watermark(name string) (string, error)
	Sets(name string) (map[string][]string, error)
	Escrows() ([]store.Escrow, error)
	Link(kind store.Kind, sourceID string) (store.Link, bool, error)
	Links(kind store.Kind) (map[string]store.Link, error)
}

// ErrAborted wraps an error that stopped a cycle before anything was written (a Graph outage, an
// incomplete page): nothing was planned, so nothing can be wrongly disabled.
var ErrAborted = errors.New("cycle aborted before any change was sent")

// Reader reads one cycle's directory.
type Reader struct {
	Dir   Directory
	State State
	// UserAttrs and GroupAttrs are the attributes to select: the mapped ones and those the scoping
	// filters use (see WithFilterAttributes).
	UserAttrs, GroupAttrs []string
	// Assigned is the assigned scope (users and groups assigned to the app) of ServicePrincipalID.
	Assigned           bool
	ServicePrincipalID string
	// Groups is set when groups are provisioned; Managers when a manager reference is mapped.
	Groups, Managers bool
	Now              func() time.Time
	Log              *zap.Logger
}

// Snapshot is what one cycle read from the directory, and what to record once it is applied.
type Snapshot struct {
	// users are the users to evaluate this cycle: every user in a full round; in a delta round the
	// changed users plus those whose assignment changed or who wait in escrow. The snapshot owns the
	// list: the engine releases each user as it evaluates it (and drops Groups once evaluated), since
	// the later steps need none of the directory's objects.
	Users directory.UserList
	// full is true when the users were read in a full round (initial cycle or forced resync).
	Full     bool
	UserLink string
	// assigned is the set of user ids in the assignment scope, nil when the scope is all users;
	// assignedGroups the same for groups.
	Assigned       map[string]bool
	AssignedGroups map[string]bool
	// roles holds each assigned user's app role values (direct and through groups), the computed
	// appRoleAssignments attribute; nil when the scope is all users.
	Roles map[string][]string

	GroupsRead bool
	GroupsFull bool
	GroupLink  string
	Groups     []directory.Group
	// members is the direct membership of every group after this round; membersPut/membersDel are
	// the changes to record.
	Members    map[string][]string
	MembersPut map[string][]string
	MembersDel []string
	// pending holds "kind/sourceID" of the creates sent in earlier cycles without a recorded answer.
	Pending map[string]bool
	// expired are the escrows of an incremental cycle that failed for 28 days: the service gives up on
	// such an object, so the cycle treats them as gone and the record step drops them.
	Expired []store.Escrow
}

// IsExpired reports whether es is one of the escrows the read found expired.
func (s *Snapshot) IsExpired(es store.Escrow) bool {
	for _, x := range s.Expired {
		if x.Kind == es.Kind && x.SourceID == es.SourceID {
			return true
		}
	}
	return false
}

// Read gets everything the cycle needs from the directory. Any error aborts the cycle (ErrAborted);
// an expired delta token falls back to a full round. initial forces full rounds.
func (r *Reader) Read(ctx context.Context, initial bool) (*Snapshot, error) {
	snap := &Snapshot{}
	userLink, groupLink := "", ""
	if !initial {
		var err error
		if userLink, err = r.State.Watermark("users"); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		if groupLink, err = r.State.Watermark("groups"); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
	}
	if err := r.readUsers(ctx, snap, userLink); err != nil {
		return nil, err
	}
	var err error

	var as []directory.Assignment
	var prev map[string][]string // the assignments the last cycle saw
	if r.Assigned {
		if as, err = r.Dir.AppRoleAssignedTo(ctx, r.ServicePrincipalID); err != nil {
			return nil, fmt.Errorf("%w: read app assignments from Graph: %w", ErrAborted, err)
		}
		if prev, err = r.State.Sets(store.SetAssignments); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		snap.AssignedGroups = assignedGroups(as)
		// A newly assigned group must be read whole (its attributes are not in a delta round unless
		// it changed): an assignment change of groups makes the group round a full one.
		if groupLink != "" && r.Groups && !sameSet(prev["groups"], snap.AssignedGroups) {
			groupLink = ""
		}
	}
	escrows, err := r.State.Escrows()
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	pending, err := r.State.Sets(store.SetPendingCreates)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	snap.Pending = make(map[string]bool, len(pending))
	pendingGroup := false
	for k := range pending {
		snap.Pending[k] = true
		pendingGroup = pendingGroup || strings.HasPrefix(k, string(store.KindGroup)+"/")
	}
	now := r.Now()
	if groupLink != "" && r.Groups && pendingGroup {
		// A group created without its answer recorded did not change in the directory: read all
		// groups, so it is looked up again.
		groupLink = ""
	}
	if groupLink != "" && r.Groups && groupEscrowDue(escrows, now) {
		// A group that failed (its create, update or members) did not change in the directory, so a delta
		// round would not return it: read the groups whole and plan every one again. Groups are few next
		// to users, and this happens only when an escrow is due.
		r.Log.Info("a group waits in escrow; reading all groups to retry it")
		groupLink = ""
	}
	if r.Assigned || r.Groups {
		if err := r.ReadGroups(ctx, snap, groupLink); err != nil {
			return nil, err
		}
	}
	if r.Assigned {
		snap.Assigned, snap.Roles = AssignedUsers(as, snap.Members)
	}

	if snap.Full {
		return snap, nil
	}
	if err := r.readMore(ctx, snap, prev, escrows, now); err != nil {
		return nil, err
	}
	return snap, nil
}

// readMore completes a delta round: it only returns users that changed themselves, so users who were
// assigned or unassigned (directly or through a group), users waiting in escrow or with a create
// pending, and users about to be linked whose manager the round did not name are read by id.
func (r *Reader) readMore(ctx context.Context, snap *Snapshot, prev map[string][]string, escrows []store.Escrow, now time.Time) error {
	seen := make(map[string]bool, snap.Users.Len())
	for i := range snap.Users.Len() {
		seen[snap.Users.ID(i)] = true
	}
	extra := map[string]bool{}
	if snap.Assigned != nil {
		was := map[string]bool{}
		for _, id := range prev["users"] {
			was[id] = true
			if !snap.Assigned[id] {
				extra[id] = true
			}
		}
		for id := range snap.Assigned {
			if !was[id] {
				extra[id] = true
			}
		}
		// A user whose assigned roles changed is read again: appRoleAssignments may be mapped.
		for id := range diffRoles(prev["roles"], snap.Roles) {
			extra[id] = true
		}
	}
	for k := range snap.Pending {
		if id, ok := strings.CutPrefix(k, string(store.KindUser)+"/"); ok {
			extra[id] = true
		}
	}
	for _, es := range escrows {
		switch {
		case escrow.Expired(es, now):
			// 28 days of failures: give up on the object, as the service drops the escrow entry (the
			// record step drops it; the read writes nothing).
			snap.Expired = append(snap.Expired, es)
		case es.Kind != store.KindUser:
		case escrow.DueAt(es, now):
			extra[es.SourceID] = true
		}
	}
	if err := r.managerless(snap, extra, seen); err != nil {
		return err
	}
	var ids []string
	for id := range extra {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	return r.readByID(ctx, snap, ids)
}

// managerless adds the users to read whole because of their manager. A delta record names the manager
// only when it changed (manager@delta). A user about to be linked for the first time (newly assigned,
// re-enabled, back in the filters) needs its manager all the same, or its reference would never be set.
func (r *Reader) managerless(snap *Snapshot, extra, seen map[string]bool) error {
	if !r.Managers {
		return nil
	}
	var ids []string
	for i := range snap.Users.Len() {
		u := snap.Users.At(i)
		if u.ManagerKnown || u.Removed != directory.NotRemoved || (snap.Assigned != nil && !snap.Assigned[u.ID]) {
			continue
		}
		ids = append(ids, u.ID)
	}
	linked, err := managed(r.State, ids)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	for _, id := range ids {
		if !linked[id] {
			extra[id] = true
			delete(seen, id)
		}
	}
	return nil
}

// managedChunk is how many links managed reads in one transaction.
const managedChunk = 4096

// managed reports which of ids have a managed user link, reading them a chunk at a time (linksOf:
// from a state that reads links packed, one transaction per chunk and no value decoded). A mass
// change asks for every user, and one whole Link per user was 2.5 % of such a cycle's CPU at 100,000
// users, with a map of values made and dropped for each.
func managed(st State, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	for start := 0; start < len(ids); start += managedChunk {
		links, err := linksOf(st, ids[start:min(start+managedChunk, len(ids))], true)
		if err != nil {
			return nil, err
		}
		for id, a := range links {
			out[id] = a.Managed
		}
	}
	return out, nil
}

// readByID reads users by id; a user read whole replaces its delta record.
func (r *Reader) readByID(ctx context.Context, snap *Snapshot, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	more, err := r.Dir.UsersByID(ctx, r.UserAttrs, ids)
	if err != nil {
		return fmt.Errorf("%w: read %d users by id from Graph: %v", ErrAborted, len(ids), err)
	}
	byID := make(map[string]bool, len(more))
	for _, u := range more {
		byID[u.ID] = true
	}
	snap.Users.Keep(func(id string) bool { return !byID[id] })
	for _, u := range more {
		snap.Users.Append(u)
	}
	return nil
}

// readUsers runs the users round; an expired delta token falls back to a full round.
func (r *Reader) readUsers(ctx context.Context, snap *Snapshot, link string) error {
	round, err := r.Dir.Users(ctx, r.UserAttrs, link)
	if errors.Is(err, directory.ErrResyncRequired) && link != "" {
		r.Log.Warn("Graph no longer accepts the users watermark; running a full round and reconciling", zap.Error(err))
		round, err = r.Dir.Users(ctx, r.UserAttrs, "")
	}
	if err != nil {
		return fmt.Errorf("%w: read users from Graph: %w", ErrAborted, err)
	}
	snap.Full = link == "" || round.Full
	snap.UserLink = round.DeltaLink
	// The snapshot's own list: the engine releases each user as it evaluates it (see Snapshot.Users).
	snap.Users = round.Users
	return nil
}

// groupEscrowDue reports whether a group waits in escrow and is due for a retry. Expired escrows count
// too: the next full round plans the group once more, and the record step keeps or clears it then.
func groupEscrowDue(escrows []store.Escrow, now time.Time) bool {
	for _, es := range escrows {
		if es.Kind == store.KindGroup && escrow.DueAt(es, now) {
			return true
		}
	}
	return false
}

// ReadGroups reads a groups round and folds its membership changes into the stored member lists.
func (r *Reader) ReadGroups(ctx context.Context, snap *Snapshot, link string) error {
	attrs := r.GroupAttrs
	gr, err := r.Dir.Groups(ctx, attrs, link)
	if errors.Is(err, directory.ErrResyncRequired) && link != "" {
		r.Log.Warn("Graph no longer accepts the groups watermark; running a full round", zap.Error(err))
		link = ""
		gr, err = r.Dir.Groups(ctx, attrs, "")
	}
	if err != nil {
		return fmt.Errorf("%w: read groups from Graph: %w", ErrAborted, err)
	}
	snap.GroupsRead, snap.GroupsFull, snap.GroupLink, snap.Groups = true, link == "" || gr.Full, gr.DeltaLink, gr.Groups
	snap.Members = map[string][]string{}
	snap.MembersPut = map[string][]string{}
	if !snap.GroupsFull && !snap.Full {
		prev, err := r.State.Sets(store.SetGroupMembers)
		if err != nil {
			return fmt.Errorf("read state: %w", err)
		}
		snap.Members = prev
	}
	for _, g := range gr.Groups {
		if g.Removed != directory.NotRemoved {
			delete(snap.Members, g.ID)
			snap.MembersDel = append(snap.MembersDel, g.ID)
			continue
		}
		if !g.MembersKnown && !snap.GroupsFull {
			continue
		}
		cur := map[string]bool{}
		if !snap.GroupsFull {
			for _, id := range snap.Members[g.ID] {
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
		list := SortedKeys(cur)
		snap.Members[g.ID] = list
		snap.MembersPut[g.ID] = list
	}
	if snap.Full {
		// A full users round is reconciled against a full membership picture.
		snap.GroupsFull = true
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

// AssignedUsers computes the assignment scope: users assigned directly, and the direct members of
// assigned groups (nested groups are not expanded, as in Entra); and each user's role values.
func AssignedUsers(as []directory.Assignment, members map[string][]string) (map[string]bool, map[string][]string) {
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

// RoleEntries renders roles for the state store, one "id=Role1,Role2" entry per user with roles.
func RoleEntries(roles map[string][]string) []string {
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

// WithFilterAttributes adds the scoping filters' attributes to the mapped ones: both must be read.
func WithFilterAttributes(attrs []string, s *scoping.Set) []string {
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

// SortedKeys lists a set's members in order, as the state stores sets; never nil, since a group's
// empty member list is a change to record (see members.Input).
func SortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// packedLinks is a state that reads links with only some of their values (store.Store.LinksPacked).
type packedLinks interface {
	LinksPacked(kind store.Kind) (map[string]store.Link, error)
	LinksPackedOf(kind store.Kind, ids []string) (map[string]store.Link, error)
}

// Links reads the stored user links a cycle needs: after a full round all of them, with the managed
// users the round no longer returned (missing, sorted; ids are the users it returned: the engine has
// dropped the directory's objects by then), otherwise only those of ids, so that a quiet incremental
// cycle costs little even with 100,000 linked users.
//
// With packed, a state that can (packedLinks) reads the links with their values left in their record
// (store.Link.Packed) for the planning to restore a part at a time: a full round, or an incremental
// one in which many users changed, holds no link's values decoded.
func Links(st State, snap *Snapshot, ids []string, packed bool) (links map[string]store.Link, missing []string, err error) {
	if snap.Full {
		var links map[string]store.Link
		var err error
		if p, ok := st.(packedLinks); ok && packed {
			links, err = p.LinksPacked(store.KindUser)
		} else {
			links, err = st.Links(store.KindUser)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read state: %w", err)
		}
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			seen[id] = true
		}
		for id, a := range links {
			if a.Managed && !seen[id] {
				missing = append(missing, id)
			}
		}
		sort.Strings(missing)
		return links, missing, nil
	}
	if links, err = linksOf(st, ids, packed); err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	return links, nil, nil
}

// linksOf reads the user links of ids that exist: packed and in one transaction from a state that
// can (packedLinks), else one Link each.
func linksOf(st State, ids []string, packed bool) (map[string]store.Link, error) {
	if p, ok := st.(packedLinks); ok && packed {
		return p.LinksPackedOf(store.KindUser, ids)
	}
	links := make(map[string]store.Link, len(ids))
	for _, id := range ids {
		if _, done := links[id]; done || id == "" {
			continue
		}
		a, ok, err := st.Link(store.KindUser, id)
		if err != nil {
			return nil, err
		}
		if ok {
			links[id] = a
		}
	}
	return links, nil
}
