// Package body is the shapes of scimclient's requests: the flat attribute paths of the mapping table
// (ParsePath), the POST bodies assembled from them (BuildUser), the values read back from live
// resources (ValueAt), the PATCH operations in each of Entra's request shapes (Mode, UserPatch), and
// the JSON encoder the request bodies go through.
package body

import (
	"fmt"
	"strings"
)

// Mode selects the request shapes. Targets were built against Entra's default shapes, and some only
// accept those (or only the fixed ones), so the shape is a per-target switch exactly as in Entra.
type Mode int

const (
	// ModeDefault sends what Entra sends today without feature flags: ops "Add"/"Replace"/"Remove", one
	// Replace op per path, active as the string "True"/"False" in PATCH, member removal as
	// {"op":"Remove","path":"members","value":[{"value":id}]}.
	ModeDefault Mode = iota
	// ModeAADOptSCIM062020 sends the shapes of Entra's aadOptscim062020 flag: lower-case ops, filtered
	// multi-value paths as separate replace ops, simple attributes grouped into one path-less replace with
	// dotted / URN-qualified keys, active as a JSON boolean, member removal as
	// {"op":"remove","path":"members[value eq \"id\"]"}.
	ModeAADOptSCIM062020
	// ModeStrict is ModeAADOptSCIM062020 made RFC 7643/7644-strict for targets that validate every
	// request against the schema (SCIMMY among them): the manager as the complex {"value": id} the
	// enterprise schema defines instead of a bare id, and a new value-filtered element (a first work
	// phone) added to its multi-valued attribute ({"op":"add","path":"phoneNumbers","value":[{"type":
	// "work","value":...}]}) instead of an add on a filter path that has no target yet.
	ModeStrict
)

// lowerCase reports whether the mode spells ops in lower case and groups simple replaces, as the
// aadOptscim062020 flag does.
func (m Mode) lowerCase() bool { return m == ModeAADOptSCIM062020 || m == ModeStrict }

// String names the mode for logs and config.
func (m Mode) String() string {
	switch m {
	case ModeDefault:
		return "default"
	case ModeAADOptSCIM062020:
		return "aadOptscim062020"
	case ModeStrict:
		return "strict"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Resource is a SCIM resource as decoded JSON. A map rather than a struct because targets add attributes
// and extensions we do not know about, and the engine must diff and echo them without loss.
type Resource map[string]any

// ID returns the resource's id, "" if absent; the anchor the engine caches after a match or create.
func (r Resource) ID() string {
	s, _ := r["id"].(string)
	// A copy: a decoded resource's strings share the bytes of the whole response, and the id is kept
	// for the rest of the cycle (links) while the response is not.
	return strings.Clone(s)
}

// PatchOp is one operation of a PATCH request (RFC 7644 §3.5.2). Value is omitted when nil so that a
// flag-mode member removal carries only op and path, as Entra sends it.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

// PatchBody wraps ops in the PatchOp message; exported so tests and golden files use the same shape.
func PatchBody(ops []PatchOp) map[string]any {
	return map[string]any{"schemas": []string{SchemaPatchOp}, "Operations": ops}
}
