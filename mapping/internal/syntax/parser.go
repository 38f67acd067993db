// Package syntax reads the expression language of attribute mappings into a tree; the function
// library (package builtin) checks and evaluates the calls.
package syntax

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scimsync/scimsync/mapping/internal/value"
)

// The grammar, VBA-like as in the Entra documentation:
//
//	expression := operand                       (the whole mapping: no comparison at the top)
//	argument   := [ operand [ cmpop operand ] ] (empty = omitted positional argument)
//	operand    := Name "(" [ argument { "," argument } ] ")"
//	            | "[" attribute "]" | "\"" string "\"" | ["-"] digits | "&H" hexdigits
//	            | "vbBinaryCompare" | "vbTextCompare"
//	cmpop      := "=" | "<>" | ">" | ">=" | "<" | "<="
//
// Whitespace is allowed between tokens. Function names are case-sensitive.

// NodeKind tells what a Node stands for.
type NodeKind uint8

// The kinds of Node.
const (
	Const NodeKind = iota
	Attr
	Call
	Cmp
	Omitted
)

// CmpOp is a comparison operator inside a function argument.
type CmpOp uint8

// The comparison operators.
const (
	Eq CmpOp = iota + 1
	Ne
	Gt
	Ge
	Lt
	Le
)

// The two constants of VBA's compare mode, spelt vbBinaryCompare and vbTextCompare in expressions.
const (
	BinaryCompare = 0
	TextCompare   = 1
)

// Node is one element of the compiled tree. Nodes are never written after Parse returns, so one tree
// is evaluated concurrently by many workers.
type Node struct {
	Kind NodeKind
	Op   CmpOp
	Pos  int // byte offset of the token, turned into a column only when reporting
	Val  value.Value
	Name string
	Fn   *Func
	Args []*Node
	// Prep holds what a function precomputed from constant arguments at compile time (a compiled
	// regular expression, a parsed date format, ...).
	Prep any
}

// Omitted reports whether argument i is missing or left empty.
func (n *Node) Omitted(i int) bool { return i >= len(n.Args) || n.Args[i].Kind == Omitted }

// Constant reports the value of argument i when it is a literal, so functions can check and
// precompute it at load.
func (n *Node) Constant(i int) (value.Value, bool) {
	if i >= len(n.Args) || n.Args[i].Kind != Const {
		return value.Value{}, false
	}
	return n.Args[i].Val, true
}

// Func describes one function of the library as the parser needs it: its arity and an optional
// compile-time check that validates and precomputes constant arguments. Impl is the evaluator's own
// implementation, kept here so a call is dispatched without a second lookup.
type Func struct {
	Name    string
	Min     int
	Max     int // -1: no upper bound
	TopOnly bool
	Check   func(n *Node) error
	Impl    any
}

// Arity renders the accepted argument count for error messages.
func (f *Func) Arity() string {
	plural := func(k int) string {
		if k == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", k)
	}
	switch {
	case f.Max < 0:
		return "at least " + plural(f.Min)
	case f.Min == f.Max && f.Min == 0:
		return "no arguments"
	case f.Min == f.Max:
		return plural(f.Min)
	}
	return fmt.Sprintf("%d to %d arguments", f.Min, f.Max)
}

// Parse reads one expression. known reports whether [name] is a valid source attribute (nil accepts
// any name); funcs is the function library. It returns the tree and the attributes referenced
// (deduplicated, in order of first use).
func Parse(src string, known func(name string) bool, funcs map[string]*Func) (*Node, []string, error) {
	p := &parser{src: src, known: known, funcs: funcs}
	root, err := p.parseExpression()
	if err != nil {
		return nil, nil, err
	}
	return root, p.attrs, nil
}

const expectedOperand = "a function call, [attribute], string or number"

type parser struct {
	src   string
	pos   int
	known func(name string) bool
	funcs map[string]*Func
	attrs []string
}

func (p *parser) parseExpression() (*Node, error) {
	p.skipSpace()
	n, err := p.parseOperand(true)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		if _, _, ok := p.peekOp(); ok {
			return nil, p.syntaxError("end of expression (comparisons are only allowed inside function arguments)")
		}
		return nil, p.syntaxError("end of expression")
	}
	return n, nil
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) found() string {
	if p.pos >= len(p.src) {
		return "end of expression"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return strconv.QuoteRune(r)
}

func (p *parser) syntaxError(expected string) error {
	return p.syntaxErrorAt(p.pos, expected)
}

func (p *parser) syntaxErrorAt(pos int, expected string) error {
	saved := p.pos
	p.pos = pos
	f := p.found()
	p.pos = saved
	return &SyntaxError{Column: Column(p.src, pos), Expected: expected, Found: f}
}

func (p *parser) compileError(pos int, kind CompileErrorKind, fn, attr, format string, a ...any) error {
	return &CompileError{Kind: kind, Column: Column(p.src, pos), Function: fn, Attribute: attr, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) peekOp() (CmpOp, int, bool) {
	s := p.src[p.pos:]
	switch {
	case strings.HasPrefix(s, "<>"):
		return Ne, 2, true
	case strings.HasPrefix(s, ">="):
		return Ge, 2, true
	case strings.HasPrefix(s, "<="):
		return Le, 2, true
	case strings.HasPrefix(s, "="):
		return Eq, 1, true
	case strings.HasPrefix(s, ">"):
		return Gt, 1, true
	case strings.HasPrefix(s, "<"):
		return Lt, 1, true
	}
	return 0, 0, false
}

// parseArgument reads one argument of a call; the caller has checked it is not omitted.
func (p *parser) parseArgument() (*Node, error) {
	left, err := p.parseOperand(false)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	op, width, ok := p.peekOp()
	if !ok {
		return left, nil
	}
	pos := p.pos
	p.pos += width
	p.skipSpace()
	right, err := p.parseOperand(false)
	if err != nil {
		return nil, err
	}
	return &Node{Kind: Cmp, Op: op, Pos: pos, Args: []*Node{left, right}}, nil
}

func (p *parser) parseOperand(top bool) (*Node, error) {
	if p.pos >= len(p.src) {
		return nil, p.syntaxError(expectedOperand)
	}
	start := p.pos
	c := p.src[p.pos]
	switch {
	case c == '"':
		s, err := p.parseString()
		if err != nil {
			return nil, err
		}
		return &Node{Kind: Const, Pos: start, Val: value.Str(s)}, nil
	case c == '[':
		return p.parseAttribute()
	case c == '-' || isDigit(c):
		return p.parseInt()
	case c == '&':
		return p.parseHex()
	case isIdentStart(c):
		return p.parseName(top)
	}
	return nil, p.syntaxError(expectedOperand)
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }

func (p *parser) parseString() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	plain := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '"':
			s := p.src[plain:p.pos]
			p.pos++
			if b.Len() == 0 {
				return s, nil
			}
			b.WriteString(s)
			return b.String(), nil
		case '\\':
			// \" and \\ are the documented escapes; any other backslash is kept literally, which is
			// what a regular expression written with a single backslash expects.
			if p.pos+1 < len(p.src) && (p.src[p.pos+1] == '"' || p.src[p.pos+1] == '\\') {
				b.WriteString(p.src[plain:p.pos])
				b.WriteByte(p.src[p.pos+1])
				p.pos += 2
				plain = p.pos
				continue
			}
		}
		p.pos++
	}
	return "", p.syntaxError(`closing '"'`)
}

func (p *parser) parseAttribute() (*Node, error) {
	start := p.pos
	p.pos++ // '['
	end := strings.IndexAny(p.src[p.pos:], "[]")
	if end < 0 {
		p.pos = len(p.src)
		return nil, p.syntaxError("']'")
	}
	if p.src[p.pos+end] == '[' {
		p.pos += end
		return nil, p.syntaxError("']'")
	}
	name := p.src[p.pos : p.pos+end]
	if strings.TrimSpace(name) == "" {
		p.pos += end
		return nil, p.syntaxError("an attribute name")
	}
	p.pos += end + 1
	if p.known != nil && !p.known(name) {
		return nil, p.compileError(start, UnknownAttribute, "", name, "unknown attribute [%s]", name)
	}
	p.addAttr(name)
	return &Node{Kind: Attr, Pos: start, Name: name}, nil
}

func (p *parser) addAttr(name string) {
	for _, a := range p.attrs {
		if a == name {
			return
		}
	}
	p.attrs = append(p.attrs, name)
}

func (p *parser) parseInt() (*Node, error) {
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
		p.pos++
	}
	if p.pos == digits {
		return nil, p.syntaxError("a digit after '-'")
	}
	if p.pos < len(p.src) && (isIdentStart(p.src[p.pos]) || p.src[p.pos] == '.') {
		return nil, p.syntaxError("',' or ')'")
	}
	i, err := strconv.ParseInt(p.src[start:p.pos], 10, 64)
	if err != nil {
		return nil, p.syntaxErrorAt(start, "an integer between -9223372036854775808 and 9223372036854775807")
	}
	return &Node{Kind: Const, Pos: start, Val: value.Int(i)}, nil
}

func (p *parser) parseHex() (*Node, error) {
	start := p.pos
	p.pos++ // '&'
	if p.pos >= len(p.src) || (p.src[p.pos] != 'H' && p.src[p.pos] != 'h') {
		return nil, p.syntaxError("'H' after '&' (hexadecimal literal)")
	}
	p.pos++
	digits := p.pos
	for p.pos < len(p.src) && isHex(p.src[p.pos]) {
		p.pos++
	}
	if p.pos == digits {
		return nil, p.syntaxError("a hexadecimal digit")
	}
	u, err := strconv.ParseUint(p.src[digits:p.pos], 16, 64)
	if err != nil {
		return nil, p.syntaxErrorAt(start, "a hexadecimal literal of at most 16 digits")
	}
	return &Node{Kind: Const, Pos: start, Val: value.Int(int64(u))}, nil
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (p *parser) parseName(top bool) (*Node, error) {
	start := p.pos
	for p.pos < len(p.src) && isIdentPart(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	afterName := p.pos
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		switch name {
		case "vbBinaryCompare":
			p.pos = afterName
			return &Node{Kind: Const, Pos: start, Val: value.Int(BinaryCompare)}, nil
		case "vbTextCompare":
			p.pos = afterName
			return &Node{Kind: Const, Pos: start, Val: value.Int(TextCompare)}, nil
		}
		if _, ok := p.funcs[name]; ok {
			return nil, p.syntaxError("'(' after " + name)
		}
		return nil, p.compileError(start, UnknownIdentifier, "", "", "unknown identifier %q (attributes are written [%s], strings \"%s\")", name, name, name)
	}
	fn, ok := p.funcs[name]
	if !ok {
		msg := fmt.Sprintf("unknown function %q", name)
		for known := range p.funcs {
			if strings.EqualFold(known, name) {
				msg += fmt.Sprintf(" (function names are case-sensitive: did you mean %s?)", known)
				break
			}
		}
		return nil, &CompileError{Kind: UnknownFunction, Column: Column(p.src, start), Function: name, Msg: msg}
	}
	p.pos++ // '('
	n := &Node{Kind: Call, Pos: start, Name: name, Fn: fn}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			var arg *Node
			if p.pos < len(p.src) && (p.src[p.pos] == ',' || p.src[p.pos] == ')') {
				arg = &Node{Kind: Omitted, Pos: p.pos}
			} else {
				var err error
				if arg, err = p.parseArgument(); err != nil {
					return nil, err
				}
			}
			n.Args = append(n.Args, arg)
			p.skipSpace()
			if p.pos >= len(p.src) {
				return nil, p.syntaxError("',' or ')'")
			}
			if p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			return nil, p.syntaxError("',' or ')'")
		}
	}
	if err := p.checkCall(n, top); err != nil {
		return nil, err
	}
	return n, nil
}

// checkCall enforces arity and lets the function validate and precompute its constant arguments.
func (p *parser) checkCall(n *Node, top bool) error {
	fn := n.Fn
	got := len(n.Args)
	if got < fn.Min || (fn.Max >= 0 && got > fn.Max) {
		return p.compileError(n.Pos, WrongArity, fn.Name, "", "%s takes %s, got %d", fn.Name, fn.Arity(), got)
	}
	if fn.TopOnly && !top {
		return p.compileError(n.Pos, InvalidArgument, fn.Name, "", "%s must be the outermost function of the expression", fn.Name)
	}
	if fn.Check != nil {
		if err := fn.Check(n); err != nil {
			return p.compileError(n.Pos, InvalidArgument, fn.Name, "", "%s: %v", fn.Name, err)
		}
	}
	return nil
}
