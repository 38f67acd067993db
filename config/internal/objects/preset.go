package objects

import (
	"strconv"

	"github.com/scimsync/scimsync/mapping"
)

// MappingSpec is one attribute-mapping row in declarative form, before compilation. Presets are
// written in it, the file's entries are merged into it, and the Fingerprint hashes it, so that the
// same row always has one canonical description.
type MappingSpec struct {
	// Target is the SCIM attribute path.
	Target string
	Kind   mapping.SourceKind
	// Source is the attribute name (Direct), the constant value (Constant) or the expression text
	// (Expression); empty for None.
	Source string
	// Matching is the matching precedence (1 is tried first); 0 means not a matching attribute.
	Matching int
	Flow     mapping.FlowType
	// Default is sent on create when the mapping yields null; nil means no default.
	Default   *string
	Type      mapping.TargetType
	CaseExact bool
}

// SourceText renders the source column the way the portal's mapping list does: the attribute name, a
// quoted constant, the expression, or "(none)"; the README table and the demo print it.
func (s MappingSpec) SourceText() string {
	switch s.Kind {
	case mapping.Constant:
		return strconv.Quote(s.Source)
	case mapping.None:
		return "(none)"
	}
	return s.Source
}

// TargetAttribute is an attribute a target application accepts. A preset knows more attributes than it
// maps by default (Gong's timezone), so that adding one is checked and typed without the admin
// looking up its type.
type TargetAttribute struct {
	Path string
	Type mapping.TargetType
}

// PresetGong names the Gong gallery app preset.
const PresetGong = "gong"

const (
	enterpriseManager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
	gongUserExt       = "urn:ietf:params:scim:schemas:extension:Gong:2.0:User:"
)

// GongUserPreset returns the default user mappings of the Gong gallery app (https://learn.microsoft.com/entra/identity/saas-apps/gong-provisioning-tutorial), in the order
// Entra lists them; a fresh slice each call, so callers may modify it.
func GongUserPreset() []MappingSpec {
	return []MappingSpec{
		{Target: "userName", Kind: mapping.Direct, Source: "userPrincipalName", Matching: 1},
		{Target: "active", Kind: mapping.Expression, Source: "Not([IsSoftDeleted])", Type: mapping.TypeBoolean},
		{Target: "title", Kind: mapping.Direct, Source: "jobTitle"},
		{Target: `emails[type eq "work"].value`, Kind: mapping.Direct, Source: "mail"},
		{Target: "name.givenName", Kind: mapping.Direct, Source: "givenName"},
		{Target: "name.familyName", Kind: mapping.Direct, Source: "surname"},
		{Target: `phoneNumbers[type eq "work"].value`, Kind: mapping.Direct, Source: "telephoneNumber"},
		{Target: "externalId", Kind: mapping.Direct, Source: "mailNickname"},
		{Target: "locale", Kind: mapping.Direct, Source: "preferredLanguage"},
		{Target: enterpriseManager, Kind: mapping.Direct, Source: "manager", Type: mapping.TypeReference},
		{Target: gongUserExt + "stateOrProvince", Kind: mapping.Direct, Source: "state"},
		{Target: gongUserExt + "country", Kind: mapping.Direct, Source: "country"},
	}
}

// GongGroupPreset returns the default group mappings of the Gong gallery app.
func GongGroupPreset() []MappingSpec {
	return []MappingSpec{
		{Target: "displayName", Kind: mapping.Direct, Source: "displayName", Matching: 1},
		{Target: "members", Kind: mapping.Direct, Source: "members", Type: mapping.TypeReference},
	}
}

// GongUserAttributes lists every user attribute Gong accepts (the tutorial's table), including
// timezone, which has no default mapping.
func GongUserAttributes() []TargetAttribute {
	return []TargetAttribute{
		{"userName", mapping.TypeString},
		{enterpriseManager, mapping.TypeReference},
		{"active", mapping.TypeBoolean},
		{"title", mapping.TypeString},
		{`emails[type eq "work"].value`, mapping.TypeString},
		{"name.givenName", mapping.TypeString},
		{"name.familyName", mapping.TypeString},
		{`phoneNumbers[type eq "work"].value`, mapping.TypeString},
		{"externalId", mapping.TypeString},
		{"locale", mapping.TypeString},
		{"timezone", mapping.TypeString},
		{gongUserExt + "stateOrProvince", mapping.TypeString},
		{gongUserExt + "country", mapping.TypeString},
	}
}

// GongGroupAttributes lists every group attribute Gong accepts.
func GongGroupAttributes() []TargetAttribute {
	return []TargetAttribute{
		{"displayName", mapping.TypeString},
		{"members", mapping.TypeReference},
	}
}

// preset is one object type's rows and known attributes of an app.
type preset struct {
	rows    []MappingSpec
	targets []TargetAttribute
}

func lookupPreset(name string, groups bool) (preset, bool) {
	if name != PresetGong {
		return preset{}, false
	}
	if groups {
		return preset{GongGroupPreset(), GongGroupAttributes()}, true
	}
	return preset{GongUserPreset(), GongUserAttributes()}, true
}

// typeNames are the spellings of mapping.TargetType in the file.
var typeNames = map[string]mapping.TargetType{
	"string":    mapping.TypeString,
	"boolean":   mapping.TypeBoolean,
	"integer":   mapping.TypeInteger,
	"reference": mapping.TypeReference,
	"multi":     mapping.TypeMulti,
}

// TypeName returns the file spelling of a target type, for printing tables.
func TypeName(t mapping.TargetType) string {
	for k, v := range typeNames {
		if v == t {
			return k
		}
	}
	return "unknown"
}

// FlowName returns the file spelling of a flow type ("always" or "onCreate"), for printing tables.
func FlowName(f mapping.FlowType) string {
	if f == mapping.OnCreate {
		return "onCreate"
	}
	return "always"
}
