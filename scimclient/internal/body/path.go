package body

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Schema URNs that Entra and the Gong gallery app use. They are exported so the mapping presets, the engine and
// the test server agree on one spelling.
const (
	SchemaUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaGong         = "urn:ietf:params:scim:schemas:extension:Gong:2.0:User"
	SchemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	// SchemaADSCIMGroup is the extra group schema Entra lists on group creation (see BuildGroup).
	SchemaADSCIMGroup = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

// PathEnterpriseMgr is the manager reference path, the one reference attribute Entra resolves in a separate
// PATCH after both users exist.
const PathEnterpriseMgr = SchemaEnterprise + ":manager"

const (
	urnPrefixLowerCase = "urn:"
	coreUserLowerCase  = "urn:ietf:params:scim:schemas:core:2.0:user"
	coreGroupLowerCase = "urn:ietf:params:scim:schemas:core:2.0:group"
)

// Path is one flat target attribute path as the mapping table names it. The engine thinks in flat paths
// (`emails[type eq "work"].value`) because that is how Entra's mapping editor names SCIM targets; Path is
// the parsed form that lets BuildUser, ValueAt and the PATCH builders agree on what a path means.
type Path struct {
	// URN is the schema URN of an extension attribute, "" for core attributes (a core URN prefix is dropped).
	URN string
	// Attr is the top-level attribute name as written (compare with strings.EqualFold: SCIM names are
	// case-insensitive).
	Attr string
	// FilterAttr and FilterValue hold a value filter such as [type eq "work"]; FilterAttr is "" without one.
	FilterAttr  string
	FilterValue string
	// Sub is the sub-attribute (givenName in name.givenName, value in emails[...].value), "" without one.
	Sub string
}

// ParsePath parses a flat SCIM attribute path: an optional schema URN prefix, the attribute, an optional
// value filter of the form [attr eq "value"] and an optional sub-attribute. Only the filter shape Entra
// uses is accepted, so a typo in a mapping fails at config load instead of producing a request the target
// rejects on every cycle.
func ParsePath(s string) (Path, error) {
	var p Path
	rest := strings.TrimSpace(s)
	if rest == "" {
		return p, fmt.Errorf("scim path: empty")
	}
	if len(rest) > 4 && strings.EqualFold(rest[:4], urnPrefixLowerCase) {
		// The attribute starts after the last ':' that precedes any filter bracket; a filter value may
		// itself contain colons.
		end := len(rest)
		if i := strings.IndexByte(rest, '['); i >= 0 {
			end = i
		}
		colon := strings.LastIndexByte(rest[:end], ':')
		if colon <= 4 || colon == len(rest)-1 {
			return p, fmt.Errorf("scim path %q: URN without attribute", s)
		}
		p.URN = rest[:colon]
		rest = rest[colon+1:]
		switch strings.ToLower(p.URN) {
		case coreUserLowerCase, coreGroupLowerCase:
			p.URN = ""
		}
	}
	i := 0
	for i < len(rest) && rest[i] != '[' && rest[i] != '.' {
		i++
	}
	p.Attr = rest[:i]
	if !validAttrName(p.Attr) {
		return p, fmt.Errorf("scim path %q: invalid attribute name %q", s, p.Attr)
	}
	rest = rest[i:]
	if strings.HasPrefix(rest, "[") {
		closeIdx := closingBracket(rest)
		if closeIdx < 0 {
			return p, fmt.Errorf("scim path %q: unterminated value filter", s)
		}
		fa, fv, err := parseEqFilter(rest[1:closeIdx])
		if err != nil {
			return p, fmt.Errorf("scim path %q: %w", s, err)
		}
		p.FilterAttr, p.FilterValue = fa, fv
		rest = rest[closeIdx+1:]
	}
	if rest != "" {
		if rest[0] != '.' || !validAttrName(rest[1:]) {
			return p, fmt.Errorf("scim path %q: invalid sub-attribute %q", s, rest)
		}
		p.Sub = rest[1:]
	}
	return p, nil
}

// MustParsePath is ParsePath for paths written in code (presets, tests), where a bad path is a bug.
func MustParsePath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String renders the path in Entra's spelling, so that a parsed path round-trips into PATCH requests.
func (p Path) String() string {
	var b strings.Builder
	if p.URN != "" {
		b.WriteString(p.URN)
		b.WriteByte(':')
	}
	b.WriteString(p.Attr)
	if p.FilterAttr != "" {
		b.WriteByte('[')
		b.WriteString(p.FilterAttr)
		b.WriteString(" eq ")
		b.WriteString(Quote(p.FilterValue))
		b.WriteByte(']')
	}
	if p.Sub != "" {
		b.WriteByte('.')
		b.WriteString(p.Sub)
	}
	return b.String()
}

// IsEnterprise reports whether the path is in the enterprise extension, which BuildUser lists in schemas
// and which holds the manager reference.
func (p Path) IsEnterprise() bool { return strings.EqualFold(p.URN, SchemaEnterprise) }

// IsManager reports whether the path is the enterprise manager reference, which Entra sends as a plain id
// in PATCH and as {"value": id} in POST.
func (p Path) IsManager() bool {
	return p.IsEnterprise() && strings.EqualFold(p.Attr, "manager") && p.FilterAttr == "" &&
		(p.Sub == "" || strings.EqualFold(p.Sub, "value"))
}

// IsActive reports whether the path is the core active flag, whose wire shape depends on the Mode.
func (p Path) IsActive() bool {
	return p.URN == "" && strings.EqualFold(p.Attr, "active") && p.FilterAttr == "" && p.Sub == ""
}

func validAttrName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-' || r == '$'):
		case i == 0 && r == '$': // $ref
		default:
			return false
		}
	}
	return true
}

// closingBracket finds the ']' that closes the filter opened at s[0], skipping quoted strings.
func closingBracket(s string) int {
	inStr := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && c == ']':
			return i
		}
	}
	return -1
}

// parseEqFilter parses `attr eq "value"`, the only value filter Entra writes in attribute paths.
func parseEqFilter(s string) (attr, value string, err error) {
	s = strings.TrimSpace(s)
	sp := strings.IndexByte(s, ' ')
	if sp < 0 {
		return "", "", fmt.Errorf("value filter %q: want attr eq \"value\"", s)
	}
	attr = s[:sp]
	rest := strings.TrimLeft(s[sp:], " ")
	if len(rest) < 2 || !strings.EqualFold(rest[:2], "eq") {
		return "", "", fmt.Errorf("value filter %q: only eq is supported", s)
	}
	rest = strings.TrimSpace(rest[2:])
	if !validAttrName(attr) {
		return "", "", fmt.Errorf("value filter %q: invalid attribute %q", s, attr)
	}
	v, n, err := Unquote(rest)
	if err != nil {
		return "", "", fmt.Errorf("value filter %q: %w", s, err)
	}
	if strings.TrimSpace(rest[n:]) != "" {
		return "", "", fmt.Errorf("value filter %q: trailing text after value", s)
	}
	return attr, v, nil
}

// Quote renders s as a SCIM filter string literal. RFC 7644 §3.4.2.2 defines filter strings as JSON
// strings, so JSON escaping is the one that a compliant server undoes: a userName with a quote or a
// backslash must still match exactly. Non-ASCII stays UTF-8 (the query is percent-encoded later).
func Quote(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// Unquote reads one JSON string literal at the start of s and returns it with the number of bytes used.
// The test server and ParsePath share it so both sides of the wire agree on escaping.
func Unquote(s string) (string, int, error) {
	if s == "" || s[0] != '"' {
		return "", 0, fmt.Errorf("want a quoted string")
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			lit := s[:i+1]
			if !strings.ContainsRune(lit, '\\') {
				if !utf8.ValidString(lit) {
					return "", 0, fmt.Errorf("invalid UTF-8 in string")
				}
				return lit[1:i], i + 1, nil
			}
			v, err := strconv.Unquote(jsonToGoQuoted(lit))
			if err != nil {
				var out string
				if jerr := json.Unmarshal([]byte(lit), &out); jerr != nil {
					return "", 0, fmt.Errorf("bad string literal %s: %w", lit, jerr)
				}
				return out, i + 1, nil
			}
			return v, i + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// jsonToGoQuoted lets strconv.Unquote (fast) read a JSON literal; the only JSON escape Go lacks is \/.
func jsonToGoQuoted(lit string) string {
	if strings.Contains(lit, `\/`) {
		return strings.ReplaceAll(lit, `\/`, `/`)
	}
	return lit
}

// FilterEq builds the `eq` filter Entra sends to find an object by one matching attribute. A path with a
// value filter and a sub-attribute (emails[type eq "work"].value) becomes the RFC-valid form
// emails[type eq "work" and value eq "x"] instead of the common but non-standard
// emails[type eq "work"].value eq "x", which strict servers reject.
func FilterEq(attrPath, value string) (string, error) {
	p, err := ParsePath(attrPath)
	if err != nil {
		return "", err
	}
	if p.FilterAttr != "" && p.Sub != "" {
		prefix := p.Attr
		if p.URN != "" {
			prefix = p.URN + ":" + p.Attr
		}
		return fmt.Sprintf("%s[%s eq %s and %s eq %s]", prefix, p.FilterAttr, Quote(p.FilterValue), p.Sub, Quote(value)), nil
	}
	return p.String() + " eq " + Quote(value), nil
}

// multiAttrPath is the path of the multi-valued attribute a value-filtered path points into
// (emails for emails[type eq "work"].value), with its schema URN when it has one.
func (p Path) multiAttrPath() string {
	if p.URN != "" {
		return p.URN + ":" + p.Attr
	}
	return p.Attr
}

// element is the new element a value-filtered path describes: {"type":"work","value":v}, with
// primary set for the work email as BuildUser does.
func (p Path) element(v any) map[string]any {
	sub := p.Sub
	if sub == "" {
		sub = "value"
	}
	m := map[string]any{p.FilterAttr: p.FilterValue, sub: v}
	if strings.EqualFold(p.Attr, "emails") && p.FilterValue == "work" && strings.EqualFold(p.FilterAttr, "type") {
		m["primary"] = true
	}
	return m
}
