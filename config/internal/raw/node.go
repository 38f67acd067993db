// Package raw reads a job file as written: YAML nodes walked into structs that keep every value's
// line, column and dotted key, so that each later check reports file:line:key. Defaults and checks of
// meaning are package config's.
package raw

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

// Pos is where a value came from: the line and column of its key (or of the item, in a list) and its
// dotted path.
type Pos struct {
	Line, Col int
	Path      string
}

// val is an optional scalar as written in the file; a nil *val means the key was absent or null, which
// is how "unset" stays distinct from a written zero until finalize applies defaults.
type Val[T any] struct {
	V T
	Pos
}

// Field is one key/value pair (or one list item, with key nil) with its value's aliases resolved.
type Field struct {
	Key  *yaml.Node
	Node *yaml.Node
	Path string
}

// Pos is where the field stands in the file: its key, or the item itself in a list.
func (f Field) Pos() Pos {
	n := f.Key
	if n == nil {
		n = f.Node
	}
	if n == nil {
		return Pos{Path: f.Path}
	}
	return Pos{Line: n.Line, Col: n.Column, Path: f.Path}
}

// Decoder collects errors while walking one file.
type Decoder struct {
	File string
	Errs Errors
	seen map[string]bool
	// Inline holds the paths of mappings that had an inline secret key, so that the "needs secretEnv
	// or secretFile" error does not repeat what the inline-secret error already says.
	Inline map[string]bool
}

func (d *Decoder) Errorf(p Pos, format string, args ...any) {
	e := &Error{File: d.File, Line: p.Line, Column: p.Col, Key: p.Path, Msg: fmt.Sprintf(format, args...)}
	// A merged (<<) or aliased node is walked once per use; report each distinct problem once.
	k := e.Error()
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if d.seen[k] {
		return
	}
	d.seen[k] = true
	d.Errs = append(d.Errs, e)
}

func Join(path, key string) string {
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
func (d *Decoder) fields(f Field, known []string, inline map[string]string) (map[string]Field, bool) {
	if f.Node == nil || f.Node.Kind != yaml.MappingNode {
		d.Errorf(f.Pos(), "expected a mapping, got %s", kindName(f.Node))
		return nil, false
	}
	out := map[string]Field{}
	d.collect(f.Node, f.Path, known, inline, out, true, 0)
	d.collect(f.Node, f.Path, known, inline, out, false, 0)
	return out, true
}

// collect adds the pairs of n to out. It runs twice: first for the keys written in n, then for keys
// merged in with "<<: *anchor", which never override written ones (YAML merge-key semantics).
func (d *Decoder) collect(n *yaml.Node, path string, known []string, inline map[string]string, out map[string]Field, explicit bool, depth int) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if explicit {
				continue
			}
			if depth > 8 {
				d.Errorf(Pos{k.Line, k.Column, path}, "merge keys (<<) nested too deeply")
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
					d.Errorf(Pos{k.Line, k.Column, path}, "a merge key (<<) needs a mapping or a list of mappings, got %s", kindName(s))
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
			d.Errorf(Pos{k.Line, k.Column, path}, "keys must be strings, got %s", kindName(k))
			continue
		}
		name := k.Value
		p := Pos{k.Line, k.Column, Join(path, name)}
		if prev, dup := out[name]; dup {
			// Inside a merged mapping an existing key is simply overridden by the including one.
			if depth == 0 {
				d.Errorf(p, "duplicate key (first set on line %d)", prev.Key.Line)
			}
			continue
		}
		if !Contains(known, name) {
			if msg, ok := inline[name]; ok {
				d.Errorf(p, "%s", msg)
				if d.Inline == nil {
					d.Inline = map[string]bool{}
				}
				d.Inline[path] = true
			} else {
				d.Errorf(p, "unknown key%s", DidYouMean(name, known))
			}
			// Remember it so a second occurrence is not also reported as unknown.
			out[name] = Field{Key: k, Node: nil, Path: p.Path}
			continue
		}
		out[name] = Field{Key: k, Node: v, Path: p.Path}
	}
}

func Contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// get returns a known field, or ok=false when it is absent, null, or was rejected as unknown.
func get(fs map[string]Field, name string) (Field, bool) {
	f, ok := fs[name]
	if !ok || f.Node == nil || isNull(f.Node) {
		return Field{}, false
	}
	return f, true
}

func (d *Decoder) str(fs map[string]Field, name string) *Val[string] {
	f, ok := get(fs, name)
	if !ok {
		return nil
	}
	return d.scalarString(f)
}

func (d *Decoder) scalarString(f Field) *Val[string] {
	if f.Node.Kind != yaml.ScalarNode {
		d.Errorf(f.Pos(), "expected a string, got %s", kindName(f.Node))
		return nil
	}
	return &Val[string]{V: f.Node.Value, Pos: f.Pos()}
}

func (d *Decoder) boolean(fs map[string]Field, name string) *Val[bool] {
	f, ok := get(fs, name)
	if !ok {
		return nil
	}
	if f.Node.Kind == yaml.ScalarNode && f.Node.Tag == "!!bool" {
		if b, err := strconv.ParseBool(f.Node.Value); err == nil {
			return &Val[bool]{V: b, Pos: f.Pos()}
		}
	}
	d.Errorf(f.Pos(), "expected true or false, got %s", kindName(f.Node))
	return nil
}

func (d *Decoder) integer(fs map[string]Field, name string) *Val[int] {
	f, ok := get(fs, name)
	if !ok {
		return nil
	}
	if f.Node.Kind == yaml.ScalarNode && f.Node.Tag == "!!int" {
		if i, err := strconv.ParseInt(strings.ReplaceAll(f.Node.Value, "_", ""), 0, 32); err == nil {
			return &Val[int]{V: int(i), Pos: f.Pos()}
		}
		d.Errorf(f.Pos(), "integer %s is out of range", f.Node.Value)
		return nil
	}
	d.Errorf(f.Pos(), "expected an integer, got %s", kindName(f.Node))
	return nil
}

func (d *Decoder) number(fs map[string]Field, name string) *Val[float64] {
	f, ok := get(fs, name)
	if !ok {
		return nil
	}
	if f.Node.Kind == yaml.ScalarNode && (f.Node.Tag == "!!int" || f.Node.Tag == "!!float") {
		x, err := strconv.ParseFloat(strings.ReplaceAll(f.Node.Value, "_", ""), 64)
		if err != nil && f.Node.Tag == "!!int" {
			var i int64
			i, err = strconv.ParseInt(strings.ReplaceAll(f.Node.Value, "_", ""), 0, 64)
			x = float64(i)
		}
		if err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) {
			return &Val[float64]{V: x, Pos: f.Pos()}
		}
	}
	d.Errorf(f.Pos(), "expected a number, got %s", kindName(f.Node))
	return nil
}

// list returns the items of a sequence; a single scalar is accepted as a one-item list when oneOK, so
// `to: a@example.com` works like `to: [a@example.com]`.
func (d *Decoder) list(fs map[string]Field, name string, oneOK bool) ([]Field, bool) {
	f, ok := get(fs, name)
	if !ok {
		return nil, false
	}
	if oneOK && f.Node.Kind == yaml.ScalarNode {
		return []Field{{Node: f.Node, Path: index(f.Path, 0)}}, true
	}
	if f.Node.Kind != yaml.SequenceNode {
		d.Errorf(f.Pos(), "expected a list, got %s", kindName(f.Node))
		return nil, false
	}
	out := make([]Field, 0, len(f.Node.Content))
	for i, it := range f.Node.Content {
		out = append(out, Field{Node: resolve(it), Path: index(f.Path, i)})
	}
	return out, true
}

// Missing reports a required key that is not in the file, at its parent.
func (d *Decoder) Missing(at Field, key string) {
	p := at.Pos()
	p.Path = Join(at.Path, key)
	d.Errorf(p, "required key is missing")
}

// Enum checks v against the allowed values, case-insensitively, and returns the canonical spelling.
func (d *Decoder) Enum(v *Val[string], def string, allowed ...string) string {
	if v == nil {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSpace(v.V), a) {
			return a
		}
	}
	d.Errorf(v.Pos, "unknown value %q; expected %s%s", v.V, OrList(allowed), DidYouMean(v.V, allowed))
	return def
}

// OrList joins choices as "a, b or c".
func OrList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}
