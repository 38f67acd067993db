package objects

import (
	"fmt"
	"strings"
)

// checkSCIMPath validates a target attribute path when no preset lists the valid ones: an attribute,
// an optional [subAttr eq "value"] filter, an optional .subAttribute (required after a filter), and an
// optional schema URN prefix (urn:...:User:attribute).
func checkSCIMPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty")
	}
	if len(p) > 512 {
		return fmt.Errorf("longer than 512 characters")
	}
	attr := p
	if len(p) >= 4 && strings.EqualFold(p[:4], "urn:") {
		head := p
		if j := strings.IndexByte(p, '['); j >= 0 {
			head = p[:j]
		}
		i := strings.LastIndexByte(head, ':')
		schema := p[:i]
		attr = p[i+1:]
		parts := strings.Split(schema, ":")
		if len(parts) < 3 {
			return fmt.Errorf("a schema-qualified path is urn:<namespace>:<schema>:<attribute>")
		}
		for _, part := range parts {
			if part == "" {
				return fmt.Errorf("empty segment in the schema URN")
			}
			for _, r := range part {
				if r <= ' ' || r >= 0x7f || strings.ContainsRune(`[]"`, r) {
					return fmt.Errorf("invalid character %q in the schema URN", r)
				}
			}
		}
	}
	s := &pathScanner{s: attr}
	if !s.name(false) {
		return s.fail("an attribute name")
	}
	filtered := false
	if s.peek('[') {
		filtered = true
		s.i++
		s.spaces()
		if !s.name(false) {
			return s.fail("a sub-attribute name in the filter")
		}
		if !s.spaces() || !s.word("eq") || !s.spaces() {
			return s.fail(`" eq "`)
		}
		if !s.quoted() {
			return s.fail("a quoted value")
		}
		s.spaces()
		if !s.peek(']') {
			return s.fail("]")
		}
		s.i++
	}
	if s.peek('.') {
		s.i++
		if !s.name(true) {
			return s.fail("a sub-attribute name")
		}
	} else if filtered {
		return s.fail(".subAttribute after the filter")
	}
	if s.i != len(s.s) {
		return s.fail("the end of the path")
	}
	return nil
}

type pathScanner struct {
	s string
	i int
}

func (s *pathScanner) fail(want string) error {
	if s.i >= len(s.s) {
		return fmt.Errorf("expected %s at the end", want)
	}
	return fmt.Errorf("expected %s at %q", want, s.s[s.i:])
}

func (s *pathScanner) peek(c byte) bool { return s.i < len(s.s) && s.s[s.i] == c }

// name scans an RFC 7644 ATTRNAME (ALPHA *(ALPHA / DIGIT / "-" / "_")), or $ref where ref is true.
func (s *pathScanner) name(ref bool) bool {
	if ref && strings.HasPrefix(s.s[s.i:], "$ref") {
		s.i += 4
		return true
	}
	start := s.i
	for s.i < len(s.s) {
		c := s.s[s.i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !(alpha || s.i > start && (c >= '0' && c <= '9' || c == '-' || c == '_')) {
			break
		}
		s.i++
	}
	return s.i > start
}

func (s *pathScanner) spaces() bool {
	start := s.i
	for s.peek(' ') {
		s.i++
	}
	return s.i > start
}

func (s *pathScanner) word(w string) bool {
	if len(s.s)-s.i >= len(w) && strings.EqualFold(s.s[s.i:s.i+len(w)], w) {
		s.i += len(w)
		return true
	}
	return false
}

func (s *pathScanner) quoted() bool {
	if !s.peek('"') {
		return false
	}
	for j := s.i + 1; j < len(s.s); j++ {
		switch s.s[j] {
		case '\\':
			j++
		case '"':
			s.i = j + 1
			return true
		}
	}
	return false
}
