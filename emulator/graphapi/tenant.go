package graphapi

import (
	"fmt"

	"github.com/scimsync/scimsync/emulator/graphapi/internal/tenant"
)

// The directory the emulator serves is plain data (internal/tenant); these are its public names.

// Tenant is the directory an emulated Graph serves, loadable from JSON.
type Tenant = tenant.Tenant

// Group is one group of a Tenant.
type Group = tenant.Group

// ServicePrincipal is the app's service principal in the tenant.
type ServicePrincipal = tenant.ServicePrincipal

// AppRole is one app role of the service principal.
type AppRole = tenant.AppRole

// Assignment assigns a user or group to the app.
type Assignment = tenant.Assignment

// DefaultAccessRole is the app role id of an assignment without a role ("Default Access").
const DefaultAccessRole = tenant.DefaultAccessRole

// LoadTenant reads a tenant from a JSON file.
func LoadTenant(path string) (*Tenant, error) { return tenant.LoadTenant(path) }

// ParseTenant reads a tenant from JSON.
func ParseTenant(b []byte) (*Tenant, error) { return tenant.ParseTenant(b) }

// SampleTenant returns a fresh copy of the embedded Contoso tenant, the directory behind the demo and
// most scenario tests.
func SampleTenant() *Tenant { return tenant.SampleTenant() }

// SampleTenantJSON returns the embedded sample tenant as JSON, for `scimsync demo` to write out.
func SampleTenantJSON() []byte { return tenant.SampleTenantJSON() }

// GenerateTenant builds a deterministic synthetic tenant of n users for benchmarks.
func GenerateTenant(n int, seed int64) *Tenant { return tenant.GenerateTenant(n, seed) }

// NewID returns a random GUID in Graph's format, for tests that create objects.
func NewID() string { return tenant.NewID() }

// GenerateGroupTenant is GenerateTenant(n, 1) with its groups replaced by nGroups security groups of
// perGroup enabled users each (consecutive blocks of the enabled users, wrapping around) and no
// assignments, for benchmarks of memberships at scale in the all-users scope.
func GenerateGroupTenant(n, nGroups, perGroup int) *Tenant {
	t := tenant.GenerateTenant(n, 1)
	var enabled []string
	for _, u := range t.Users {
		if u["accountEnabled"] == true {
			enabled = append(enabled, u["id"].(string))
		}
	}
	t.Assignments = nil
	t.Groups = make([]Group, nGroups)
	for g := range t.Groups {
		members := make([]string, perGroup)
		for j := range members {
			members[j] = enabled[(g*perGroup+j)%len(enabled)]
		}
		t.Groups[g] = Group{ID: fmt.Sprintf("6a000000-0000-4000-8000-%012d", g),
			DisplayName: fmt.Sprintf("Scale Group %04d", g), SecurityEnabled: true, Members: members}
	}
	return t
}
