package body

import (
	"math"
	"slices"
	"strings"
	"sync"
)

// AppendUser appends the JSON of BuildUser(values), byte for byte what AppendJSON(BuildUser(values))
// gives, without the maps: building them and sorting their keys to encode them was about 45
// allocations and 8 KB per created user. The tree is held in pooled slices instead. ok is false when
// values hold something this path does not take (a value of another type, two paths landing on one
// attribute, a filter on the attribute it sets, a mapping to "schemas"); the caller then encodes
// BuildUser's resource, whose rules stay the one definition of the body.
func AppendUser(dst []byte, values map[string]any) (out []byte, ok bool) {
	t := trees.Get().(*tree)
	defer t.release()
	if !t.build(values) {
		return dst, false
	}
	return t.appendJSON(dst), true
}

// node is one member of a JSON object the body holds: a leaf value, an object or a list of objects.
type node struct {
	key  string
	kind nodeKind
	leaf any
	kids []node // an object's members; a list's elements, each an object with key ""
}

type nodeKind uint8

const (
	leafNode nodeKind = iota
	objectNode
	listNode
)

// tree is the body under construction: the top-level members, with the sorted keys of the values.
type tree struct {
	root    []node
	keys    []string
	exts    []string
	enterpr bool
}

var trees = sync.Pool{New: func() any { return new(tree) }}

// release empties t, keeping its slices' room but no values, and hands it back.
func (t *tree) release() {
	clearNodes(t.root)
	t.root, t.keys, t.exts = t.root[:0], t.keys[:0], t.exts[:0]
	clear(t.keys[:cap(t.keys)])
	t.enterpr = false
	trees.Put(t)
}

func clearNodes(ns []node) {
	for i := range ns {
		ns[i].leaf, ns[i].key = nil, ""
		clearNodes(ns[i].kids)
	}
}

// add appends a member to *ns, reusing the room (and the kids' room) a released tree left there.
func add(ns *[]node, key string, kind nodeKind) int {
	if len(*ns) < cap(*ns) {
		*ns = (*ns)[:len(*ns)+1]
		n := &(*ns)[len(*ns)-1]
		n.key, n.kind, n.leaf, n.kids = key, kind, nil, n.kids[:0]
	} else {
		*ns = append(*ns, node{key: key, kind: kind})
	}
	return len(*ns) - 1
}

func find(ns []node, key string) int {
	for i := range ns {
		if ns[i].key == key {
			return i
		}
	}
	return -1
}

// build lays the values out as build does, in the same order; false for anything AppendUser leaves
// to BuildUser.
func (t *tree) build(values map[string]any) bool {
	for k := range values {
		t.keys = append(t.keys, k)
	}
	slices.Sort(t.keys)
	for _, k := range t.keys {
		v := normalizeValue(values[k])
		if v == nil {
			continue
		}
		if !plainValue(v) {
			return false
		}
		p, err := parsePathCached(k)
		if err != nil {
			continue
		}
		if p.URN == "" && strings.EqualFold(p.Attr, "schemas") {
			return false
		}
		container := &t.root
		if p.URN != "" {
			urn := p.URN
			if p.IsEnterprise() {
				urn, t.enterpr = SchemaEnterprise, true
			} else if !slices.Contains(t.exts, urn) {
				t.exts = append(t.exts, urn)
			}
			i := find(t.root, urn)
			if i < 0 {
				i = add(&t.root, urn, objectNode)
			}
			container = &t.root[i].kids
		}
		if p.IsManager() {
			if id, isString := v.(string); isString {
				if find(*container, "manager") >= 0 {
					return false
				}
				m := add(container, "manager", objectNode)
				(*container)[m].kids = append((*container)[m].kids, node{key: "value", leaf: id})
			}
			continue
		}
		if !t.set(container, p, v) {
			return false
		}
	}
	return true
}

// plainValue reports whether v is one of the values a mapping yields and AppendJSON encodes as is.
func plainValue(v any) bool {
	switch x := v.(type) {
	case string, bool, int64, []string:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	return false
}

// set is setFlat on the tree.
func (t *tree) set(container *[]node, p Path, v any) bool {
	i := find(*container, p.Attr)
	switch {
	case p.FilterAttr == "" && p.Sub == "":
		if i >= 0 {
			return false
		}
		(*container)[add(container, p.Attr, leafNode)].leaf = v
		return true
	case p.FilterAttr == "":
		if i < 0 {
			i = add(container, p.Attr, objectNode)
		} else if (*container)[i].kind != objectNode || find((*container)[i].kids, p.Sub) >= 0 {
			return false
		}
		(*container)[i].kids = append((*container)[i].kids, node{key: p.Sub, leaf: v})
		return true
	}
	sub := p.Sub
	if sub == "" {
		sub = "value"
	}
	if sub == p.FilterAttr || sub == "primary" || p.FilterAttr == "primary" {
		return false
	}
	if i < 0 {
		i = add(container, p.Attr, listNode)
	} else if (*container)[i].kind != listNode {
		return false
	}
	list := &(*container)[i].kids
	if ss, isList := v.([]string); isList && len(ss) != 1 {
		for _, s := range ss {
			t.element(list, p, sub, s)
		}
		return true
	} else if isList {
		v = ss[0]
	}
	// One element per type, as setFlat: a second sub-attribute of the same type joins the element.
	for e := range *list {
		el := &(*list)[e]
		if f := find(el.kids, p.FilterAttr); f >= 0 && el.kids[f].leaf == any(p.FilterValue) && find(el.kids, sub) < 0 {
			el.kids = append(el.kids, node{key: sub, leaf: v})
			return true
		}
	}
	t.element(list, p, sub, v)
	return true
}

// element appends a new element of a filtered path's list, with primary set on the work email.
func (t *tree) element(list *[]node, p Path, sub string, v any) {
	e := add(list, "", objectNode)
	el := &(*list)[e]
	el.kids = append(el.kids, node{key: p.FilterAttr, leaf: p.FilterValue}, node{key: sub, leaf: v})
	if strings.EqualFold(p.Attr, "emails") && p.FilterValue == "work" && strings.EqualFold(p.FilterAttr, "type") {
		el.kids = append(el.kids, node{key: "primary", leaf: true})
	}
}

// appendJSON encodes the tree with the schemas member build adds, keys sorted as json.Marshal sorts
// a map's.
func (t *tree) appendJSON(dst []byte) []byte {
	add(&t.root, "schemas", leafNode) // its value is written by appendSchemas
	slices.Sort(t.exts)
	return t.appendObject(dst, t.root, true)
}

// appendObject encodes the members ns; top marks the body itself, whose schemas member is made here.
func (t *tree) appendObject(dst []byte, ns []node, top bool) []byte {
	slices.SortFunc(ns, func(a, b node) int { return strings.Compare(a.key, b.key) })
	dst = append(dst, '{')
	for i := range ns {
		if i > 0 {
			dst = append(dst, ',')
		}
		n := &ns[i]
		dst = append(appendJSONString(dst, n.key), ':')
		switch {
		case top && n.key == "schemas":
			dst = t.appendSchemas(dst)
		case n.kind == leafNode:
			dst, _ = AppendJSON(dst, n.leaf)
		case n.kind == objectNode:
			dst = t.appendObject(dst, n.kids, false)
		default:
			dst = append(dst, '[')
			for e := range n.kids {
				if e > 0 {
					dst = append(dst, ',')
				}
				dst = t.appendObject(dst, n.kids[e].kids, false)
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, '}')
}

func (t *tree) appendSchemas(dst []byte) []byte {
	dst = append(dst, '[')
	dst = appendJSONString(dst, SchemaUser)
	if t.enterpr {
		dst = appendJSONString(append(dst, ','), SchemaEnterprise)
	}
	for _, u := range t.exts {
		dst = appendJSONString(append(dst, ','), u)
	}
	return append(dst, ']')
}
