package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/scimsync/scimsync/scoping"
)

// Fingerprint is a stable hash of everything that decides which objects are in scope and what they
// should look like in the target: tenant, service principal, assignment scope, target URL, which
// object types are provisioned, the merged mapping tables and the scoping filters. The engine stores
// it after a cycle and starts an initial cycle when it changes, as Entra restarts provisioning when
// mappings or scoping change; an incremental cycle would leave objects that did not change in the
// source with stale values. Secrets, schedule, logging, notification and performance settings are left
// out because changing them changes nothing in the target.
func (c *Config) Fingerprint() string {
	type row struct {
		Target    string  `json:"target"`
		Kind      uint8   `json:"kind"`
		Source    string  `json:"source"`
		Matching  int     `json:"matching"`
		Flow      uint8   `json:"flow"`
		Default   *string `json:"default"`
		Type      uint8   `json:"type"`
		CaseExact bool    `json:"caseExact"`
	}
	type object struct {
		Enabled  bool             `json:"enabled"`
		Mappings []row            `json:"mappings"`
		Filters  []scoping.Filter `json:"filters"`
	}
	obj := func(o Object) object {
		out := object{Enabled: o.Enabled, Filters: o.Filters}
		for _, m := range o.Mappings {
			out.Mappings = append(out.Mappings, row{
				Target: m.Target, Kind: uint8(m.Kind), Source: m.Source, Matching: m.Matching,
				Flow: uint8(m.Flow), Default: m.Default, Type: uint8(m.Type), CaseExact: m.CaseExact,
			})
		}
		return out
	}
	doc := struct {
		Version            int    `json:"v"`
		TenantID           string `json:"tenantId"`
		ServicePrincipalID string `json:"servicePrincipalId"`
		Scope              string `json:"scope"`
		TargetURL          string `json:"targetUrl"`
		Users              object `json:"users"`
		Groups             object `json:"groups"`
	}{
		Version:            1,
		TenantID:           strings.ToLower(c.Source.TenantID),
		ServicePrincipalID: strings.ToLower(c.Source.ServicePrincipalID),
		Scope:              c.Scope,
		TargetURL:          strings.TrimRight(c.Target.URL, "/"),
		Users:              obj(c.Users),
		Groups:             obj(c.Groups),
	}
	// json.Marshal of these types cannot fail; the field order of the structs makes the text canonical.
	b, _ := json.Marshal(doc)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
