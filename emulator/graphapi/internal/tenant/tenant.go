// Package tenant is the directory the emulated Graph serves, as plain data: loadable from JSON,
// the embedded sample tenant, and a generator of large synthetic tenants for benchmarks.
package tenant

import (
	crand "crypto/rand"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

// Tenant is the directory an emulated Graph serves. It is plain data, loadable from JSON, so that
// scenario tests and the demo can describe a company in a file rather than in code.
type Tenant struct {
	// TenantID is informational; the server's Options.TenantID decides which tenant the token
	// endpoint accepts.
	TenantID string `json:"tenantId,omitempty"`
	// Users carry Graph v1.0 property names exactly as Graph returns them (id, userPrincipalName,
	// businessPhones, onPremisesExtensionAttributes, ...), so the reader is tested against the real
	// wire shape rather than a translation of it. A user without "id" gets a generated one.
	Users []map[string]any `json:"users"`
	// Managers maps a user id to its manager's id; Graph keeps the manager as a relationship, not a
	// property, and so does the emulator.
	Managers map[string]string `json:"managers,omitempty"`
	Groups   []Group           `json:"groups,omitempty"`
	// ServicePrincipal is the enterprise app whose appRoleAssignedTo the provisioning job reads.
	ServicePrincipal ServicePrincipal `json:"servicePrincipal"`
	Assignments      []Assignment     `json:"assignments,omitempty"`
}

// Group is one group of the tenant. Members holds direct member ids (users or groups); nested groups
// are allowed because Graph has them, even though provisioning ignores nesting.
type Group struct {
	ID              string `json:"id"`
	DisplayName     string `json:"displayName"`
	Description     string `json:"description,omitempty"`
	Mail            string `json:"mail,omitempty"`
	MailNickname    string `json:"mailNickname,omitempty"`
	MailEnabled     bool   `json:"mailEnabled"`
	SecurityEnabled bool   `json:"securityEnabled"`
	// GroupTypes containing "Unified" marks a Microsoft 365 group, which Graph soft-deletes
	// (@removed reason "changed") where a security group is deleted outright.
	GroupTypes []string `json:"groupTypes,omitempty"`
	Members    []string `json:"members,omitempty"`
}

// ServicePrincipal is the provisioning app's service principal: the object whose appRoleAssignedTo
// decides who is "assigned" in assignment scope.
type ServicePrincipal struct {
	ID          string `json:"id"`
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	// AppRoles lists role ids besides the default-access role, so tests can assign specific roles.
	AppRoles []AppRole `json:"appRoles,omitempty"`
}

// AppRole is one role the app declares; the provisioning service exposes the assigned role to
// mappings through appRoleAssignments.
type AppRole struct {
	ID          string `json:"id"`
	Value       string `json:"value"`
	DisplayName string `json:"displayName"`
}

// Assignment is one appRoleAssignment of a user or group to the app.
type Assignment struct {
	PrincipalID string `json:"principalId"`
	// PrincipalType is "User", "Group" or "ServicePrincipal", as Graph spells it.
	PrincipalType string `json:"principalType"`
	// AppRoleID empty means the default-access role 00000000-0000-0000-0000-000000000000.
	AppRoleID string `json:"appRoleId,omitempty"`
}

// DefaultAccessRole is the app role id Graph uses when an app declares no roles.
const DefaultAccessRole = "00000000-0000-0000-0000-000000000000"

// LoadTenant reads a tenant from a JSON file, so the demo and scenario tests can ship their directory
// as data.
func LoadTenant(path string) (*Tenant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("graphapi: reading tenant: %w", err)
	}
	t, err := ParseTenant(b)
	if err != nil {
		return nil, fmt.Errorf("graphapi: %s: %w", path, err)
	}
	return t, nil
}

// ParseTenant decodes a tenant from JSON and checks its references, so that a typo in a fixture fails
// loudly instead of producing a silently smaller directory.
func ParseTenant(b []byte) (*Tenant, error) {
	var t Tenant
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("parsing tenant: %w", err)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

func (t *Tenant) validate() error {
	users := map[string]bool{}
	for i, u := range t.Users {
		id, _ := u["id"].(string)
		if id == "" {
			return fmt.Errorf("user #%d has no id", i)
		}
		if users[id] {
			return fmt.Errorf("duplicate user id %s", id)
		}
		users[id] = true
	}
	groups := map[string]bool{}
	for _, g := range t.Groups {
		if g.ID == "" {
			return fmt.Errorf("group %q has no id", g.DisplayName)
		}
		if groups[g.ID] || users[g.ID] {
			return fmt.Errorf("duplicate object id %s", g.ID)
		}
		groups[g.ID] = true
	}
	for u, m := range t.Managers {
		if !users[u] || !users[m] {
			return fmt.Errorf("manager link %s -> %s names an unknown user", u, m)
		}
	}
	for _, g := range t.Groups {
		for _, m := range g.Members {
			if !users[m] && !groups[m] {
				return fmt.Errorf("group %s has unknown member %s", g.ID, m)
			}
		}
	}
	for _, a := range t.Assignments {
		switch a.PrincipalType {
		case "User":
			if !users[a.PrincipalID] {
				return fmt.Errorf("assignment names unknown user %s", a.PrincipalID)
			}
		case "Group":
			if !groups[a.PrincipalID] {
				return fmt.Errorf("assignment names unknown group %s", a.PrincipalID)
			}
		case "ServicePrincipal":
		default:
			return fmt.Errorf("assignment of %s has principalType %q, want User, Group or ServicePrincipal",
				a.PrincipalID, a.PrincipalType)
		}
	}
	return nil
}

// Clone returns a deep copy, so one parsed tenant can seed many servers that each mutate their own.
func (t *Tenant) Clone() *Tenant {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("graphapi: cloning tenant: %v", err))
	}
	var c Tenant
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("graphapi: cloning tenant: %v", err))
	}
	return &c
}

// User returns the properties of the user with the given id or userPrincipalName, for tests that
// want to assert on fixture data without hard-coding it.
func (t *Tenant) User(idOrUPN string) map[string]any {
	for _, u := range t.Users {
		if u["id"] == idOrUPN || strings.EqualFold(fmt.Sprint(u["userPrincipalName"]), idOrUPN) {
			return u
		}
	}
	return nil
}

// GroupByName returns the group with the given display name, for the same reason as User.
func (t *Tenant) GroupByName(name string) *Group {
	for i := range t.Groups {
		if t.Groups[i].DisplayName == name {
			return &t.Groups[i]
		}
	}
	return nil
}

//go:embed testdata/sample-tenant.json
var sampleTenantJSON []byte

// SampleTenant returns a fresh copy of the embedded Contoso tenant (about fifty users with a manager
// hierarchy, disabled users, a guest, groups and app assignments), the directory behind the demo and
// most scenario tests.
func SampleTenant() *Tenant {
	t, err := ParseTenant(sampleTenantJSON)
	if err != nil {
		panic(fmt.Sprintf("graphapi: embedded sample tenant is invalid: %v", err))
	}
	return t
}

// SampleTenantJSON returns the embedded sample tenant as JSON, for `scimsync demo` to write next to
// its config where users can edit it.
func SampleTenantJSON() []byte {
	return append([]byte(nil), sampleTenantJSON...)
}

var (
	genGiven = []string{"Adele", "Alex", "Allan", "Amélie", "Anders", "Bianca", "Björn", "Carlos", "Chloé",
		"Chen", "Daniela", "Diego", "Élodie", "Emily", "Fatima", "François", "Grady", "Hana", "Henrietta",
		"Isaiah", "Jörg", "José", "Johanna", "Kenji", "Lara", "Lee", "Lidia", "Lynne", "Maëlle", "Megan",
		"Miriam", "Nestor", "Noémie", "Olga", "Patti", "Pradeep", "Raúl", "Søren", "Tomás", "Zoë"}
	genSurname = []string{"Vance", "Wilber", "Deyoung", "Dubois", "Lindqvist", "Rossi", "Åberg", "García",
		"Lefèvre", "Wei", "Müller", "Hernández", "Moreau", "Braun", "Khan", "Lambert", "Stevens", "Sato",
		"Holm", "Okafor", "Schäfer", "Núñez", "Becker", "Tanaka", "Novák", "Gonzales", "Łukasz", "Patel",
		"Nakamura", "Bowen", "Smith", "Wilke", "Østergaard", "Petrova", "Fernandez", "Kumar", "Peña",
		"Jørgensen", "Ó Briain", "Ziegler"}
	genDept   = []string{"Sales", "Marketing", "Engineering", "Finance", "Human Resources", "Operations", "Legal", "Support"}
	genTitles = []string{"Account Executive", "Marketing Manager", "Software Engineer", "Accountant",
		"HR Generalist", "Operations Analyst", "Paralegal", "Support Engineer"}
	genPlaces = []struct{ city, state, country, lang, usage, phone string }{
		{"Redmond", "WA", "United States", "en-US", "US", "+1 425 555 "},
		{"New York", "NY", "United States", "en-US", "US", "+1 212 555 "},
		{"München", "BY", "Germany", "de-DE", "DE", "+49 89 5555 "},
		{"Paris", "IDF", "France", "fr-FR", "FR", "+33 1 55 55 "},
		{"London", "", "United Kingdom", "en-GB", "GB", "+44 20 7946 "},
		{"Stockholm", "", "Sweden", "sv-SE", "SE", "+46 8 555 "},
	}
)

// GenerateTenant builds a deterministic synthetic tenant of n users for benchmarks (10,000 or
// 100,000 users): managers form a tree, every user is in one department group, a tenth are disabled,
// and the department groups plus a few users are assigned to the app. The same seed gives the same
// tenant, so benchmark results compare across runs.
func GenerateTenant(n int, seed int64) *Tenant {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	uuid := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}
	t := &Tenant{
		TenantID:         "00000000-1111-2222-3333-" + fmt.Sprintf("%012d", seed%1e12),
		Managers:         map[string]string{},
		ServicePrincipal: ServicePrincipal{ID: uuid(), AppID: uuid(), DisplayName: "Gong"},
	}
	deptGroups := make([]Group, len(genDept))
	for i, d := range genDept {
		nick := strings.ReplaceAll(strings.ToLower(d), " ", "")
		deptGroups[i] = Group{ID: uuid(), DisplayName: "Contoso " + d, MailNickname: nick,
			Mail: nick + "@contoso.example", MailEnabled: true, SecurityEnabled: true}
	}
	all := Group{ID: uuid(), DisplayName: "All Contoso", SecurityEnabled: true, MailNickname: "all"}
	for i := 0; i < n; i++ {
		given := genGiven[rng.IntN(len(genGiven))]
		sur := genSurname[rng.IntN(len(genSurname))]
		d := rng.IntN(len(genDept))
		p := genPlaces[rng.IntN(len(genPlaces))]
		alias := asciiAlias(given) + "." + asciiAlias(sur) + fmt.Sprintf("%d", i)
		id := uuid()
		u := map[string]any{
			"id":                id,
			"userPrincipalName": alias + "@contoso.example",
			"displayName":       given + " " + sur,
			"givenName":         given,
			"surname":           sur,
			"mail":              alias + "@contoso.example",
			"mailNickname":      alias,
			"jobTitle":          genTitles[d],
			"department":        genDept[d],
			"companyName":       "Contoso",
			"employeeId":        fmt.Sprintf("E%06d", i+1),
			"businessPhones":    []any{fmt.Sprintf("%s%04d", p.phone, rng.IntN(10000))},
			"mobilePhone":       fmt.Sprintf("%s%04d", p.phone, rng.IntN(10000)),
			"city":              p.city,
			"country":           p.country,
			"usageLocation":     p.usage,
			"preferredLanguage": p.lang,
			"accountEnabled":    rng.IntN(10) != 0,
			"userType":          "Member",
			"proxyAddresses":    []any{"SMTP:" + alias + "@contoso.example"},
			"onPremisesExtensionAttributes": map[string]any{
				"extensionAttribute1": fmt.Sprintf("CC-%03d", 100+d),
			},
		}
		if p.state != "" {
			u["state"] = p.state
		}
		t.Users = append(t.Users, u)
		if i > 0 {
			// An 8-ary tree keeps the hierarchy realistic in depth (about five levels for 10,000).
			t.Managers[id] = t.Users[(i-1)/8]["id"].(string)
		}
		deptGroups[d].Members = append(deptGroups[d].Members, id)
		if i%1000 == 0 {
			all.Members = append(all.Members, id)
		}
		if i%997 == 0 {
			t.Assignments = append(t.Assignments, Assignment{PrincipalID: id, PrincipalType: "User"})
		}
	}
	for _, g := range deptGroups {
		t.Assignments = append(t.Assignments, Assignment{PrincipalID: g.ID, PrincipalType: "Group"})
	}
	t.Groups = append(deptGroups, all)
	return t
}

// asciiAlias folds the few diacritics the name lists use, because mail aliases are ASCII.
func asciiAlias(s string) string {
	r := strings.NewReplacer("é", "e", "è", "e", "ë", "e", "á", "a", "ä", "ae", "å", "a", "ö", "oe",
		"ø", "o", "Ø", "O", "ü", "ue", "ú", "u", "ñ", "n", "ó", "o", "Ó", "O", "É", "E", "Å", "A", "Ł", "L",
		"ł", "l", "ç", "c", "í", "i", "á", "a", " ", "")
	return strings.ToLower(r.Replace(s))
}

// NewID returns a random GUID in Graph's format, for tests that create objects.
func NewID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
