// Package target is the SCIM client in the sync engine's terms (sync/engine's Objects and Groups):
// found objects with their values, flat values to create, attribute changes, member ids, and batches
// of writes for a target that offers SCIM Bulk. The protocol (request bodies, PATCH shapes, the
// compatibility mode, the learned dialect, retries) stays in package scimclient; the engine never
// sees a SCIM type.
package target

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/sync/plan"
)

// listPageSize is the page size of the listing an initial cycle matches against: large pages, because
// one listing replaces thousands of filter queries.
const listPageSize = 500

// ErrMatchPath is returned when groups are asked to be matched by anything but displayName, the only
// group matching attribute Entra uses.
var ErrMatchPath = errors.New("groups are matched by displayName only")

// UserTarget is the target's users in the sync engine's terms: found objects with the values the engine
// reads back, attribute changes, ids. The request bodies, PATCH shapes, the compatibility Mode and the
// learned Dialect stay behind it, in the client.
type UserTarget struct {
	c    *scimclient.Client
	bulk *bulkUse
}

// GroupTarget is the target's groups in the sync engine's terms, members included.
type GroupTarget struct {
	c    *scimclient.Client
	bulk *bulkUse
}

// Users returns the client's users as the engine's target.
func Users(c *scimclient.Client) UserTarget { return UserTarget{c: c} }

// Groups returns the client's groups as the engine's target.
func Groups(c *scimclient.Client) GroupTarget { return GroupTarget{c: c} }

// Find returns the users whose attribute at path equals value (see FindUsers), each with its values at
// the read paths.
func (t UserTarget) Find(ctx context.Context, path, value string, read []string) ([]plan.Candidate, error) {
	rs, err := t.c.FindUsers(ctx, path, value)
	return candidates(rs, read), err
}

// List walks every user (see ListUsers).
func (t UserTarget) List(ctx context.Context, read []string, fn func(plan.Candidate) error) error {
	return t.c.ListUsers(ctx, listPageSize, func(r scimclient.Resource) error { return fn(candidate(r, read)) })
}

// Create posts a user built from flat values (see scimclient.BuildUser) and returns its id.
func (t UserTarget) Create(ctx context.Context, values map[string]any) (string, error) {
	return t.c.CreateUserValues(ctx, values)
}

// Update sends the changes as one PATCH in the client's Mode and Dialect (see UpdateUser).
func (t UserTarget) Update(ctx context.Context, id string, changes []plan.AttrChange) error {
	return t.c.UpdateUser(ctx, id, toChanges(changes))
}

// Delete deletes a user.
func (t UserTarget) Delete(ctx context.Context, id string) error { return t.c.DeleteUser(ctx, id) }

// Find returns the groups whose displayName equals value (see FindGroups).
func (t GroupTarget) Find(ctx context.Context, path, value string, read []string) ([]plan.Candidate, error) {
	if !strings.EqualFold(path, "displayName") {
		return nil, fmt.Errorf("%w, not %s", ErrMatchPath, path)
	}
	rs, err := t.c.FindGroups(ctx, value)
	return candidates(rs, read), err
}

// List walks every group, without members (see ListGroups).
func (t GroupTarget) List(ctx context.Context, read []string, fn func(plan.Candidate) error) error {
	return t.c.ListGroups(ctx, listPageSize, func(r scimclient.Resource) error { return fn(candidate(r, read)) })
}

// Create posts a group built from flat values (see scimclient.BuildGroup), empty: members are added afterwards,
// as Entra does.
func (t GroupTarget) Create(ctx context.Context, values map[string]any) (string, error) {
	return t.c.CreateGroupID(ctx, scimclient.BuildGroup(values))
}

// Update sends a group's attribute changes (not its members) as one PATCH in the client's Mode.
func (t GroupTarget) Update(ctx context.Context, id string, changes []plan.AttrChange) error {
	return t.c.PatchGroup(ctx, id, scimclient.GroupPatch(t.c.Mode(), toChanges(changes)))
}

// Delete deletes a group.
func (t GroupTarget) Delete(ctx context.Context, id string) error { return t.c.DeleteGroup(ctx, id) }

// Members reads the member ids a group holds (see GroupMembers); listed is true then. A target that
// leaves members out of its answer is asked for each id of ask instead (see HasMember), and the ids it
// confirms come back with listed false: the caller knows nothing about the other members.
func (t GroupTarget) Members(ctx context.Context, groupID string, ask []string) (ids []string, listed bool, err error) {
	ids, listed, err = t.c.GroupMembers(ctx, groupID)
	if err != nil || listed {
		return ids, listed, err
	}
	for _, id := range ask {
		has, err := t.c.HasMember(ctx, groupID, id)
		if err != nil {
			return nil, false, fmt.Errorf("ask for member %s: %w", id, err)
		}
		if has {
			ids = append(ids, id)
		}
	}
	return ids, false, nil
}

// AddMembers adds members in one PATCH (see scimclient.MembersAdd).
func (t GroupTarget) AddMembers(ctx context.Context, groupID string, ids []string) error {
	return t.c.PatchGroup(ctx, groupID, scimclient.MembersAdd(t.c.Mode(), ids))
}

// RemoveMembers removes members in one PATCH (see scimclient.MembersRemove).
func (t GroupTarget) RemoveMembers(ctx context.Context, groupID string, ids []string) error {
	return t.c.PatchGroup(ctx, groupID, scimclient.MembersRemove(t.c.Mode(), ids))
}

func toChanges(attrs []plan.AttrChange) []scimclient.Change {
	out := make([]scimclient.Change, len(attrs))
	for i, a := range attrs {
		out[i] = scimclient.Change{Path: a.Path, Value: a.New, Add: a.Add}
	}
	return out
}

// candidate is a found object with its values at the read paths; absent and null values are left out.
func candidate(r scimclient.Resource, read []string) plan.Candidate {
	c := plan.Candidate{TargetID: r.ID(), Values: make(map[string]any, len(read))}
	for _, p := range read {
		if v, ok := scimclient.ValueAt(r, p); ok && v != nil {
			c.Values[p] = v
		}
	}
	return c
}

func candidates(rs []scimclient.Resource, read []string) []plan.Candidate {
	if rs == nil {
		return nil
	}
	out := make([]plan.Candidate, 0, len(rs))
	for _, r := range rs {
		out = append(out, candidate(r, read))
	}
	return out
}
