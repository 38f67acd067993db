package codec

import (
	"encoding/binary"
	"time"
)

// Kind separates users from groups: they live in different SCIM endpoints and their ids may collide.
type Kind string

// Object kinds the engine provisions.
const (
	KindUser  Kind = "user"
	KindGroup Kind = "group"
)

// Link is one entry of the connector data store (https://learn.microsoft.com/entra/identity/app-provisioning/how-provisioning-works): the link between a source object and
// the target object it was created as or matched to. It is what lets the engine update by target id,
// skip unchanged objects, and never touch target objects it does not own.
type Link struct {
	Kind     Kind
	SourceID string
	TargetID string
	// Managed is true when scimsync created or matched the target object; only managed objects are
	// ever changed or deprovisioned.
	Managed bool
	// Hash is the hash of the last exported values; an equal hash means nothing to send.
	Hash string
	// Values are the last exported target values by flat SCIM path, for the "Modified properties" of the
	// provisioning log and for computing PATCH operations. Types round-trip exactly: string, bool,
	// int64, int, float64, []string and nil; other integer and float types come back as int64 or
	// float64, []any of strings as []string, and anything else via JSON (numbers as int64 or float64).
	Values map[string]any
	// MatchedBy names the matching attribute that linked an existing target object, empty if created.
	MatchedBy string
	// Disabled is true once active=false was sent, so a re-enable can be detected.
	Disabled bool
	// Members are the source ids of the group members exported, to compute membership deltas.
	Members []string
	// ManagerID is the source id of the manager linked, to send a manager change only when it changed.
	ManagerID string
	// CreatedAt is kept from the stored anchor when a Put leaves it zero; UpdatedAt is set to now when
	// zero.
	CreatedAt, UpdatedAt time.Time
	// Packed, when not empty, is the record a link was read from with only some of its Values, or none
	// (DecodeLinkPacked): read a value through store.LinkValue, restore them all with UnpackLink. Writes
	// refuse such a link (ErrPacked).
	Packed string
}

// String is the "kind/source id" form used in error messages.
func (a Link) String() string { return string(a.Kind) + "/" + a.SourceID }

// LogEntry is one line of the provisioning log (https://learn.microsoft.com/graph/api/resources/provisioningobjectsummary, Graph provisioningObjectSummary): what
// happened to one object in one cycle, with the steps and the modified properties, so an admin can answer
// "why was this user (not) provisioned" after the fact.
type LogEntry struct {
	// ID is unique per change; AppendLog fills it when empty.
	ID      string
	CycleID string
	// Time is when the change happened; AppendLog fills it when zero.
	Time     time.Time
	Kind     Kind
	SourceID string
	TargetID string
	// Identity is the human-readable name (UPN, group display name).
	Identity string
	// Action is Create, Update, Disable, Delete, StagedDelete or Other.
	Action string
	// Status is Success, Failure, Skipped or Warning.
	Status     string
	Steps      []Step
	Modified   []Property
	ErrorCode  string
	Error      string
	DurationMs int64
}

// Step is one provisioning step of a log entry, as in the portal's Steps tab.
type Step struct {
	// Name is import, scoping, matching, processing, referenceResolution or export.
	Name        string
	Status      string
	Description string
	Details     string
}

// Property is one modified target attribute, as in the portal's Modified Properties tab.
type Property struct {
	Name, Old, New string
}

// LogKey orders entries by time, then id, so time ranges are cursor seeks rather than scans. The sign bit
// is flipped so pre-1970 times would still sort first.
func LogKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, timeBits(t))
	return append(k, id...)
}

func timeBits(t time.Time) uint64 { return uint64(t.UnixNano()) ^ (1 << 63) }

// TimePrefix is the key prefix of every entry logged at t, for seeks and range ends.
func TimePrefix(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, timeBits(t)) }
