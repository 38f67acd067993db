package tenant

import "testing"

func TestGenerateTenant(t *testing.T) {
	a, b := GenerateTenant(2000, 7), GenerateTenant(2000, 7)
	if len(a.Users) != 2000 || a.Users[1999]["id"] != b.Users[1999]["id"] {
		t.Fatal("not deterministic")
	}
	if err := a.validate(); err != nil {
		t.Fatal(err)
	}
	if len(a.Managers) != 1999 {
		t.Errorf("%d managers", len(a.Managers))
	}
	if _, err := ParseTenant([]byte(`{"users":[{"id":"a"}],"managers":{"a":"b"}}`)); err == nil {
		t.Error("dangling manager accepted")
	}
}
