package scoping

import (
	"testing"

	"github.com/scimsync/scimsync/mapping"
)

// tenClauseFilter is a realistic filter mixing every kind of work Evaluate does.
func tenClauseFilter() Filter {
	return Filter{Title: "Contoso employees", Clauses: []Clause{
		{"accountEnabled", "IS TRUE", ""},
		{"userPrincipalName", "REGEX MATCH", `.*\@contoso\.com$`},
		{"mail", "ENDS_WITH", "@contoso.com"},
		{"department", "NOT EQUALS", "Contractors"},
		{"employeeId", "IS NOT NULL", ""},
		{"employeeId", "Greater_Than", "1000"},
		{"jobTitle", "Includes", "Engineer"},
		{"country", "EQUALS", "FR"},
		{"companyName", "&", "Contoso Ltd,Contoso SAS"},
		{"userType", "NOT REGEX MATCH", `^Guest$`},
	}}
}

func typicalUser() mapping.AttributeMap {
	return mapping.AttributeMap{
		"accountEnabled":    mapping.Bool(true),
		"userPrincipalName": mapping.Str("ann.lee@contoso.com"),
		"mail":              mapping.Str("ann.lee@contoso.com"),
		"department":        mapping.Str("Research"),
		"employeeId":        mapping.Str("104512"),
		"jobTitle":          mapping.Str("Senior Software Engineer"),
		"country":           mapping.Str("FR"),
		"companyName":       mapping.Str("Contoso SAS"),
		"userType":          mapping.Str("Member"),
		"givenName":         mapping.Str("Ann"),
		"surname":           mapping.Str("Lee"),
		"displayName":       mapping.Str("Ann Lee"),
	}
}

func BenchmarkTenClauses(b *testing.B) {
	s := mustCompile(b, tenClauseFilter())
	user := typicalUser()
	if d := s.Evaluate(user); !d.InScope {
		b.Fatalf("typical user out of scope: %s", d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(user)
	}
}

// BenchmarkTenClausesOutOfScope measures the path that builds a reason: the last clause fails.
func BenchmarkTenClausesOutOfScope(b *testing.B) {
	s := mustCompile(b, tenClauseFilter())
	user := typicalUser()
	user["userType"] = mapping.Str("Guest")
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(user)
	}
}
