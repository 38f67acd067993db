package filter

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/scimsync/scimsync/scimclient"
)

// Error is a failed PATCH as the SCIM error answer (RFC 7644 §3.12) the server sends for it.
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.ScimType, e.Detail) }

func errf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// ContainsFold reports whether list holds s, ignoring case (schema URNs compare so).
func ContainsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// ShallowCopy copies a map's top level: stored resources are never mutated, so a change swaps in a copy.
func ShallowCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// PatchOp is one operation of a PatchOp request.
type PatchOp struct {
	op    string // lower-case add, replace, remove
	path  string
	value any
}

func ParsePatch(body map[string]any) ([]PatchOp, *Error) {
	schemas, _ := body["schemas"].([]any)
	found := false
	for _, s := range schemas {
		if str, _ := s.(string); strings.EqualFold(str, scimclient.SchemaPatchOp) {
			found = true
		}
	}
	if !found {
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "schemas must be [%s]", scimclient.SchemaPatchOp)
	}
	raw, ok := scimclient.GetFold(body, "Operations").([]any)
	if !ok || len(raw) == 0 {
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "Operations is required")
	}
	ops := make([]PatchOp, 0, len(raw))
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, errf(http.StatusBadRequest, "invalidSyntax", "an operation must be an object")
		}
		opName, _ := scimclient.GetFold(m, "op").(string)
		op := PatchOp{op: strings.ToLower(opName), value: scimclient.GetFold(m, "value")}
		op.path, _ = scimclient.GetFold(m, "path").(string)
		switch op.op {
		case "add", "replace":
			if op.value == nil {
				return nil, errf(http.StatusBadRequest, "invalidValue", "%s needs a value", opName)
			}
		case "remove":
			if op.path == "" {
				return nil, errf(http.StatusBadRequest, "noTarget", "remove needs a path")
			}
		default:
			return nil, errf(http.StatusBadRequest, "invalidSyntax", "unknown op %q", opName)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// ApplyPatch applies one operation to r in place (r is the server's private copy).
func ApplyPatch(r map[string]any, op PatchOp, exts []string) *Error {
	if op.path == "" {
		obj, ok := op.value.(map[string]any)
		if !ok {
			return errf(http.StatusBadRequest, "invalidValue", "%s without path needs an object value", op.op)
		}
		for k, v := range obj {
			// {"urn:...:enterprise:2.0:User": {...}} addresses the extension object as a whole.
			if ContainsFold(exts, k) {
				if sub, ok := v.(map[string]any); ok {
					for sk, sv := range sub {
						if e := applyPath(r, op.op, k+":"+sk, sv, exts); e != nil {
							return e
						}
					}
					continue
				}
			}
			if e := applyPath(r, op.op, k, v, exts); e != nil {
				return e
			}
		}
		return nil
	}
	return applyPath(r, op.op, op.path, op.value, exts)
}

func isIDAttr(pp patchPath) bool {
	return pp.urn == "" && pp.filter == nil && pp.sub == "" &&
		(strings.EqualFold(pp.attr, "id") || strings.EqualFold(pp.attr, "meta") || strings.EqualFold(pp.attr, "schemas"))
}

func applyPath(r map[string]any, op, path string, value any, exts []string) *Error {
	pp, err := parsePatchPath(path, exts)
	if err != nil {
		return errf(http.StatusBadRequest, "invalidPath", "%v", err)
	}
	if isIDAttr(pp) {
		return errf(http.StatusBadRequest, "mutability", "%s is read-only", pp.attr)
	}
	container := r
	if pp.urn != "" {
		if !ContainsFold(exts, pp.urn) {
			return errf(http.StatusBadRequest, "invalidPath", "unknown schema %q", pp.urn)
		}
		k := KeyFold(r, pp.urn)
		m, _ := r[k].(map[string]any)
		if m == nil {
			if op == "remove" {
				return nil
			}
			m = map[string]any{}
			r[k] = m
			addSchema(r, pp.urn)
		}
		container = m
	} else if ContainsFold(exts, pp.attr) {
		addSchema(r, pp.attr)
	}
	key := KeyFold(container, pp.attr)
	cur := container[key]
	ev := &Evaluator{CaseExact: map[string]bool{"members.value": true}}

	if pp.filter != nil {
		return applyFiltered(container, key, cur, pp, op, path, value, ev)
	}

	if pp.sub != "" {
		return applySub(container, key, cur, pp, op, value)
	}
	return applyWhole(container, key, cur, pp, op, value)
}

func addSchema(r map[string]any, urn string) {
	list, _ := r["schemas"].([]any)
	for _, s := range list {
		if str, _ := s.(string); strings.EqualFold(str, urn) {
			return
		}
	}
	r["schemas"] = append(list, urn)
}

// containsElem compares multi-valued elements; elements with a "value" compare by it (members, emails).
func containsElem(list []any, it any) bool {
	im, isMap := it.(map[string]any)
	for _, o := range list {
		if isMap {
			if om, ok := o.(map[string]any); ok {
				iv, ov := scimclient.GetFold(im, "value"), scimclient.GetFold(om, "value")
				if iv != nil && ov != nil {
					if iv == ov {
						return true
					}
					continue
				}
			}
		}
		if reflect.DeepEqual(o, it) {
			return true
		}
	}
	return false
}

// hasPayload reports whether an element still says something beyond its type and primary flags.
func hasPayload(m map[string]any) bool {
	for k := range m {
		switch strings.ToLower(k) {
		case "type", "primary":
		default:
			return true
		}
	}
	return false
}

func setOrDelete(m map[string]any, key string, list []any) {
	if len(list) == 0 {
		delete(m, key)
		return
	}
	m[key] = list
}

// applyFiltered applies a PATCH operation whose path has a value filter (emails[type eq "work"].value)
// to the elements of a multi-valued attribute.
func applyFiltered(container map[string]any, key string, cur any, pp patchPath, op, path string, value any, ev *Evaluator) *Error {
	list, _ := cur.([]any)
	switch op {
	case "remove":
		kept := list[:0:0]
		for _, it := range list {
			m, ok := it.(map[string]any)
			if !ok || !pp.filter.Match(m, ev) {
				kept = append(kept, it)
				continue
			}
			if pp.sub != "" {
				nm := ShallowCopy(m)
				delete(nm, KeyFold(nm, pp.sub))
				if hasPayload(nm) {
					kept = append(kept, nm)
				}
			}
		}
		if strings.EqualFold(pp.attr, "members") {
			container[key] = kept
			return nil
		}
		setOrDelete(container, key, kept)
		return nil
	default: // add, replace
		hit := false
		for i, it := range list {
			m, ok := it.(map[string]any)
			if !ok || !pp.filter.Match(m, ev) {
				continue
			}
			hit = true
			if pp.sub != "" {
				m[KeyFold(m, pp.sub)] = value
				continue
			}
			nv, ok := value.(map[string]any)
			if !ok {
				return errf(http.StatusBadRequest, "invalidValue", "value for %s must be an object", path)
			}
			if op == "replace" {
				list[i] = nv
			} else {
				for k, v := range nv {
					m[KeyFold(m, k)] = v
				}
			}
		}
		if !hit {
			// No element of that type yet: create it from the filter's eq clause, as targets built for
			// Entra do (Entra sends Replace for emails[type eq "work"].value on a user without one).
			elem := map[string]any{}
			if c, ok := pp.filter.(*cmpNode); ok && c.op == "eq" && len(c.attr.names) == 1 {
				elem[c.attr.names[0]] = c.val
			} else {
				return errf(http.StatusBadRequest, "noTarget", "no element matches %s", path)
			}
			if pp.sub != "" {
				elem[pp.sub] = value
			} else if nv, ok := value.(map[string]any); ok {
				for k, v := range nv {
					elem[k] = v
				}
			}
			list = append(list, elem)
		}
		container[key] = list
		return nil
	}
}

// applySub applies an operation on a sub-attribute of a complex attribute (name.givenName).
func applySub(container map[string]any, key string, cur any, pp patchPath, op string, value any) *Error {
	m, _ := cur.(map[string]any)
	if m == nil {
		if _, isList := cur.([]any); isList {
			return errf(http.StatusBadRequest, "invalidPath", "%s is multi-valued; use a value filter", pp.attr)
		}
		if op == "remove" {
			return nil
		}
		m = map[string]any{}
		container[key] = m
	}
	sk := KeyFold(m, pp.sub)
	if op == "remove" {
		delete(m, sk)
		if len(m) == 0 {
			delete(container, key)
		}
		return nil
	}
	m[sk] = value
	return nil
}

// applyWhole applies an operation on a whole attribute: Entra removes members with a value list, adds
// merge into complex values, replace overwrites.
func applyWhole(container map[string]any, key string, cur any, pp patchPath, op string, value any) *Error {
	switch op {
	case "remove":
		if list, ok := cur.([]any); ok && value != nil {
			// Entra's default member removal: path "members" with a value list.
			drop, ok := value.([]any)
			if !ok {
				return errf(http.StatusBadRequest, "invalidValue", "remove value must be a list")
			}
			kept := list[:0:0]
			for _, it := range list {
				if !containsElem(drop, it) {
					kept = append(kept, it)
				}
			}
			container[key] = kept
			if strings.EqualFold(pp.attr, "members") {
				return nil
			}
			setOrDelete(container, key, kept)
			return nil
		}
		if strings.EqualFold(pp.attr, "members") {
			container[key] = []any{}
			return nil
		}
		delete(container, key)
		return nil
	case "add":
		if list, ok := cur.([]any); ok {
			add, ok := value.([]any)
			if !ok {
				add = []any{value}
			}
			for _, it := range add {
				if !containsElem(list, it) {
					list = append(list, it)
				}
			}
			container[key] = list
			return nil
		}
		if m, ok := cur.(map[string]any); ok {
			if nv, ok := value.(map[string]any); ok && !strings.EqualFold(pp.attr, "manager") {
				for k, v := range nv {
					m[KeyFold(m, k)] = v
				}
				return nil
			}
		}
		container[key] = value
		return nil
	default: // replace
		if m, ok := cur.(map[string]any); ok && !strings.EqualFold(pp.attr, "manager") {
			if nv, ok := value.(map[string]any); ok {
				for k, v := range nv {
					m[KeyFold(m, k)] = v
				}
				return nil
			}
		}
		container[key] = value
		return nil
	}
}
