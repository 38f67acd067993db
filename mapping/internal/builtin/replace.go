package builtin

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/scimsync/scimsync/mapping/internal/syntax"
	"github.com/scimsync/scimsync/mapping/internal/text"
	"github.com/scimsync/scimsync/mapping/internal/value"
)

// Replace's modes, decided at compile time from which arguments are present.
const (
	replaceString        = iota + 1 // oldValue + replacementValue
	replaceTemplate                 // oldValue + template
	replaceRegex                    // regexPattern + replacementValue
	replaceRegexGroup               // regexPattern + regexGroupName + replacementValue
	replaceRegexFallback            // regexPattern + regexGroupName + replacementAttributeName
)

// Replace's argument positions.
const (
	rSource = iota
	rOld
	rPattern
	rGroup
	rValue
	rAttr
	rTemplate
)

type replacePrep struct {
	mode int
	re   *regexp.Regexp // set when the pattern is a constant
	repl string         // translated replacement, when constant
	fix  bool           // repl is set
}

func checkReplace(n *syntax.Node) error {
	has := func(i int) bool { return !n.Omitted(i) }
	p := &replacePrep{}
	switch {
	case has(rPattern) && has(rOld):
		return errors.New("give either oldValue or regexPattern, not both")
	case has(rPattern) && has(rGroup) && has(rValue):
		p.mode = replaceRegexGroup
	case has(rPattern) && has(rGroup) && has(rAttr):
		p.mode = replaceRegexFallback
	case has(rPattern) && has(rValue):
		p.mode = replaceRegex
	case has(rOld) && has(rValue):
		p.mode = replaceString
	case has(rOld) && has(rTemplate):
		p.mode = replaceTemplate
	default:
		return errors.New("needs oldValue with replacementValue or template, or regexPattern with replacementValue, or regexPattern and regexGroupName with replacementValue or replacementAttributeName")
	}
	if v, ok := n.Constant(rPattern); ok {
		re, err := text.CompileRegex(v.String())
		if err != nil {
			return err
		}
		p.re = re
	}
	if p.re != nil && has(rGroup) {
		if g, ok := n.Constant(rGroup); ok && p.re.SubexpIndex(g.String()) < 0 {
			return fmt.Errorf("regular expression %q has no group named %q", p.re.String(), g.String())
		}
	}
	if v, ok := n.Constant(rValue); ok && p.mode == replaceRegex {
		p.repl, p.fix = text.TranslateReplacement(v.String()), true
	}
	n.Prep = p
	return nil
}

func (st *evalState) regexArg(n *syntax.Node, p *replacePrep) (*regexp.Regexp, error) {
	return compiledArg(st, n, rPattern, p.re, text.CompileRegex)
}

// fnReplace dispatches on the mode Replace's arguments chose at compile time (checkReplace).
func fnReplace(st *evalState, n *syntax.Node) (value.Value, error) {
	p, _ := n.Prep.(*replacePrep)
	if p == nil {
		return value.Value{}, st.fail(n, "not compiled")
	}
	src, err := st.arg(n, rSource)
	if err != nil {
		return value.Value{}, err
	}
	if p.mode == replaceRegexFallback {
		return st.replaceFallback(n, p, src)
	}
	if src.IsNull() {
		return src, nil
	}
	s := src.String()
	switch p.mode {
	case replaceString, replaceTemplate:
		old, err := st.strArg(n, rOld)
		if err != nil {
			return value.Value{}, err
		}
		if p.mode == replaceTemplate {
			tmpl, err := st.strArg(n, rTemplate)
			if err != nil || old == "" {
				return value.Str(tmpl), err
			}
			return value.Str(strings.ReplaceAll(tmpl, old, s)), nil
		}
		repl, err := st.strArg(n, rValue)
		if err != nil || old == "" {
			return value.Str(s), err
		}
		return value.Str(strings.ReplaceAll(s, old, repl)), nil
	case replaceRegex:
		re, err := st.regexArg(n, p)
		if err != nil {
			return value.Value{}, err
		}
		repl := p.repl
		if !p.fix {
			r, err := st.strArg(n, rValue)
			if err != nil {
				return value.Value{}, err
			}
			repl = text.TranslateReplacement(r)
		}
		return value.Str(re.ReplaceAllString(s, repl)), nil
	case replaceRegexGroup:
		re, gi, err := st.regexGroupArgs(n, p)
		if err != nil {
			return value.Value{}, err
		}
		repl, err := st.strArg(n, rValue)
		if err != nil {
			return value.Value{}, err
		}
		return value.Str(replaceGroup(re, s, gi, repl)), nil
	}
	return value.Value{}, st.fail(n, "unknown mode")
}

// replaceFallback is Replace's mode that keeps a non-empty source and otherwise takes a named group of
// the regular expression's match in another attribute.
func (st *evalState) replaceFallback(n *syntax.Node, p *replacePrep, src value.Value) (value.Value, error) {
	if !src.IsEmpty() {
		return src, nil
	}
	other, err := st.arg(n, rAttr)
	if err != nil || other.IsEmpty() {
		return value.Null(), err
	}
	re, gi, err := st.regexGroupArgs(n, p)
	if err != nil {
		return value.Value{}, err
	}
	m := re.FindStringSubmatch(other.String())
	if m == nil {
		return value.Null(), nil
	}
	return value.Str(m[gi]), nil
}

// regexGroupArgs reads Replace's regular expression and the index of its group named by the group
// argument.
func (st *evalState) regexGroupArgs(n *syntax.Node, p *replacePrep) (*regexp.Regexp, int, error) {
	re, err := st.regexArg(n, p)
	if err != nil {
		return nil, 0, err
	}
	group, err := st.strArg(n, rGroup)
	if err != nil {
		return nil, 0, err
	}
	gi := re.SubexpIndex(group)
	if gi < 0 {
		return nil, 0, st.fail(n, "regular expression %q has no group named %q", re.String(), group)
	}
	return re, gi, nil
}

// replaceGroup replaces, in every match of re, the text of group gi with repl.
func replaceGroup(re *regexp.Regexp, s string, gi int, repl string) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		gs, ge := m[2*gi], m[2*gi+1]
		if gs < 0 || gs < last {
			continue
		}
		b.WriteString(s[last:gs])
		b.WriteString(repl)
		last = ge
	}
	b.WriteString(s[last:])
	return b.String()
}
