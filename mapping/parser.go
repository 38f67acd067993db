package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
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

type nodeKind uint8

const (
	nConst nodeKind = iota
	nAttr
	nCall
	nCmp
	nOmitted
)

type cmpOp uint8

const (
	opEq cmpOp = iota + 1
	opNe
	opGt
	opGe
	opLt
	opLe
)

// node is one element of the compiled tree. Nodes are never written after Compile returns.
type node struct {
	kind nodeKind
	op   cmpOp
	pos  int // byte offset of the token, turned into a column only when reporting
	val  Value
	name string
	fn   *funcSpec
	args []*node
	// prep holds what a function precomputed from constant arguments at compile time (a compiled
	// regular expression, a parsed date format, ...).
	prep any
}

func (n *node) omitted(i int) bool { return i >= len(n.args) || n.args[i].kind == nOmitted }

// constant reports the value of argument i when it is a literal, so functions can check and
// precompute it at load.
func (n *node) constant(i int) (Value, bool) {
	if i >= len(n.args) || n.args[i].kind != nConst {
		return Value{}, false
	}
	return n.args[i].val, true
}

const expectedOperand = "a function call, [attribute], string or number"

type parser struct {
	src   string
	pos   int
	opts  CompileOptions
	attrs []string
}

func (p *parser) parseExpression() (*node, error) {
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
	return &SyntaxError{Column: column(p.src, pos), Expected: expected, Found: f}
}

func (p *parser) compileError(pos int, kind CompileErrorKind, fn, attr, format string, a ...any) error {
	return &CompileError{Kind: kind, Column: column(p.src, pos), Function: fn, Attribute: attr, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) peekOp() (cmpOp, int, bool) {
	s := p.src[p.pos:]
	switch {
	case strings.HasPrefix(s, "<>"):
		return opNe, 2, true
	case strings.HasPrefix(s, ">="):
		return opGe, 2, true
	case strings.HasPrefix(s, "<="):
		return opLe, 2, true
	case strings.HasPrefix(s, "="):
		return opEq, 1, true
	case strings.HasPrefix(s, ">"):
		return opGt, 1, true
	case strings.HasPrefix(s, "<"):
		return opLt, 1, true
	}
	return 0, 0, false
}

// parseArgument reads one argument of a call; the caller has checked it is not omitted.
func (p *parser) parseArgument() (*node, error) {
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
	return &node{kind: nCmp, op: op, pos: pos, args: []*node{left, right}}, nil
}

func (p *parser) parseOperand(top bool) (*node, error) {
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
		return &node{kind: nConst, pos: start, val: Str(s)}, nil
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

func (p *parser) parseAttribute() (*node, error) {
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
	if p.opts.KnownAttribute != nil && !p.opts.KnownAttribute(name) {
		return nil, p.compileError(start, UnknownAttribute, "", name, "unknown attribute [%s]", name)
	}
	p.addAttr(name)
	return &node{kind: nAttr, pos: start, name: name}, nil
}

func (p *parser) addAttr(name string) {
	for _, a := range p.attrs {
		if a == name {
			return
		}
	}
	p.attrs = append(p.attrs, name)
}

func (p *parser) parseInt() (*node, error) {
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
	return &node{kind: nConst, pos: start, val: Int(i)}, nil
}

func (p *parser) parseHex() (*node, error) {
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
	return &node{kind: nConst, pos: start, val: Int(int64(u))}, nil
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (p *parser) parseName(top bool) (*node, error) {
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
			return &node{kind: nConst, pos: start, val: Int(compareBinary)}, nil
		case "vbTextCompare":
			p.pos = afterName
			return &node{kind: nConst, pos: start, val: Int(compareText)}, nil
		}
		if _, ok := functions[name]; ok {
			return nil, p.syntaxError("'(' after " + name)
		}
		return nil, p.compileError(start, UnknownIdentifier, "", "", "unknown identifier %q (attributes are written [%s], strings \"%s\")", name, name, name)
	}
	fn, ok := functions[name]
	if !ok {
		msg := fmt.Sprintf("unknown function %q", name)
		for known := range functions {
			if strings.EqualFold(known, name) {
				msg += fmt.Sprintf(" (function names are case-sensitive: did you mean %s?)", known)
				break
			}
		}
		return nil, &CompileError{Kind: UnknownFunction, Column: column(p.src, start), Function: name, Msg: msg}
	}
	p.pos++ // '('
	n := &node{kind: nCall, pos: start, name: name, fn: fn}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			var arg *node
			if p.pos < len(p.src) && (p.src[p.pos] == ',' || p.src[p.pos] == ')') {
				arg = &node{kind: nOmitted, pos: p.pos}
			} else {
				var err error
				if arg, err = p.parseArgument(); err != nil {
					return nil, err
				}
			}
			n.args = append(n.args, arg)
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
func (p *parser) checkCall(n *node, top bool) error {
	fn := n.fn
	got := len(n.args)
	if got < fn.min || (fn.max >= 0 && got > fn.max) {
		return p.compileError(n.pos, WrongArity, fn.name, "", "%s takes %s, got %d", fn.name, fn.arity(), got)
	}
	if fn.topOnly && !top {
		return p.compileError(n.pos, InvalidArgument, fn.name, "", "%s must be the outermost function of the expression", fn.name)
	}
	if fn.check != nil {
		if err := fn.check(n); err != nil {
			return p.compileError(n.pos, InvalidArgument, fn.name, "", "%s: %v", fn.name, err)
		}
	}
	return nil
}
