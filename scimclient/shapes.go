package scimclient

import "github.com/scimsync/scimsync/scimclient/internal/body"

// Schema URNs that Entra and the Gong gallery app use, exported so the mapping presets, the engine and
// the test server agree on one spelling.
const (
	SchemaUser         = body.SchemaUser
	SchemaGroup        = body.SchemaGroup
	SchemaEnterprise   = body.SchemaEnterprise
	SchemaGong         = body.SchemaGong
	SchemaListResponse = body.SchemaListResponse
	SchemaPatchOp      = body.SchemaPatchOp
	SchemaError        = body.SchemaError
	// SchemaADSCIMGroup is the extra group schema Entra lists on group creation (see BuildGroup).
	SchemaADSCIMGroup = body.SchemaADSCIMGroup
)

// PathEnterpriseMgr is the manager reference path, the one reference attribute Entra resolves in a
// separate PATCH after both users exist.
const PathEnterpriseMgr = body.PathEnterpriseMgr

// Path is one flat target attribute path as the mapping table names it (`emails[type eq
// "work"].value`), parsed.
type Path = body.Path

// ParsePath parses a flat attribute path; the error names what is wrong and where.
func ParsePath(s string) (Path, error) { return body.ParsePath(s) }

// MustParsePath is ParsePath for paths written in code; it panics on a bad one.
func MustParsePath(s string) Path { return body.MustParsePath(s) }

// Quote renders s as a SCIM filter string literal.
func Quote(s string) string { return body.Quote(s) }

// Unquote reads a SCIM filter string literal at the start of s and returns it and its length.
func Unquote(s string) (string, int, error) { return body.Unquote(s) }

// FilterEq renders the filter `attrPath eq "value"`, in the RFC-valid form for a value-filtered path.
func FilterEq(attrPath, value string) (string, error) { return body.FilterEq(attrPath, value) }

// BuildUser assembles a POST /Users body from flat mapped values, as Entra shapes it.
func BuildUser(values map[string]any) Resource { return body.BuildUser(values) }

// BuildGroup assembles a POST /Groups body from flat mapped values, as Entra shapes it.
func BuildGroup(values map[string]any) Resource { return body.BuildGroup(values) }

// ValueAt reads the value at a flat path from a live resource, the inverse of BuildUser.
func ValueAt(r Resource, path string) (any, bool) { return body.ValueAt(r, path) }

// GetFold returns m's value under key compared case-insensitively, as SCIM attribute names are.
func GetFold(m map[string]any, key string) any { return body.GetFold(m, key) }

// Change is one attribute change of an update, in flat path terms.
type Change = body.Change

// UserPatch returns the PATCH operations of a user's changes in the given mode.
func UserPatch(mode Mode, changes []Change) []PatchOp { return body.UserPatch(mode, changes) }

// GroupPatch returns the PATCH operations of a group's attribute changes in the given mode.
func GroupPatch(mode Mode, changes []Change) []PatchOp { return body.GroupPatch(mode, changes) }

// MembersAdd returns the PATCH operations that add members to a group.
func MembersAdd(mode Mode, ids []string) []PatchOp { return body.MembersAdd(mode, ids) }

// MembersRemove returns the PATCH operations that remove members from a group, in the mode's shape.
func MembersRemove(mode Mode, ids []string) []PatchOp { return body.MembersRemove(mode, ids) }
