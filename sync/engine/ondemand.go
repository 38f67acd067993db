package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/pack"
	"github.com/scimsync/scimsync/sync/read"
	"github.com/scimsync/scimsync/sync/summary"
)

// OnDemand is the outcome of provisioning chosen users now, with every step for each of them.
type OnDemand struct {
	Report *Report
	// Users are the users read from the directory, with their source attributes.
	Users []directory.User
	// Entries hold, per user, the steps (import, scoping, matching, processing, export) and the
	// attributes sent, also for users that needed nothing.
	Entries []store.LogEntry
	// NotFound lists requested ids the directory does not know.
	NotFound []string
}

// Provision provisions the given users now, outside the schedule, like the portal's "Provision on
// demand": read them by id (object id or userPrincipalName), scope them against the current
// assignments and filters, match, and send what they need, manager link included. The watermark does
// not move. With Options.DryRun nothing is sent or recorded.
func (e *Engine) Provision(ctx context.Context, ids []string) (*OnDemand, error) {
	rep := &Report{CycleID: newID(), Started: e.o.Now(), Kind: summary.CycleOnDemand}
	ctx, restore := e.forCycle(ctx, rep.CycleID)
	defer restore()
	out := &OnDemand{Report: rep}
	// Every user gets its steps: the log's entries for those that changed (kept here as they are
	// made; the cycle's writes are serialised by the lock the report is counted under), fresh ones for
	// the rest.
	var logged []store.LogEntry
	defer e.startLog(rep, func(le store.LogEntry) { logged = append(logged, le) })()
	attrs := read.WithFilterAttributes(e.o.Users.Attributes(), e.o.UserScoping)
	users, err := e.dir.UsersByID(ctx, attrs, ids)
	if err != nil {
		return out, fmt.Errorf("%w: read users from Graph: %w", ErrAborted, err)
	}
	out.NotFound = notFound(ids, users)
	out.Users = users
	snap := &read.Snapshot{Users: directory.ListOf(users...)}
	if e.o.Scope == ScopeAssigned {
		as, err := e.dir.AppRoleAssignedTo(ctx, e.o.ServicePrincipalID)
		if err != nil {
			return out, fmt.Errorf("%w: read app assignments from Graph: %w", ErrAborted, err)
		}
		members, err := e.st.Sets(store.SetGroupMembers)
		if err != nil {
			return out, fmt.Errorf("read state: %w", err)
		}
		if len(members) == 0 {
			// No cycle has stored the groups' members yet: read them.
			if err := e.reader().ReadGroups(ctx, snap, ""); err != nil {
				return out, err
			}
			members = snap.Members
		}
		snap.Assigned, snap.Roles = read.AssignedUsers(as, members)
	}
	rep.Read = len(users)
	objs, refs := e.eval.Users(users, snap.Assigned, snap.Roles, true)
	links, _, err := e.loadLinks(snap, objs, refs, false)
	if err != nil {
		return out, err
	}
	changes, err := e.planKind(ctx, e.users, objs, links, refs, false)
	if err != nil {
		return out, e.fatal(rep, err)
	}
	if e.o.DryRun {
		countPlanned(rep, &rep.Counts, changes)
		for _, c := range changes {
			out.Entries = append(out.Entries, e.entry(rep, e.users, c, nil, false))
		}
		rep.Finished = e.o.Now()
		return out, nil
	}
	// apply takes over the changes it is given (it reorders and clears them); the entries below need them.
	if _, err := e.apply(ctx, e.users, rep, &rep.Counts, slices.Clone(changes), refs, links); err != nil {
		return out, err
	}
	planned := pack.IDsOf(objs).All
	linked, err := e.linkReferences(ctx, rep, planned, links, false, false)
	if err != nil {
		return out, err
	}
	if err := e.recordEscrows(rep, store.KindUser, nil, planned, linked...); err != nil {
		return out, err
	}
	seen := map[string]bool{}
	for _, le := range logged {
		seen[le.SourceID] = true
		out.Entries = append(out.Entries, le)
	}
	for _, c := range changes {
		if !seen[c.SourceID] {
			out.Entries = append(out.Entries, e.entry(rep, e.users, c, nil, false))
		}
	}
	sort.SliceStable(out.Entries, func(i, j int) bool { return out.Entries[i].Identity < out.Entries[j].Identity })
	rep.Finished = e.o.Now()
	return out, nil
}

// notFound lists the requested ids the directory did not return. A user asked for by
// userPrincipalName is found by it case-insensitively, as Entra compares UPNs; a guest's attribute
// holds the stripped form (alias@theirdomain, see directory.StripGuestUPN), so the requested "#EXT#"
// name is compared in that form too.
func notFound(ids []string, users []directory.User) []string {
	found := map[string]bool{}
	for _, u := range users {
		found[strings.ToLower(u.ID)] = true
		if v, ok := u.Attributes.Lookup("userPrincipalName"); ok {
			found[strings.ToLower(v.String())] = true
		}
	}
	var out []string
	for _, id := range ids {
		lower := strings.ToLower(id)
		if !found[lower] && !found[directory.StripGuestUPN(strings.ReplaceAll(lower, "#ext#", "#EXT#"))] {
			out = append(out, id)
		}
	}
	return out
}
