// Package odata is the emulated Graph's query vocabulary: the properties $select accepts, the
// $skiptoken/$deltatoken content, and the shapes of delta records.
package odata

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// UserProps is the set of user properties the emulator accepts in $select (Graph v1.0 names). An
// unknown name answers 400 as Graph does, which catches a wrong entry in the attribute table.
var UserProps = propSet("id", "userPrincipalName", "accountEnabled", "displayName", "givenName", "surname",
	"mail", "mailNickname", "jobTitle", "department", "companyName", "employeeId", "employeeType",
	"employeeHireDate", "employeeLeaveDateTime", "employeeOrgData", "businessPhones", "mobilePhone", "faxNumber",
	"officeLocation", "streetAddress", "city", "state", "country", "postalCode", "usageLocation",
	"preferredLanguage", "userType", "proxyAddresses", "otherMails", "manager", "onPremisesSamAccountName",
	"onPremisesImmutableId", "onPremisesDistinguishedName", "onPremisesDomainName",
	"onPremisesSecurityIdentifier", "onPremisesUserPrincipalName", "onPremisesExtensionAttributes",
	"onPremisesSyncEnabled", "onPremisesLastSyncDateTime", "createdDateTime", "creationType",
	"externalUserState", "identities", "imAddresses", "ageGroup", "consentProvidedForMinor",
	"legalAgeGroupClassification", "showInAddressList", "deletedDateTime", "signInSessionsValidFromDateTime")

// DefaultUserProps is what Graph returns for users without $select.
var DefaultUserProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

// GroupProps is the set of group properties the emulator accepts in $select.
var GroupProps = propSet("id", "displayName", "description", "mail", "mailEnabled", "mailNickname",
	"securityEnabled", "groupTypes", "members", "owners", "createdDateTime", "visibility", "classification",
	"onPremisesSyncEnabled", "onPremisesSecurityIdentifier", "onPremisesSamAccountName", "proxyAddresses",
	"securityIdentifier", "isAssignableToRole", "deletedDateTime", "expirationDateTime", "renewedDateTime")

func propSet(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}

// Token is the content of every $skiptoken and $deltatoken the emulator issues. Graph's tokens are
// opaque; these are base64 JSON so a failing test can decode them.
type Token struct {
	Kind    string   `json:"k"` // "users" or "groups" for delta, "list" for plain lists
	Ver     int64    `json:"v,omitempty"`
	Sel     []string `json:"s,omitempty"`
	Default bool     `json:"d,omitempty"` // no $select: default properties (and members for groups)
	Session string   `json:"sid,omitempty"`
	Page    int      `json:"p,omitempty"`
	Offset  int      `json:"o,omitempty"`
	Epoch   int      `json:"e"`
}

// Encode renders the token as it appears in a nextLink or deltaLink.
func (t Token) Encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken reads a token the emulator issued.
func DecodeToken(s string) (Token, error) {
	var t Token
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, err
	}
	err = json.Unmarshal(b, &t)
	return t, err
}

// IsDelta reports whether a path segment names the delta function, in any of its spellings.
func IsDelta(seg string) bool {
	switch seg {
	case "delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()":
		return true
	}
	return false
}

// ParseSelect validates $select against the known properties; def is true when there is none.
func ParseSelect(q url.Values, known map[string]string, typ string) (sel []string, def bool, err error) {
	raw := q.Get("$select")
	if raw == "" {
		return nil, true, nil
	}
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		c, ok := known[strings.ToLower(p)]
		if !ok {
			//lint:ignore ST1005 Graph's own message, verbatim, so clients see what real Graph says
			return nil, false, fmt.Errorf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, typ)
		}
		if !slices.Contains(sel, c) {
			sel = append(sel, c)
		}
	}
	return sel, false, nil
}

// RemovedRecord is the @removed record of an object gone from scope or deleted.
func RemovedRecord(id, reason string) map[string]any {
	return map[string]any{"id": id, "@removed": map[string]any{"reason": reason}}
}

// Ref is a directory object reference in members@delta or manager, @removed when removed.
func Ref(typ, id string, removed bool) map[string]any {
	m := map[string]any{"@odata.type": "#microsoft.graph." + typ, "id": id}
	if removed {
		m["@removed"] = map[string]any{"reason": "deleted"}
	}
	return m
}

// Pick keeps id and the selected properties.
func Pick(props map[string]any, sel []string) map[string]any {
	out := map[string]any{"id": props["id"]}
	for _, p := range sel {
		if v, ok := props[p]; ok {
			out[p] = v
		}
	}
	return out
}
