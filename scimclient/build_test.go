package scimclient

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares v, rendered as indented JSON, with testdata/name.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from golden:\n got: %s\nwant: %s", name, buf.Bytes(), want)
	}
}

// fullGongUser is every attribute of the Gong gallery mapping (https://learn.microsoft.com/entra/identity/saas-apps/gong-provisioning-tutorial), with the flat values the
// mapping engine produces.
func fullGongUser() map[string]any {
	return map[string]any{
		"userName":                           "alice@contoso.com",
		"externalId":                         "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"active":                             true,
		"title":                              "Account Executive",
		`emails[type eq "work"].value`:       "alice@contoso.com",
		"name.givenName":                     "Alice",
		"name.familyName":                    "Adams",
		`phoneNumbers[type eq "work"].value`: "(212) 575-1994 ext 3437",
		"locale":                             "en-US",
		"timezone":                           "America/New_York",
		SchemaEnterprise + ":manager":        "48af03ac28ad4fb88478",
		SchemaGong + ":stateOrProvince":      "NY",
		SchemaGong + ":country":              "US",
		"displayName":                        nil, // a null source value is never provisioned
	}
}

func TestBuildUserGolden(t *testing.T) {
	golden(t, "user_full_gong.json", BuildUser(fullGongUser()))
	golden(t, "user_minimal.json", BuildUser(map[string]any{
		"userName":                     "bob@contoso.com",
		"active":                       true,
		`emails[type eq "work"].value`: "bob@contoso.com",
		"name.givenName":               "Bob",
		"name.familyName":              "Brown",
	}))
}

func TestBuildUserShapes(t *testing.T) {
	r := BuildUser(map[string]any{
		"userName":                                               "u",
		`emails[type eq "other"].value`:                          []string{"a@x", "b@x"},
		`addresses[type eq "work"].postalCode`:                   "10001",
		`addresses[type eq "work"].streetAddress`:                "1 Main St",
		`phoneNumbers[type eq "mobile"].value`:                   "1",
		`phoneNumbers[type eq "fax"].value`:                      "2",
		SchemaEnterprise + ":employeeNumber":                     "E1",
		"urn:ietf:params:scim:schemas:extension:Zeta:2.0:User:x": "z",
		"roles":    []string{},
		"nickName": int(3),
	})
	b, _ := json.Marshal(r)
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	want := map[string]any{
		"schemas":  []any{SchemaUser, SchemaEnterprise, "urn:ietf:params:scim:schemas:extension:Zeta:2.0:User"},
		"userName": "u",
		"nickName": float64(3),
		"emails": []any{
			map[string]any{"type": "other", "value": "a@x"},
			map[string]any{"type": "other", "value": "b@x"},
		},
		"addresses":      []any{map[string]any{"type": "work", "postalCode": "10001", "streetAddress": "1 Main St"}},
		"phoneNumbers":   []any{map[string]any{"type": "fax", "value": "2"}, map[string]any{"type": "mobile", "value": "1"}},
		SchemaEnterprise: map[string]any{"employeeNumber": "E1"},
		"urn:ietf:params:scim:schemas:extension:Zeta:2.0:User": map[string]any{"x": "z"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("BuildUser =\n%s", b)
	}
}

func TestBuildGroup(t *testing.T) {
	golden(t, "group.json", BuildGroup(map[string]any{
		"displayName": "Sales EMEA",
		"externalId":  "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
		"members":     []string{"ignored"},
	}))
}

func TestValueAt(t *testing.T) {
	var live Resource
	if err := json.Unmarshal([]byte(`{
	  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
	  "id": "42", "UserName": "Alice@Contoso.com", "active": "False", "title": "AE", "loginCount": 7, "score": 1.5,
	  "Name": {"GivenName": "Alice", "familyName": "Adams"},
	  "emails": [{"type": "Work", "value": "a@contoso.com", "primary": true},
	             {"type": "other", "value": "a1@x"}, {"type": "other", "value": "a2@x"}],
	  "phoneNumbers": [{"type": "work", "value": "555"}],
	  "groups": ["g1", "g2"],
	  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1", "displayName": "Boss"}, "employeeNumber": "E9"},
	  "urn:ietf:params:scim:schemas:extension:Gong:2.0:User": {"country": "US"}
	}`), &live); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"userName", "Alice@Contoso.com", true},
		{"active", false, true},
		{"title", "AE", true},
		{"loginCount", int64(7), true},
		{"score", 1.5, true},
		{"name.givenName", "Alice", true},
		{"NAME.FAMILYNAME", "Adams", true},
		{"name.formatted", nil, false},
		{`emails[type eq "work"].value`, "a@contoso.com", true},
		{`emails[type eq "other"].value`, []string{"a1@x", "a2@x"}, true},
		{`emails[type eq "home"].value`, nil, false},
		{`phoneNumbers[type eq "work"].value`, "555", true},
		{`phoneNumbers[type eq "mobile"].value`, nil, false},
		{"groups", []string{"g1", "g2"}, true},
		{SchemaEnterprise + ":manager", "m1", true},
		{SchemaEnterprise + ":manager.value", "m1", true},
		{SchemaEnterprise + ":employeeNumber", "E9", true},
		{SchemaGong + ":country", "US", true},
		{SchemaGong + ":stateOrProvince", nil, false},
		{"urn:ietf:params:scim:schemas:extension:Other:2.0:User:x", nil, false},
		{"nickName", nil, false},
		{"bad path[", nil, false},
	}
	for _, tt := range tests {
		got, ok := ValueAt(live, tt.path)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ValueAt(%s) = %#v, %v; want %#v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	plainMgr := Resource{SchemaEnterprise: map[string]any{"manager": "m2"}}
	if got, ok := ValueAt(plainMgr, SchemaEnterprise+":manager"); !ok || got != "m2" {
		t.Errorf("plain-string manager = %v, %v", got, ok)
	}
}

// TestBuildValueAtRoundTrip: whatever BuildUser writes, ValueAt reads back unchanged, so the engine's diff of
// a freshly created user is empty.
func TestBuildValueAtRoundTrip(t *testing.T) {
	in := fullGongUser()
	b, _ := json.Marshal(BuildUser(in))
	var r Resource
	_ = json.Unmarshal(b, &r)
	for path, want := range in {
		got, ok := ValueAt(r, path)
		if want == nil {
			if ok {
				t.Errorf("%s: got %v for a nil value", path, got)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", path, got, want)
		}
	}
}
