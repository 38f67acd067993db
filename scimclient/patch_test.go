package scimclient

import (
	"encoding/json"
	"testing"
)

// gongChanges exercise every shape: a filtered multi-value path, simple and dotted attributes, an
// enterprise attribute, an extension attribute, active, an Add and the manager.
func gongChanges() []Change {
	return []Change{
		{Path: `emails[type eq "work"].value`, Value: "updatedEmail@microsoft.com"},
		{Path: "name.familyName", Value: "updatedFamilyName"},
		{Path: "name.givenName", Value: "Kkom"},
		{Path: "displayName", Value: "Bjfe"},
		{Path: SchemaEnterprise + ":employeeNumber", Value: "Aklq"},
		{Path: SchemaGong + ":country", Value: "DE"},
		{Path: "title", Value: "Manager", Add: true},
		{Path: `phoneNumbers[type eq "work"].value`, Value: "555", Add: true},
		{Path: "active", Value: false},
		{Path: SchemaEnterprise + ":manager", Value: "2c2f6fb8-6e3c-4b48-9f2b-1d2b3c4d5e6f"},
	}
}

func TestUserPatchGolden(t *testing.T) {
	golden(t, "patch_user_default.json", PatchBody(UserPatch(ModeDefault, gongChanges())))
	golden(t, "patch_user_aadopt.json", PatchBody(UserPatch(ModeAADOptSCIM062020, gongChanges())))
}

// TestUserPatchDocumented checks the exact requests of https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups and https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility.
func TestUserPatchDocumented(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		changes []Change
		want    string
	}{
		{"§6.2 multi-valued", ModeDefault, []Change{
			{Path: `emails[type eq "work"].value`, Value: "updatedEmail@microsoft.com"},
			{Path: "name.familyName", Value: "updatedFamilyName"}},
			`[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]`},
		{"§6.2 single-valued", ModeDefault, []Change{{Path: "userName", Value: "5b50642d@testuser.com"}},
			`[{"op":"Replace","path":"userName","value":"5b50642d@testuser.com"}]`},
		{"§6.4 disable default", ModeDefault, []Change{{Path: "active", Value: false}},
			`[{"op":"Replace","path":"active","value":"False"}]`},
		{"enable default", ModeDefault, []Change{{Path: "active", Value: true}},
			`[{"op":"Replace","path":"active","value":"True"}]`},
		{"§6.4 disable flag", ModeAADOptSCIM062020, []Change{{Path: "active", Value: false}},
			`[{"op":"replace","path":"active","value":false}]`},
		{"§6.4 add default", ModeDefault, []Change{{Path: "nickName", Value: "Babs", Add: true}},
			`[{"op":"Add","path":"nickName","value":"Babs"}]`},
		{"§6.4 add flag", ModeAADOptSCIM062020, []Change{{Path: "nickName", Value: "Babs", Add: true}},
			`[{"op":"add","path":"nickName","value":"Babs"}]`},
		{"§6.4 replace multiple flag", ModeAADOptSCIM062020, []Change{
			{Path: `emails[type eq "work"].value`, Value: "TestMhvaes@test.microsoft.com"},
			{Path: "displayName", Value: "Bjfe"},
			{Path: "name.givenName", Value: "Kkom"},
			{Path: "name.familyName", Value: "Unua"},
			{Path: SchemaEnterprise + ":employeeNumber", Value: "Aklq"}},
			`[{"op":"replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},{"op":"replace","value":{"displayName":"Bjfe","name.familyName":"Unua","name.givenName":"Kkom","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]`},
		{"§1.6 manager", ModeAADOptSCIM062020, []Change{{Path: SchemaEnterprise + ":manager", Value: "2c2f6fb8"}},
			`[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"2c2f6fb8"}]`},
		{"manager default", ModeDefault, []Change{{Path: SchemaEnterprise + ":manager", Value: "2c2f6fb8"}},
			`[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"2c2f6fb8"}]`},
		{"manager removal", ModeDefault, []Change{{Path: SchemaEnterprise + ":manager"}},
			`[{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]`},
		{"manager removal flag", ModeAADOptSCIM062020, []Change{{Path: SchemaEnterprise + ":manager.value"}},
			`[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]`},
		{"no changes", ModeDefault, nil, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(UserPatch(tt.mode, tt.changes))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestGroupPatch(t *testing.T) {
	tests := []struct {
		name string
		ops  []PatchOp
		want string
	}{
		{"§6.3 rename", GroupPatch(ModeDefault, []Change{{Path: "displayName", Value: "new"}}),
			`[{"op":"Replace","path":"displayName","value":"new"}]`},
		{"rename flag", GroupPatch(ModeAADOptSCIM062020, []Change{{Path: "displayName", Value: "new"}}),
			`[{"op":"replace","path":"displayName","value":"new"}]`},
		{"§6.3 add members", MembersAdd(ModeDefault, []string{"f648f8d5ea4e4cd38e9c", "u2"}),
			`[{"op":"Add","path":"members","value":[{"value":"f648f8d5ea4e4cd38e9c"},{"value":"u2"}]}]`},
		{"add members flag", MembersAdd(ModeAADOptSCIM062020, []string{"u1"}),
			`[{"op":"add","path":"members","value":[{"value":"u1"}]}]`},
		{"§6.4 remove members default", MembersRemove(ModeDefault, []string{"u1091", "u2"}),
			`[{"op":"Remove","path":"members","value":[{"value":"u1091"},{"value":"u2"}]}]`},
		{"§6.4 remove members flag", MembersRemove(ModeAADOptSCIM062020, []string{"7f4bc1a3-285e-48ae-8202-5accb43efb0e", `q"d`}),
			`[{"op":"remove","path":"members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"},{"op":"remove","path":"members[value eq \"q\\\"d\"]"}]`},
		{"no ids", MembersAdd(ModeDefault, nil), `null`},
	}
	for _, tt := range tests {
		b, _ := json.Marshal(tt.ops)
		if string(b) != tt.want {
			t.Errorf("%s:\n got  %s\n want %s", tt.name, b, tt.want)
		}
	}
	golden(t, "patch_group_members_default.json", PatchBody(append(MembersAdd(ModeDefault, []string{"a", "b"}), MembersRemove(ModeDefault, []string{"c"})...)))
	golden(t, "patch_group_members_aadopt.json", PatchBody(append(MembersAdd(ModeAADOptSCIM062020, []string{"a", "b"}), MembersRemove(ModeAADOptSCIM062020, []string{"c"})...)))
}

func TestStrictModeShapes(t *testing.T) {
	tests := []struct {
		name    string
		changes []Change
		want    string
	}{
		{"manager is complex", []Change{{Path: SchemaEnterprise + ":manager", Value: "m1"}},
			`[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m1"}}]`},
		{"first work phone is added as an element", []Change{{Path: `phoneNumbers[type eq "work"].value`, Value: "+1 555", Add: true}},
			`[{"op":"add","path":"phoneNumbers","value":[{"type":"work","value":"+1 555"}]}]`},
		{"first work email is primary", []Change{{Path: `emails[type eq "work"].value`, Value: "a@b.c", Add: true}},
			`[{"op":"add","path":"emails","value":[{"primary":true,"type":"work","value":"a@b.c"}]}]`},
		{"active is boolean and replaces are grouped", []Change{{Path: "active", Value: false}, {Path: "title", Value: "X"}},
			`[{"op":"replace","value":{"active":false,"title":"X"}}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := json.Marshal(UserPatch(ModeStrict, tc.changes))
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
