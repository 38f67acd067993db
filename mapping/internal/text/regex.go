package text

import (
	"fmt"
	"regexp"
	"strings"
)

// CompileRegex compiles a .NET regular expression (the service's flavour) as Go RE2, after rewriting
// .NET's named groups (?<name>...) and (?'name'...) to (?P<name>...). Constructs RE2 lacks
// (lookaround, backreferences, atomic groups) fail here, at compile time, instead of silently matching
// differently.
func CompileRegex(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(TranslateDotNetRegex(pattern))
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w (.NET lookaround, backreferences and atomic groups are not supported)", pattern, err)
	}
	return re, nil
}

// TranslateDotNetRegex rewrites .NET's named groups (?<name>...) and (?'name'...) to Go's (?P<name>...),
// outside character classes and escapes. Entra writes its regular expressions (in Replace and in the
// scoping filters' REGEX MATCH) in the .NET flavour; this is the one place that translates them.
func TranslateDotNetRegex(p string) string {
	if !strings.Contains(p, "(?<") && !strings.Contains(p, "(?'") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p) + 8)
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			b.WriteByte(c)
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			b.WriteByte(c)
			if i+1 < len(p) && p[i+1] == '^' {
				i++
				b.WriteByte(p[i])
			}
			if i+1 < len(p) && p[i+1] == ']' {
				i++
				b.WriteByte(p[i])
			}
			continue
		case c == '(' && strings.HasPrefix(p[i:], "(?<") && i+3 < len(p) && p[i+3] != '=' && p[i+3] != '!':
			b.WriteString("(?P<")
			i += 2
			continue
		case c == '(' && strings.HasPrefix(p[i:], "(?'"):
			if end := strings.IndexByte(p[i+3:], '\''); end >= 0 {
				b.WriteString("(?P<")
				b.WriteString(p[i+3 : i+3+end])
				b.WriteByte('>')
				i += 3 + end
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// TranslateReplacement turns a .NET replacement pattern into Go's regexp.Expand template. The
// differences that matter: .NET reads "$1a" as group 1 then "a" (Go would look for a group named
// "1a"), and spells the whole match "$&" (Go: ${0}). .NET substitutions Go lacks ($`, $', $+, $_) and any
// other '$' are kept as literal text, as .NET does for an unrecognized '$'.
func TranslateReplacement(r string) string {
	if !strings.Contains(r, "$") {
		return r
	}
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(r) {
			b.WriteString("$$")
			continue
		}
		switch n := r[i+1]; {
		case n == '$':
			b.WriteString("$$")
			i++
		case n == '&':
			b.WriteString("${0}")
			i++
		case n == '{':
			end := strings.IndexByte(r[i+2:], '}')
			if end < 0 {
				b.WriteString("$$")
				continue
			}
			b.WriteString("${")
			b.WriteString(r[i+2 : i+2+end])
			b.WriteString("}")
			i += 2 + end
		case asciiDigit(n):
			j := i + 1
			for j < len(r) && asciiDigit(r[j]) {
				j++
			}
			b.WriteString("${")
			b.WriteString(r[i+1 : j])
			b.WriteString("}")
			i = j - 1
		default:
			b.WriteString("$$")
		}
	}
	return b.String()
}

// asciiDigit reports a digit: the .NET formats and patterns read ASCII digits only.
func asciiDigit(c byte) bool { return c >= '0' && c <= '9' }
