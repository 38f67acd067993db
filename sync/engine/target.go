package engine

import (
	"context"

	"github.com/scimsync/scimsync/sync/plan"
)

// Objects is one kind of target object (users or groups) in the engine's own terms: found objects,
// flat values, attribute changes and ids. scimclient/target's UserTarget and GroupTarget implement
// it and own everything SCIM: request bodies, PATCH shapes, the compatibility mode, the learned
// dialect. The engine tests use an in-memory fake of the same interface.
type Objects interface {
	// Find returns the objects whose attribute at path equals value, with their values at the read
	// paths (what a matched object is diffed against).
	Find(ctx context.Context, path, value string, read []string) ([]plan.Candidate, error)
	// List walks every object once, for matching many objects against one listing.
	List(ctx context.Context, read []string, fn func(plan.Candidate) error) error
	// Create creates an object from flat values and returns its target id.
	Create(ctx context.Context, values map[string]any) (id string, err error)
	// Update sends attribute changes; a change whose New is nil removes the attribute.
	Update(ctx context.Context, id string, changes []plan.AttrChange) error
	Delete(ctx context.Context, id string) error
}

// Groups is the target's groups: objects that also hold members.
type Groups interface {
	Objects
	// Members reads the member ids a group holds (listed true); a target that does not list members
	// confirms which of ask it holds instead (listed false).
	Members(ctx context.Context, groupID string, ask []string) (ids []string, listed bool, err error)
	AddMembers(ctx context.Context, groupID string, ids []string) error
	RemoveMembers(ctx context.Context, groupID string, ids []string) error
}

// Target is the SCIM side of a job. Groups is nil when the target does not provision groups.
type Target struct {
	Users  Objects
	Groups Groups
}
