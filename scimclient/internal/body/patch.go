package body

import "strings"

// Change is one attribute the engine wants to change on an existing target object, by flat path.
type Change struct {
	Path string
	// Value is the new value (string, bool, int64 or []string). nil removes the attribute: Entra never
	// clears attributes itself, but the engine needs it to unlink a manager.
	Value any
	// Add marks that the target had no value, so the op is Add rather than Replace (targets must accept
	// both; some reject a Replace on an absent attribute).
	Add bool
}

// UserPatch builds the PATCH operations for a user's changes in the shapes of mode.
//
// ModeDefault (Entra without flags), one op per change, in the given order:
//
//	{"op":"Replace","path":"name.familyName","value":"x"}
//	{"op":"Add","path":"title","value":"x"}                      (Change.Add)
//	{"op":"Replace","path":"active","value":"False"}             (active as a string)
//	{"op":"Add","path":"urn:...:enterprise:2.0:User:manager","value":"<id>"}
//	{"op":"Remove","path":"urn:...:enterprise:2.0:User:manager"} (Value nil)
//
// ModeAADOptSCIM062020: lower-case ops; filtered multi-value paths, Add changes, removes and the manager
// stay separate ops with a path, in the given order; all remaining (simple) replaces are grouped into one
// path-less replace at the end whose value object has the dotted / URN-qualified paths as keys, with
// active as a JSON boolean:
//
//	{"op":"replace","path":"emails[type eq \"work\"].value","value":"x"}
//	{"op":"replace","value":{"name.givenName":"a","urn:...:enterprise:2.0:User:employeeNumber":"b"}}
//
// A group of one is sent with its path ({"op":"replace","path":"active","value":false}), which is the
// shape the compatibility page documents for a single change.
//
// The manager is always an Add with the target id as a plain string, as Entra sends it today; removing
// the manager is {"op":"Remove","path":"urn:...:manager"} (Entra's own shape is undocumented).
func UserPatch(mode Mode, changes []Change) []PatchOp {
	return BuildPatch(mode, false, changes)
}

// GroupPatch builds PATCH operations for a group's non-member attributes (displayName, externalId) with the
// same rules as UserPatch. Members go through MembersAdd and MembersRemove.
func GroupPatch(mode Mode, changes []Change) []PatchOp {
	return BuildPatch(mode, false, changes)
}

// MembersAdd builds one Add op with all ids as a value list: {"op":"Add","path":"members","value":
// [{"value":id},...]}. Entra batches member adds in one PATCH; the caller chooses the batch size.
// Entra also sends "$ref": null in each element; it is omitted because it carries nothing and null
// values upset strict servers.
func MembersAdd(mode Mode, ids []string) []PatchOp {
	if len(ids) == 0 {
		return nil
	}
	return []PatchOp{{Op: opName(mode, "Add"), Path: "members", Value: memberValues(ids)}}
}

// MembersRemove builds the member removal: in ModeDefault one op {"op":"Remove","path":"members",
// "value":[{"value":id},...]}; in ModeAADOptSCIM062020 one op per id, {"op":"remove","path":
// "members[value eq \"id\"]"} with no value, which is the RFC-compliant form the flag introduced.
func MembersRemove(mode Mode, ids []string) []PatchOp {
	if len(ids) == 0 {
		return nil
	}
	if mode.lowerCase() {
		ops := make([]PatchOp, 0, len(ids))
		for _, id := range ids {
			ops = append(ops, PatchOp{Op: "remove", Path: "members[value eq " + Quote(id) + "]"})
		}
		return ops
	}
	return []PatchOp{{Op: "Remove", Path: "members", Value: memberValues(ids)}}
}

func memberValues(ids []string) []map[string]string {
	vals := make([]map[string]string, 0, len(ids))
	for _, id := range ids {
		vals = append(vals, map[string]string{"value": id})
	}
	return vals
}

// opName spells an op for the mode: Entra capitalises by default and the flag lower-cases.
func opName(mode Mode, op string) string {
	if !mode.lowerCase() {
		return op
	}
	switch op {
	case "Add":
		return "add"
	case "Replace":
		return "replace"
	case "Remove":
		return "remove"
	}
	return op
}

// BuildPatch builds the ops of one PATCH. elementAdds sends an Add on a value-filtered path as a new
// element of the multi-valued attribute, as ModeStrict always does; the client sets it in the other
// modes once the target has shown that it wants it (see Dialect).
func BuildPatch(mode Mode, elementAdds bool, changes []Change) []PatchOp {
	if len(changes) == 0 {
		return nil
	}
	elementAdds = elementAdds || mode == ModeStrict
	ops := make([]PatchOp, 0, len(changes))
	type grouped struct {
		path  string
		value any
	}
	var group []grouped
	// elements indexes the new elements of this PATCH by attribute and filter, so that two
	// sub-attributes of one element (addresses[type eq "work"].streetAddress and .postalCode) make
	// one element, not two.
	var elements map[string]map[string]any
	for _, ch := range changes {
		p, perr := ParsePath(ch.Path)
		path := ch.Path
		if perr == nil {
			path = p.String()
			if p.IsManager() {
				path = PathEnterpriseMgr
			}
		}
		v := normalizeValue(ch.Value)
		if v == nil {
			ops = append(ops, PatchOp{Op: opName(mode, "Remove"), Path: path})
			continue
		}
		if perr == nil && p.IsActive() {
			v = activeValue(mode, v)
		}
		switch {
		case perr == nil && p.IsManager():
			// Entra links managers with Add even when replacing one. Its default shape carries the id
			// as a plain string; the compliant mode sends the complex {"value": id} that RFC 7643's
			// enterprise schema defines, which strict servers (SCIMMY among them) require.
			if mode == ModeStrict {
				if id, ok := v.(string); ok {
					v = map[string]any{"value": id}
				}
			}
			ops = append(ops, PatchOp{Op: opName(mode, "Add"), Path: path, Value: v})
		case elementAdds && filteredAdd(ch, p, perr):
			// A value-filtered path names an element that does not exist yet, which RFC 7644 gives
			// no target to; the element is added to the multi-valued attribute instead.
			key := strings.ToLower(p.multiAttrPath()) + "\x00" + strings.ToLower(p.FilterAttr) + "\x00" + p.FilterValue
			if el, ok := elements[key]; ok && GetFold(el, p.Sub) == nil {
				el[p.Sub] = v
				continue
			}
			el := p.element(v)
			if elements == nil {
				elements = map[string]map[string]any{}
			}
			elements[key] = el
			ops = append(ops, PatchOp{Op: opName(mode, "Add"), Path: p.multiAttrPath(), Value: []map[string]any{el}})
		case ch.Add:
			ops = append(ops, PatchOp{Op: opName(mode, "Add"), Path: path, Value: v})
		case mode.lowerCase() && (perr != nil || p.FilterAttr == ""):
			group = append(group, grouped{path, v})
		default:
			ops = append(ops, PatchOp{Op: opName(mode, "Replace"), Path: path, Value: v})
		}
	}
	switch len(group) {
	case 0:
	case 1:
		ops = append(ops, PatchOp{Op: "replace", Path: group[0].path, Value: group[0].value})
	default:
		obj := make(map[string]any, len(group))
		for _, g := range group {
			obj[g.path] = g.value
		}
		ops = append(ops, PatchOp{Op: "replace", Value: obj})
	}
	return ops
}

// filteredAdd reports whether a change adds a value on a value-filtered path (phoneNumbers[type eq
// "work"].value), the one op whose shape depends on the target's dialect.
func filteredAdd(ch Change, p Path, perr error) bool {
	return ch.Add && perr == nil && p.FilterAttr != "" && p.Sub != "" && !p.IsManager() &&
		normalizeValue(ch.Value) != nil
}

// activeValue renders active for the mode: Entra's default PATCH sends the strings "True"/"False" (a known
// compliance bug that targets built for Entra expect), the flag sends a JSON boolean.
func activeValue(mode Mode, v any) any {
	b, ok := v.(bool)
	if !ok {
		return v
	}
	if mode.lowerCase() {
		return b
	}
	if b {
		return "True"
	}
	return "False"
}

// HasFilteredAdd reports whether changes hold an add on a value-filtered path, the form a target may
// reject (see scimclient.Dialect).
func HasFilteredAdd(changes []Change) bool {
	for _, ch := range changes {
		p, perr := ParsePath(ch.Path)
		if filteredAdd(ch, p, perr) {
			return true
		}
	}
	return false
}
