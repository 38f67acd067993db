// Package directory holds the source-side types that flow from Microsoft Graph into the sync engine,
// and the table that translates Entra's AD-style attribute names into Graph properties.
//
// It is deliberately free of msgraph-sdk-go: the engine, config and tests import this package, and only
// package graph (which does import the SDK) pays the SDK's multi-minute build.
package directory

import (
	"errors"

	"github.com/scimsync/scimsync/mapping"
)

// Removal tells why Graph reported an object as gone in a delta round.
type Removal string

// The @removed reasons Graph sends.
const (
	NotRemoved Removal = ""
	// SoftDeleted is @removed reason "changed": in the recycle bin, restorable.
	SoftDeleted Removal = "changed"
	// HardDeleted is @removed reason "deleted": permanently gone.
	HardDeleted Removal = "deleted"
)

// User is one user as read from Graph, with attributes keyed by their Entra names (objectId,
// userPrincipalName, telephoneNumber, ...), already translated from Graph properties.
type User struct {
	ID string
	// Attributes holds only the attributes that were selected and that the user has. accountEnabled is
	// a Bool; manager is the manager's object id (a String) when ManagerKnown.
	Attributes mapping.AttributeMap
	// ManagerKnown is true when this record says anything about the manager (manager@delta present);
	// a known manager with no "manager" attribute means the manager was removed.
	ManagerKnown bool
	Removed      Removal
}

// Member is one entry of a group's members@delta.
type Member struct {
	ID string
	// Type is "user", "group" or another directory object type, from @odata.type without its prefix.
	Type    string
	Removed bool
}

// Group is one group as read from Graph. A large group may come in several records in one round, each
// with a slice of its members; the reader merges them by id.
type Group struct {
	ID         string
	Attributes mapping.AttributeMap
	// Members lists membership changes (in a delta round) or all members (in a full round).
	Members []Member
	// MembersKnown is true when members@delta was present.
	MembersKnown bool
	Removed      Removal
}

// UserRound is the result of one delta round over users: everything Graph returned, and the link to
// continue from. A round is either complete (DeltaLink set) or an error; partial rounds are never
// returned, so that an outage cannot look like mass deletion.
type UserRound struct {
	Users UserList
	// Full is true when the round started from scratch (no watermark, or Graph forced a resync), so
	// every existing object was returned and anything absent is gone.
	Full      bool
	DeltaLink string
}

// GroupRound is UserRound for groups.
type GroupRound struct {
	Groups    []Group
	Full      bool
	DeltaLink string
}

// Assignment is one appRoleAssignedTo entry of the app's service principal.
type Assignment struct {
	PrincipalID string
	// PrincipalType is "User", "Group" or "ServicePrincipal".
	PrincipalType string
	AppRoleID     string
	// AppRole is the assigned role's value (its display name when it has no value), from the service
	// principal's appRoles; empty for the default-access role. It feeds the computed
	// appRoleAssignments attribute that SingleAppRoleAssignment and AppRoleAssignmentsComplex read.
	AppRole string
}

// ErrResyncRequired is wrapped by readers when the directory no longer accepts a saved delta link (the
// token expired, or Graph reset the sync state): the caller drops the watermark, runs a full round and
// reconciles. It lives here so the engine can branch on it without importing the Graph SDK.
var ErrResyncRequired = errors.New("delta token expired or reset: full resync required")
