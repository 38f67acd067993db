package config

import (
	"testing"

	"github.com/scimsync/scimsync/mapping"
)

// BenchmarkGongPresetAndTenClauseFilter measures what every user costs before any request: the Gong
// preset's mappings (compiled from the configuration, as at load) and a 10-clause scoping filter.
// The aim is under 5 µs per user for both together.
func BenchmarkGongPresetAndTenClauseFilter(b *testing.B) {
	cfg, err := Parse([]byte(`name: bench
source:
  tenantId: 11111111-1111-1111-1111-111111111111
  clientId: 22222222-2222-2222-2222-222222222222
  credential: {type: clientSecret, secretEnv: S}
  servicePrincipalId: 33333333-3333-3333-3333-333333333333
target:
  url: https://example.gong.io/scim
  tokenEnv: T
users:
  preset: gong
  scoping:
    - title: sales staff
      clauses:
        - {attribute: department, operator: EQUALS, value: Sales}
        - {attribute: userPrincipalName, operator: REGEX MATCH, value: '.*@contoso\.com$'}
        - {attribute: mail, operator: ENDS_WITH, value: "@contoso.com"}
        - {attribute: jobTitle, operator: IS NOT NULL}
        - {attribute: employeeId, operator: Greater_Than, value: "1000"}
        - {attribute: companyName, operator: Includes, value: Contoso}
        - {attribute: country, operator: NOT EQUALS, value: Antarctica}
        - {attribute: accountEnabled, operator: IS TRUE}
        - {attribute: employeeType, operator: NOT REGEX MATCH, value: '^Contractor'}
        - {attribute: city, operator: "&", value: "Redmond,Seattle,Boston"}
`), "bench.yaml", func(k string) (string, bool) { return "x", true })
	if err != nil {
		b.Fatal(err)
	}
	user := mapping.AttributeMap{
		"userPrincipalName": mapping.Str("megan.bowen@contoso.com"), "mail": mapping.Str("megan.bowen@contoso.com"),
		"givenName": mapping.Str("Megan"), "surname": mapping.Str("Bowen"), "jobTitle": mapping.Str("Account Executive"),
		"department": mapping.Str("Sales"), "employeeId": mapping.Str("104211"), "companyName": mapping.Str("Contoso Ltd"),
		"country": mapping.Str("United States"), "state": mapping.Str("WA"), "city": mapping.Str("Redmond"),
		"accountEnabled": mapping.Bool(true), "employeeType": mapping.Str("Employee"), "mailNickname": mapping.Str("megan.bowen"),
		"telephoneNumber": mapping.Str("+1 425 555 0100"), "preferredLanguage": mapping.Str("en-US"),
		"manager": mapping.Str("7d64ca47-64aa-5a6e-b587-9fb6e1592005"), "IsSoftDeleted": mapping.Bool(false),
	}
	table, filter := cfg.Users.Table, cfg.Users.Scoping
	if d := filter.Evaluate(user); !d.InScope {
		b.Fatalf("the sample user is out of scope: %s", d.Reason)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := filter.Evaluate(user); !d.InScope {
			b.Fatal("out of scope")
		}
		if _, err := table.Evaluate(user, nil, false); err != nil {
			b.Fatal(err)
		}
	}
}
