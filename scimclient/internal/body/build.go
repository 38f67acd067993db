package body

import (
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// BuildUser turns flat target values into the POST /Users body the way Entra builds it (https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
//   - schemas: the core User schema, then the enterprise extension if any enterprise attribute is set, then
//     every other extension URN used, sorted;
//   - extension attributes nested under their URN key; the enterprise manager as {"value": id};
//   - name.* (and any other dotted path) as a complex object;
//   - emails/phoneNumbers/addresses[type eq "t"].sub as arrays of {type, sub...}, one element per type; the
//     work email gets primary: true; a []string value for a filtered path yields one element per value;
//   - nil values are skipped: Entra never provisions nulls.
//
// Entra also sends "meta":{"resourceType":"User"} and "roles":[]; both are omitted because meta is
// read-only (strict servers reject it) and an empty roles list carries nothing.
// A path that fails to parse is skipped: mapping targets are validated with ParsePath at config load.
func BuildUser(values map[string]any) Resource {
	return build(values, SchemaUser)
}

// BuildGroup turns flat values into the POST /Groups body. Entra also lists the ADSCIM group schema
// (http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group) in schemas; we send only the
// core Group schema, because servers that validate schemas (SCIMMY, Better Auth) reject an unknown one and
// none needs it. Members are never part of the create: Entra creates groups empty and adds members by PATCH.
func BuildGroup(values map[string]any) Resource {
	v := make(map[string]any, len(values))
	for k, val := range values {
		if p, err := ParsePath(k); err == nil && p.URN == "" && strings.EqualFold(p.Attr, "members") {
			continue
		}
		v[k] = val
	}
	return build(v, SchemaGroup)
}

func build(values map[string]any, core string) Resource {
	r := Resource{}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var enterprise bool
	var exts map[string]bool
	for _, k := range keys {
		v := normalizeValue(values[k])
		if v == nil {
			continue
		}
		p, err := parsePathCached(k)
		if err != nil {
			continue
		}
		container := map[string]any(r)
		if p.URN != "" {
			urn := p.URN
			if p.IsEnterprise() {
				urn, enterprise = SchemaEnterprise, true
			} else {
				if exts == nil {
					exts = map[string]bool{}
				}
				exts[urn] = true
			}
			m, _ := r[urn].(map[string]any)
			if m == nil {
				m = map[string]any{}
				r[urn] = m
			}
			container = m
		}
		if p.IsManager() {
			if id, ok := v.(string); ok {
				container["manager"] = map[string]any{"value": id}
			}
			continue
		}
		setFlat(container, p, v)
	}
	schemas := make([]any, 1, 2+len(exts))
	schemas[0] = core
	if enterprise {
		schemas = append(schemas, SchemaEnterprise)
	}
	extList := make([]string, 0, len(exts))
	for u := range exts {
		extList = append(extList, u)
	}
	sort.Strings(extList)
	for _, u := range extList {
		schemas = append(schemas, u)
	}
	r["schemas"] = schemas
	return r
}

// parsedPaths caches ParsePath for build: a create parses the same few mapping paths as the last,
// and parsing them was a fifth of building the body. Bounded, as the paths come from configuration.
var parsedPaths sync.Map // string -> parsedPath

type parsedPath struct {
	p   Path
	err error
}

var parsedPathCount atomic.Int32

const maxParsedPaths = 4096

func parsePathCached(s string) (Path, error) {
	if e, ok := parsedPaths.Load(s); ok {
		pp := e.(parsedPath)
		return pp.p, pp.err
	}
	p, err := ParsePath(s)
	if parsedPathCount.Load() < maxParsedPaths {
		if _, loaded := parsedPaths.LoadOrStore(s, parsedPath{p, err}); !loaded {
			parsedPathCount.Add(1)
		}
	}
	return p, err
}

// setFlat writes one value at a parsed path inside container.
func setFlat(container map[string]any, p Path, v any) {
	switch {
	case p.FilterAttr == "" && p.Sub == "":
		container[p.Attr] = v
	case p.FilterAttr == "":
		m, _ := container[p.Attr].(map[string]any)
		if m == nil {
			m = map[string]any{}
			container[p.Attr] = m
		}
		m[p.Sub] = v
	default:
		sub := p.Sub
		if sub == "" {
			sub = "value"
		}
		list, _ := container[p.Attr].([]any)
		vals := []any{v}
		if ss, ok := v.([]string); ok {
			vals = vals[:0]
			for _, s := range ss {
				vals = append(vals, s)
			}
			if len(vals) == 0 {
				return
			}
		}
		// One element per type: a second sub-attribute of the same type (addresses[type eq "work"].postalCode
		// after .streetAddress) lands in the same element.
		if len(vals) == 1 {
			for _, it := range list {
				if m, ok := it.(map[string]any); ok && m[p.FilterAttr] == p.FilterValue {
					if _, taken := m[sub]; !taken {
						m[sub] = vals[0]
						return
					}
				}
			}
		}
		for _, val := range vals {
			m := map[string]any{p.FilterAttr: p.FilterValue, sub: val}
			if strings.EqualFold(p.Attr, "emails") && p.FilterValue == "work" && strings.EqualFold(p.FilterAttr, "type") {
				m["primary"] = true
			}
			list = append(list, m)
		}
		container[p.Attr] = list
	}
}

// normalizeValue keeps the JSON shapes a mapping produces and drops nulls and empty lists.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case []string:
		if len(x) == 0 {
			return nil
		}
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	}
	return v
}

// ValueAt reads a flat path from a live resource, so the engine can diff a pre-existing target account
// against the desired values and send only what differs. Attribute names and the value filter's attribute
// match case-insensitively (SCIM names are case-insensitive; targets echo their own casing). Returned
// values are normalised to the engine's shapes: string, bool, int64 (integral JSON numbers), []string
// (several matching elements or a list of strings), or the raw JSON value otherwise. The manager reference
// yields its "value" id whether the target stores {"value": id} or a plain string. ok is false when absent
// or null.
func ValueAt(r Resource, path string) (any, bool) {
	p, err := ParsePath(path)
	if err != nil {
		return nil, false
	}
	container := map[string]any(r)
	if p.URN != "" {
		m, ok := GetFold(r, p.URN).(map[string]any)
		if !ok {
			return nil, false
		}
		container = m
	}
	v := GetFold(container, p.Attr)
	if v == nil {
		return nil, false
	}
	switch {
	case p.IsManager():
		return managerValue(v)
	case p.FilterAttr == "":
		return unfilteredValue(p, v)
	}
	return filteredValue(p, v)
}

// managerValue reads the manager's id whether the target stores {"value": id}, a plain string or the
// legacy [{"value": id}].
func managerValue(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case map[string]any:
		return outValue(GetFold(x, "value"))
	case []any:
		if len(x) == 1 {
			if m, ok := x[0].(map[string]any); ok {
				return outValue(GetFold(m, "value"))
			}
		}
	}
	return nil, false
}

// unfilteredValue reads a path without a value filter: the attribute itself (active as a bool even when
// the target sends "True"), or a sub-attribute of a complex attribute or of every element of a list.
func unfilteredValue(p Path, v any) (any, bool) {
	if p.Sub == "" {
		if s, ok := v.(string); ok && p.IsActive() {
			switch strings.ToLower(s) {
			case "true":
				return true, true
			case "false":
				return false, true
			}
		}
		return outValue(v)
	}
	switch x := v.(type) {
	case map[string]any:
		return outValue(GetFold(x, p.Sub))
	case []any: // emails.value without a filter: every element's value
		var out []any
		for _, it := range x {
			if m, ok := it.(map[string]any); ok {
				if sv := GetFold(m, p.Sub); sv != nil {
					out = append(out, sv)
				}
			}
		}
		return outList(out)
	}
	return nil, false
}

// filteredValue reads a value-filtered path: the matching elements, or their sub-attribute.
func filteredValue(p Path, v any) (any, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	var out []any
	for _, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		fv, _ := GetFold(m, p.FilterAttr).(string)
		if !strings.EqualFold(fv, p.FilterValue) {
			continue
		}
		if p.Sub == "" {
			out = append(out, m)
			continue
		}
		if sv := GetFold(m, p.Sub); sv != nil {
			out = append(out, sv)
		}
	}
	return outList(out)
}

func outList(out []any) (any, bool) {
	switch len(out) {
	case 0:
		return nil, false
	case 1:
		return outValue(out[0])
	}
	ss := make([]string, 0, len(out))
	for _, o := range out {
		s, ok := o.(string)
		if !ok {
			return out, true
		}
		ss = append(ss, s)
	}
	return ss, true
}

func outValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
		return x, true
	case []any:
		ss := make([]string, 0, len(x))
		for _, o := range x {
			s, ok := o.(string)
			if !ok {
				return x, true
			}
			ss = append(ss, s)
		}
		return ss, true
	}
	return v, true
}

// GetFold returns m[key], falling back to a case-insensitive key match: SCIM attribute names are
// case-insensitive (RFC 7643 §2.1), so a resource from any server must be read this way. The test
// server reads stored resources with it too.
func GetFold(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}
