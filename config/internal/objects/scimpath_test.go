package objects

import "testing"

func TestSCIMPath(t *testing.T) {
	good := []string{"userName", "name.givenName", `emails[type eq "work"].value`, `phoneNumbers[ type EQ "mobile" ].value`,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "members.$ref",
		`addresses[type eq "wo\"rk"].postalCode`, "x-custom_1"}
	bad := []string{"", "1abc", "name.", ".name", `emails[type eq work].value`, `emails[type eq "work"]`,
		`emails[type "work"].value`, "a b", "urn::x:y", "urn:a:b", `emails[type eq "work"].value.x`, "name.$ref2"}
	for _, p := range good {
		if err := checkSCIMPath(p); err != nil {
			t.Errorf("checkSCIMPath(%q) = %v", p, err)
		}
	}
	for _, p := range bad {
		if err := checkSCIMPath(p); err == nil {
			t.Errorf("checkSCIMPath(%q) accepted", p)
		}
	}
}
