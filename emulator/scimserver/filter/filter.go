// Package filter evaluates SCIM filters (RFC 7644 §3.4.2.2) and applies PATCH operations (RFC 7644
// §3.5.2), whose paths are filters too, for the in-process SCIM server. It lives apart from the server
// so each stays small enough to read.
package filter

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/scimsync/scimsync/scimclient"
)

// The filter language of RFC 7644 §3.4.2.2, enough of it to answer what Entra and scimsync send and a
// little more (or, not, parentheses, co/sw/ew/pr/gt/ge/lt/le) so tests can probe the client freely.

type tokKind int

const (
	tWord tokKind = iota // attribute path, operator or keyword
	tString
	tLBrack
	tRBrack
	tLParen
	tRParen
	tEOF
)

type token struct {
	kind tokKind
	text string
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '[':
			toks = append(toks, token{tLBrack, "["})
			i++
		case c == ']':
			toks = append(toks, token{tRBrack, "]"})
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "("})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")"})
			i++
		case c == '"':
			v, n, err := scimclient.Unquote(s[i:])
			if err != nil {
				return nil, fmt.Errorf("at %d: %w", i, err)
			}
			toks = append(toks, token{tString, v})
			i += n
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n[]()\"", rune(s[j])) {
				j++
			}
			toks = append(toks, token{tWord, s[i:j]})
			i = j
		}
	}
	return append(toks, token{kind: tEOF}), nil
}

// attrRef is an attribute path: an optional extension URN and a chain of names (name.givenName).
type attrRef struct {
	urn   string
	names []string
}

func parseAttrRef(s string) (attrRef, error) {
	var a attrRef
	if len(s) > 4 && strings.EqualFold(s[:4], "urn:") {
		i := strings.LastIndexByte(s, ':')
		a.urn, s = s[:i], s[i+1:]
		if strings.EqualFold(a.urn, scimclient.SchemaUser) || strings.EqualFold(a.urn, scimclient.SchemaGroup) {
			a.urn = ""
		}
	}
	if s == "" {
		return a, fmt.Errorf("empty attribute name")
	}
	a.names = strings.Split(s, ".")
	for _, n := range a.names {
		if n == "" {
			return a, fmt.Errorf("bad attribute path %q", s)
		}
	}
	return a, nil
}

// name is the lower-case dotted name, used to decide case-exactness.
func (a attrRef) name(parent string) string {
	n := strings.ToLower(strings.Join(a.names, "."))
	if parent != "" {
		n = parent + "." + n
	}
	return n
}

type Node interface {
	Match(m map[string]any, ev *Evaluator) bool
}

type Evaluator struct {
	CaseExact map[string]bool // lower-case dotted attribute names compared case-sensitively
}

type andNode struct{ l, r Node }
type orNode struct{ l, r Node }
type notNode struct{ n Node }

func (n andNode) Match(m map[string]any, ev *Evaluator) bool {
	return n.l.Match(m, ev) && n.r.Match(m, ev)
}
func (n orNode) Match(m map[string]any, ev *Evaluator) bool {
	return n.l.Match(m, ev) || n.r.Match(m, ev)
}
func (n notNode) Match(m map[string]any, ev *Evaluator) bool { return !n.n.Match(m, ev) }

// cmpNode is `attr op value` or `attr pr`; parent is the enclosing multi-valued attribute inside a value
// filter, for case-exactness (members.value).
type cmpNode struct {
	attr   attrRef
	op     string
	val    any
	parent string
	key    string // attr.name(parent), precomputed for the case-exactness lookup
}

// valueNode is `attr[filter]`, optionally followed by `.sub op value`.
type valueNode struct {
	attr   attrRef
	filter Node
	sub    *cmpNode
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func isWord(t token, w string) bool { return t.kind == tWord && strings.EqualFold(t.text, w) }

// Parse parses a complete filter expression.
func Parse(s string) (Node, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or("")
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, fmt.Errorf("unexpected %q", p.peek().text)
	}
	return n, nil
}

func (p *parser) or(parent string) (Node, error) {
	l, err := p.and(parent)
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "or") {
		p.next()
		r, err := p.and(parent)
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) and(parent string) (Node, error) {
	l, err := p.factor(parent)
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "and") {
		p.next()
		r, err := p.factor(parent)
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *parser) factor(parent string) (Node, error) {
	t := p.peek()
	if isWord(t, "not") {
		p.next()
		if p.peek().kind != tLParen {
			return nil, fmt.Errorf("not must be followed by (")
		}
		n, err := p.factor(parent)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	if t.kind == tLParen {
		p.next()
		n, err := p.or(parent)
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, fmt.Errorf("missing )")
		}
		return n, nil
	}
	if t.kind != tWord {
		return nil, fmt.Errorf("expected attribute, got %q", t.text)
	}
	p.next()
	attr, err := parseAttrRef(t.text)
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tLBrack {
		if parent != "" {
			return nil, fmt.Errorf("nested value filter")
		}
		p.next()
		inner, err := p.or(attr.name(""))
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRBrack {
			return nil, fmt.Errorf("missing ]")
		}
		vn := valueNode{attr: attr, filter: inner}
		// Non-RFC but common: emails[type eq "work"].value eq "x".
		if nt := p.peek(); nt.kind == tWord && strings.HasPrefix(nt.text, ".") {
			p.next()
			sub, err := parseAttrRef(nt.text[1:])
			if err != nil {
				return nil, err
			}
			c, err := p.comparison(sub, attr.name(""))
			if err != nil {
				return nil, err
			}
			vn.sub = c
		}
		return vn, nil
	}
	return p.comparison(attr, parent)
}

func (p *parser) comparison(attr attrRef, parent string) (*cmpNode, error) {
	opTok := p.next()
	if opTok.kind != tWord {
		return nil, fmt.Errorf("expected operator after %s", strings.Join(attr.names, "."))
	}
	op := strings.ToLower(opTok.text)
	c := &cmpNode{attr: attr, op: op, parent: parent, key: attr.name(parent)}
	switch op {
	case "pr":
		return c, nil
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		return nil, fmt.Errorf("unknown operator %q", opTok.text)
	}
	v := p.next()
	switch {
	case v.kind == tString:
		c.val = v.text
	case isWord(v, "true"):
		c.val = true
	case isWord(v, "false"):
		c.val = false
	case isWord(v, "null"):
		c.val = nil
	case v.kind == tWord:
		f, err := strconv.ParseFloat(v.text, 64)
		if err != nil {
			return nil, fmt.Errorf("bad value %q", v.text)
		}
		c.val = f
	default:
		return nil, fmt.Errorf("expected value after %s", op)
	}
	return c, nil
}

// eachValue calls fn for every value an attribute path reaches, flattening multi-valued attributes, and
// stops when fn returns true. It allocates nothing: a filter scan over 10,000 users must stay cheap.
func eachValue(m map[string]any, a attrRef, fn func(any) bool) bool {
	var cur any = m
	if a.urn != "" {
		cur = scimclient.GetFold(m, a.urn)
	}
	return walkNames(cur, a.names, fn)
}

func walkNames(cur any, names []string, fn func(any) bool) bool {
	if len(names) == 0 {
		if list, ok := cur.([]any); ok {
			for _, v := range list {
				if fn(v) {
					return true
				}
			}
			return false
		}
		return cur != nil && fn(cur)
	}
	switch x := cur.(type) {
	case map[string]any:
		if got := scimclient.GetFold(x, names[0]); got != nil {
			return walkNames(got, names[1:], fn)
		}
	case []any:
		for _, it := range x {
			if im, ok := it.(map[string]any); ok {
				if got := scimclient.GetFold(im, names[0]); got != nil && walkNames(got, names[1:], fn) {
					return true
				}
			}
		}
	}
	return false
}

func (c *cmpNode) Match(m map[string]any, ev *Evaluator) bool {
	exact := ev.CaseExact[c.key]
	switch {
	case c.op == "pr":
		return eachValue(m, c.attr, func(v any) bool {
			s, ok := v.(string)
			return !ok || s != ""
		})
	case c.op == "ne":
		return !eachValue(m, c.attr, func(v any) bool { return compare(v, "eq", c.val, exact) })
	case c.op == "eq" && c.val == nil:
		return !eachValue(m, c.attr, func(any) bool { return true })
	}
	return eachValue(m, c.attr, func(v any) bool { return compare(v, c.op, c.val, exact) })
}

func (n valueNode) Match(m map[string]any, ev *Evaluator) bool {
	return eachValue(m, n.attr, func(it any) bool {
		im, ok := it.(map[string]any)
		return ok && n.filter.Match(im, ev) && (n.sub == nil || n.sub.Match(im, ev))
	})
}

func compare(v any, op string, want any, exact bool) bool {
	switch w := want.(type) {
	case string:
		s, ok := v.(string)
		if !ok {
			return false
		}
		if op == "eq" {
			if exact {
				return s == w
			}
			return strings.EqualFold(s, w)
		}
		if !exact {
			s, w = strings.ToLower(s), strings.ToLower(w)
		}
		switch op {
		case "co":
			return strings.Contains(s, w)
		case "sw":
			return strings.HasPrefix(s, w)
		case "ew":
			return strings.HasSuffix(s, w)
		case "gt":
			return s > w
		case "ge":
			return s >= w
		case "lt":
			return s < w
		case "le":
			return s <= w
		}
	case bool:
		b, ok := v.(bool)
		if !ok {
			if s, isStr := v.(string); isStr {
				b, ok = strings.EqualFold(s, "true"), strings.EqualFold(s, "true") || strings.EqualFold(s, "false")
			}
		}
		return ok && op == "eq" && b == w
	case float64:
		f, ok := v.(float64)
		if !ok {
			return false
		}
		switch op {
		case "eq":
			return f == w
		case "gt":
			return f > w
		case "ge":
			return f >= w
		case "lt":
			return f < w
		case "le":
			return f <= w
		}
	}
	return false
}

// EqLookup recognises `attr eq "v"` (alone or as a conjunct) so the server can answer from its index.
func EqLookup(n Node, attr string) (string, bool) {
	switch x := n.(type) {
	case *cmpNode:
		if x.op == "eq" && x.attr.urn == "" && len(x.attr.names) == 1 && strings.EqualFold(x.attr.names[0], attr) {
			if s, ok := x.val.(string); ok {
				return s, true
			}
		}
	case andNode:
		if v, ok := EqLookup(x.l, attr); ok {
			return v, true
		}
		return EqLookup(x.r, attr)
	}
	return "", false
}

// patchPath is a PATCH path: attrPath [valFilter] [.subAttr] (RFC 7644 §3.5.2).
type patchPath struct {
	urn    string // extension URN or ""
	attr   string
	filter Node
	sub    string
}

func parsePatchPath(s string, extensions []string) (patchPath, error) {
	var pp patchPath
	s = strings.TrimSpace(s)
	// A bare extension URN addresses the whole extension object.
	for _, e := range extensions {
		if strings.EqualFold(s, e) {
			pp.attr = e
			return pp, nil
		}
	}
	head := s
	rest := ""
	if i := strings.IndexByte(s, '['); i >= 0 {
		head, rest = s[:i], s[i:]
	}
	a, err := parseAttrRef(head)
	if err != nil {
		return pp, err
	}
	pp.urn = a.urn
	pp.attr = a.names[0]
	if len(a.names) > 2 || (len(a.names) == 2 && rest != "") {
		return pp, fmt.Errorf("bad path %q", s)
	}
	if len(a.names) == 2 {
		pp.sub = a.names[1]
	}
	if rest != "" {
		end := strings.LastIndexByte(rest, ']')
		if end < 0 {
			return pp, fmt.Errorf("unterminated filter in %q", s)
		}
		f, err := parseFilterWithParent(rest[1:end], strings.ToLower(pp.attr))
		if err != nil {
			return pp, fmt.Errorf("filter in path %q: %w", s, err)
		}
		pp.filter = f
		tail := rest[end+1:]
		if tail != "" {
			if tail[0] != '.' || len(tail) < 2 || strings.ContainsAny(tail[1:], ".[]") {
				return pp, fmt.Errorf("bad sub-attribute in %q", s)
			}
			pp.sub = tail[1:]
		}
	}
	return pp, nil
}

func parseFilterWithParent(s, parent string) (Node, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or(parent)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, fmt.Errorf("unexpected %q", p.peek().text)
	}
	return n, nil
}

// KeyFold returns the key under which m stores name, or name itself when absent, so that updates keep
// the casing the resource was created with.
func KeyFold(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}
