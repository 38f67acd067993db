package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file walks a yaml.Node tree by hand instead of using yaml's struct decoding, because struct
// decoding loses the position of each key (and stops at the first error), while every error here must
// name file, line and key, and all of them must be reported.

// maxExpandedNodes bounds the size of a document after aliases are expanded, so that a "billion laughs"
// file cannot make loading take unbounded time or memory.
const maxExpandedNodes = 100_000

// pos is where a value came from: the line and column of its key (or of the item, in a list) and its
// dotted path.
type pos struct {
	line, col int
	path      string
}

// val is an optional scalar as written in the file; a nil *val means the key was absent or null, which
// is how "unset" stays distinct from a written zero until finalize applies defaults.
type val[T any] struct {
	V T
	pos
}

// field is one key/value pair (or one list item, with key nil) with its value's aliases resolved.
type field struct {
	key  *yaml.Node
	val  *yaml.Node
	path string
}

func (f field) pos() pos {
	n := f.key
	if n == nil {
		n = f.val
	}
	if n == nil {
		return pos{path: f.path}
	}
	return pos{line: n.Line, col: n.Column, path: f.path}
}

// decoder collects errors while walking one file.
type decoder struct {
	file string
	errs Errors
	seen map[string]bool
	// inline holds the paths of mappings that had an inline secret key, so that the "needs secretEnv
	// or secretFile" error does not repeat what the inline-secret error already says.
	inline map[string]bool
}

func (d *decoder) errorf(p pos, format string, args ...any) {
	e := &Error{File: d.file, Line: p.line, Column: p.col, Key: p.path, Msg: fmt.Sprintf(format, args...)}
	// A merged (<<) or aliased node is walked once per use; report each distinct problem once.
	k := e.Error()
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if d.seen[k] {
		return
	}
	d.seen[k] = true
	d.errs = append(d.errs, e)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// resolve follows an alias to its anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch {
	case n == nil || isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an unresolved alias"
}

// expandedSize counts the nodes of n with aliases expanded, stopping at limit; it reports alias cycles,
// which yaml.v3 allows when decoding into a Node (an anchored list may contain an alias to itself).
func expandedSize(n *yaml.Node, limit int, memo map[*yaml.Node]int, active map[*yaml.Node]bool) (int, bool) {
	if n == nil {
		return 0, true
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1, true
		}
		return expandedSize(n.Alias, limit, memo, active)
	}
	if s, ok := memo[n]; ok {
		return s, true
	}
	if active[n] {
		return 0, false
	}
	active[n] = true
	defer delete(active, n)
	total := 1
	for _, c := range n.Content {
		s, ok := expandedSize(c, limit, memo, active)
		if !ok {
			return 0, false
		}
		total += s
		if total > limit {
			total = limit + 1
			break
		}
	}
	memo[n] = total
	return total, true
}

// fields checks that f holds a mapping, reports unknown and duplicate keys, and returns the pairs by
// key. known lists the accepted keys; inline maps keys that would hold a secret in the file to the
// message that explains where the secret must come from instead.
func (d *decoder) fields(f field, known []string, inline map[string]string) (map[string]field, bool) {
	if f.val == nil || f.val.Kind != yaml.MappingNode {
		d.errorf(f.pos(), "expected a mapping, got %s", kindName(f.val))
		return nil, false
	}
	out := map[string]field{}
	d.collect(f.val, f.path, known, inline, out, true, 0)
	d.collect(f.val, f.path, known, inline, out, false, 0)
	return out, true
}

// collect adds the pairs of n to out. It runs twice: first for the keys written in n, then for keys
// merged in with "<<: *anchor", which never override written ones (YAML merge-key semantics).
func (d *decoder) collect(n *yaml.Node, path string, known []string, inline map[string]string, out map[string]field, explicit bool, depth int) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if explicit {
				continue
			}
			if depth > 8 {
				d.errorf(pos{k.Line, k.Column, path}, "merge keys (<<) nested too deeply")
				continue
			}
			var srcs []*yaml.Node
			switch v.Kind {
			case yaml.MappingNode:
				srcs = []*yaml.Node{v}
			case yaml.SequenceNode:
				for _, it := range v.Content {
					srcs = append(srcs, resolve(it))
				}
			}
			for _, s := range srcs {
				if s.Kind != yaml.MappingNode {
					d.errorf(pos{k.Line, k.Column, path}, "a merge key (<<) needs a mapping or a list of mappings, got %s", kindName(s))
					continue
				}
				d.collect(s, path, known, inline, out, true, depth+1)
				d.collect(s, path, known, inline, out, false, depth+1)
			}
			continue
		}
		if !explicit {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(pos{k.Line, k.Column, path}, "keys must be strings, got %s", kindName(k))
			continue
		}
		name := k.Value
		p := pos{k.Line, k.Column, join(path, name)}
		if prev, dup := out[name]; dup {
			// Inside a merged mapping an existing key is simply overridden by the including one.
			if depth == 0 {
				d.errorf(p, "duplicate key (first set on line %d)", prev.key.Line)
			}
			continue
		}
		if !contains(known, name) {
			if msg, ok := inline[name]; ok {
				d.errorf(p, "%s", msg)
				if d.inline == nil {
					d.inline = map[string]bool{}
				}
				d.inline[path] = true
			} else {
				d.errorf(p, "unknown key%s", didYouMean(name, known))
			}
			// Remember it so a second occurrence is not also reported as unknown.
			out[name] = field{key: k, val: nil, path: p.path}
			continue
		}
		out[name] = field{key: k, val: v, path: p.path}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// get returns a known field, or ok=false when it is absent, null, or was rejected as unknown.
func get(fs map[string]field, name string) (field, bool) {
	f, ok := fs[name]
	if !ok || f.val == nil || isNull(f.val) {
		return field{}, false
	}
	return f, true
}

func (d *decoder) str(fs map[string]field, name string) *val[string] {
	f, ok := get(fs, name)
	if !ok {
		return nil
	}
	return d.scalarString(f)
}

func (d *decoder) scalarString(f field) *val[string] {
	if f.val.Kind != yaml.ScalarNode {
		d.errorf(f.pos(), "expected a string, got %s", kindName(f.val))
		return nil
	}
	return &val[string]{V: f.val.Value, pos: f.pos()}
}

func (d *decoder) boolean(fs map[string]field, name string) *val[bool] {
	f, ok := get(fs, name)
	if !ok {
		return nil
	}
	if f.val.Kind == yaml.ScalarNode && f.val.Tag == "!!bool" {
		if b, err := strconv.ParseBool(f.val.Value); err == nil {
			return &val[bool]{V: b, pos: f.pos()}
		}
	}
	d.errorf(f.pos(), "expected true or false, got %s", kindName(f.val))
	return nil
}

func (d *decoder) integer(fs map[string]field, name string) *val[int] {
	f, ok := get(fs, name)
	if !ok {
		return nil
	}
	if f.val.Kind == yaml.ScalarNode && f.val.Tag == "!!int" {
		if i, err := strconv.ParseInt(strings.ReplaceAll(f.val.Value, "_", ""), 0, 32); err == nil {
			return &val[int]{V: int(i), pos: f.pos()}
		}
		d.errorf(f.pos(), "integer %s is out of range", f.val.Value)
		return nil
	}
	d.errorf(f.pos(), "expected an integer, got %s", kindName(f.val))
	return nil
}

func (d *decoder) number(fs map[string]field, name string) *val[float64] {
	f, ok := get(fs, name)
	if !ok {
		return nil
	}
	if f.val.Kind == yaml.ScalarNode && (f.val.Tag == "!!int" || f.val.Tag == "!!float") {
		x, err := strconv.ParseFloat(strings.ReplaceAll(f.val.Value, "_", ""), 64)
		if err != nil && f.val.Tag == "!!int" {
			var i int64
			i, err = strconv.ParseInt(strings.ReplaceAll(f.val.Value, "_", ""), 0, 64)
			x = float64(i)
		}
		if err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) {
			return &val[float64]{V: x, pos: f.pos()}
		}
	}
	d.errorf(f.pos(), "expected a number, got %s", kindName(f.val))
	return nil
}

// list returns the items of a sequence; a single scalar is accepted as a one-item list when oneOK, so
// `to: a@example.com` works like `to: [a@example.com]`.
func (d *decoder) list(fs map[string]field, name string, oneOK bool) ([]field, bool) {
	f, ok := get(fs, name)
	if !ok {
		return nil, false
	}
	if oneOK && f.val.Kind == yaml.ScalarNode {
		return []field{{val: f.val, path: index(f.path, 0)}}, true
	}
	if f.val.Kind != yaml.SequenceNode {
		d.errorf(f.pos(), "expected a list, got %s", kindName(f.val))
		return nil, false
	}
	out := make([]field, 0, len(f.val.Content))
	for i, it := range f.val.Content {
		out = append(out, field{val: resolve(it), path: index(f.path, i)})
	}
	return out, true
}
