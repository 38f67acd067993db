package directory

import (
	"sort"
	"strings"
)

// AttrKind is the value shape of a source attribute, which decides how it is read from Graph's JSON and
// whether scoping filters may use it.
type AttrKind uint8

// Attribute value shapes.
const (
	AttrString AttrKind = iota
	AttrBool
	AttrMulti
	AttrReference
	AttrDate
	// AttrComputed is computed by the engine, not read from Graph (IsSoftDeleted, appRoleAssignments).
	AttrComputed
)

// SourceAttribute describes one Entra user attribute and where it lives in Graph.
type SourceAttribute struct {
	// Name is the Entra (AD-style) name admins write in mappings: telephoneNumber, objectId, ...
	Name string
	// Property is the Graph property to $select. Index >= 0 picks one item of a collection
	// (businessPhones[0]); Sub picks a field of a complex property (onPremisesExtensionAttributes).
	Property string
	Index    int
	Sub      string
	Kind     AttrKind
}

// userAttributes is Entra's user schema for Graph sources, as the provisioning service shows it in the
// mapping editor, translated to Graph v1.0 properties.
var userAttributes = func() map[string]SourceAttribute {
	list := []SourceAttribute{
		{Name: "objectId", Property: "id"},
		{Name: "userPrincipalName", Property: "userPrincipalName"},
		{Name: "originalUserPrincipalName", Property: "userPrincipalName"},
		{Name: "accountEnabled", Property: "accountEnabled", Kind: AttrBool},
		{Name: "displayName", Property: "displayName"},
		{Name: "givenName", Property: "givenName"},
		{Name: "surname", Property: "surname"},
		{Name: "mail", Property: "mail"},
		{Name: "mailNickname", Property: "mailNickname"},
		{Name: "jobTitle", Property: "jobTitle"},
		{Name: "department", Property: "department"},
		{Name: "companyName", Property: "companyName"},
		{Name: "employeeId", Property: "employeeId"},
		{Name: "employeeType", Property: "employeeType"},
		{Name: "employeeHireDate", Property: "employeeHireDate", Kind: AttrDate},
		{Name: "telephoneNumber", Property: "businessPhones", Index: 0},
		{Name: "mobile", Property: "mobilePhone"},
		{Name: "facsimileTelephoneNumber", Property: "faxNumber"},
		{Name: "physicalDeliveryOfficeName", Property: "officeLocation"},
		{Name: "streetAddress", Property: "streetAddress"},
		{Name: "city", Property: "city"},
		{Name: "state", Property: "state"},
		{Name: "country", Property: "country"},
		{Name: "postalCode", Property: "postalCode"},
		{Name: "usageLocation", Property: "usageLocation"},
		{Name: "preferredLanguage", Property: "preferredLanguage"},
		{Name: "userType", Property: "userType"},
		{Name: "proxyAddresses", Property: "proxyAddresses", Kind: AttrMulti},
		{Name: "otherMails", Property: "otherMails", Kind: AttrMulti},
		{Name: "manager", Property: "manager", Kind: AttrReference},
		{Name: "onPremisesSamAccountName", Property: "onPremisesSamAccountName"},
		{Name: "onPremisesImmutableId", Property: "onPremisesImmutableId"},
		{Name: "onPremisesDistinguishedName", Property: "onPremisesDistinguishedName"},
		{Name: "onPremisesDomainName", Property: "onPremisesDomainName"},
		{Name: "onPremisesSecurityIdentifier", Property: "onPremisesSecurityIdentifier"},
		{Name: "onPremisesUserPrincipalName", Property: "onPremisesUserPrincipalName"},
		{Name: "IsSoftDeleted", Kind: AttrComputed},
		{Name: "appRoleAssignments", Kind: AttrComputed},
	}
	m := make(map[string]SourceAttribute, len(list)+15)
	for _, a := range list {
		if a.Kind != AttrMulti && a.Property != "businessPhones" {
			a.Index = -1
		}
		m[a.Name] = a
	}
	for i := 1; i <= 15; i++ {
		n := "extensionAttribute" + itoa(i)
		m[n] = SourceAttribute{Name: n, Property: "onPremisesExtensionAttributes", Sub: n, Index: -1}
	}
	return m
}()

// groupAttributes is Entra's group schema for Graph sources.
var groupAttributes = map[string]SourceAttribute{
	"objectId":        {Name: "objectId", Property: "id", Index: -1},
	"displayName":     {Name: "displayName", Property: "displayName", Index: -1},
	"description":     {Name: "description", Property: "description", Index: -1},
	"mail":            {Name: "mail", Property: "mail", Index: -1},
	"mailNickname":    {Name: "mailNickname", Property: "mailNickname", Index: -1},
	"mailEnabled":     {Name: "mailEnabled", Property: "mailEnabled", Kind: AttrBool, Index: -1},
	"securityEnabled": {Name: "securityEnabled", Property: "securityEnabled", Kind: AttrBool, Index: -1},
	"members":         {Name: "members", Property: "members", Kind: AttrReference, Index: -1},
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

// UserAttribute looks up an Entra user attribute by name. Names are matched exactly first and then
// case-insensitively, because admins copy them from the portal in either spelling.
func UserAttribute(name string) (SourceAttribute, bool) {
	return lookup(userAttributes, name)
}

// GroupAttribute looks up an Entra group attribute by name.
func GroupAttribute(name string) (SourceAttribute, bool) {
	return lookup(groupAttributes, name)
}

func lookup(m map[string]SourceAttribute, name string) (SourceAttribute, bool) {
	if a, ok := m[name]; ok {
		return a, true
	}
	for k, a := range m {
		if strings.EqualFold(k, name) {
			return a, true
		}
	}
	return SourceAttribute{}, false
}

// UserAttributeNames lists every known user attribute name, sorted, for error messages and the README.
func UserAttributeNames() []string {
	return names(userAttributes)
}

// GroupAttributeNames lists every known group attribute name, sorted.
func GroupAttributeNames() []string {
	return names(groupAttributes)
}

func names(m map[string]SourceAttribute) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// UserSelect returns the Graph properties to $select so that exactly the given Entra attributes can be
// filled, plus id and accountEnabled, which the engine always needs. Unknown names are ignored here;
// config rejects them at load.
func UserSelect(attrs []string) []string {
	return selectFor(userAttributes, attrs, "id", "accountEnabled")
}

// GroupSelect is UserSelect for groups; id, displayName and members are always read.
func GroupSelect(attrs []string) []string {
	return selectFor(groupAttributes, attrs, "id", "displayName", "members")
}

func selectFor(m map[string]SourceAttribute, attrs []string, always ...string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range always {
		add(p)
	}
	for _, n := range attrs {
		if a, ok := lookup(m, n); ok {
			add(a.Property)
		}
	}
	return out
}

// StripGuestUPN applies the service's rule for B2B guests: when userPrincipalName is a source attribute,
// "alias_theirdomain#EXT#@yourdomain" becomes "alias@theirdomain". Other values pass unchanged.
func StripGuestUPN(upn string) string {
	i := strings.Index(upn, "#EXT#")
	if i < 0 {
		return upn
	}
	local := upn[:i]
	j := strings.LastIndex(local, "_")
	if j < 0 {
		return local
	}
	return local[:j] + "@" + local[j+1:]
}
