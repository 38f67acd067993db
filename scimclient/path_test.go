package scimclient

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in      string
		want    Path
		str     string // String() round trip; "" = same as in
		wantErr string
	}{
		{in: "userName", want: Path{Attr: "userName"}},
		{in: "name.givenName", want: Path{Attr: "name", Sub: "givenName"}},
		{in: `emails[type eq "work"].value`, want: Path{Attr: "emails", FilterAttr: "type", FilterValue: "work", Sub: "value"}},
		{in: `phoneNumbers[type eq "mobile"].value`, want: Path{Attr: "phoneNumbers", FilterAttr: "type", FilterValue: "mobile", Sub: "value"}},
		{in: `addresses[type EQ "work"].postalCode`, want: Path{Attr: "addresses", FilterAttr: "type", FilterValue: "work", Sub: "postalCode"},
			str: `addresses[type eq "work"].postalCode`},
		{in: `emails[type eq "other"].Value`, want: Path{Attr: "emails", FilterAttr: "type", FilterValue: "other", Sub: "Value"}},
		{in: `members[value eq "a]b"]`, want: Path{Attr: "members", FilterAttr: "value", FilterValue: "a]b"}},
		{in: SchemaEnterprise + ":manager", want: Path{URN: SchemaEnterprise, Attr: "manager"}},
		{in: SchemaEnterprise + ":employeeNumber", want: Path{URN: SchemaEnterprise, Attr: "employeeNumber"}},
		{in: SchemaGong + ":country", want: Path{URN: SchemaGong, Attr: "country"}},
		{in: SchemaEnterprise + ":manager.value", want: Path{URN: SchemaEnterprise, Attr: "manager", Sub: "value"}},
		{in: SchemaUser + ":userName", want: Path{Attr: "userName"}, str: "userName"},
		{in: `urn:x:y:2.0:User:tags[type eq "a:b"].value`, want: Path{URN: "urn:x:y:2.0:User", Attr: "tags", FilterAttr: "type", FilterValue: "a:b", Sub: "value"}},
		{in: `emails[type eq "w\"x"].value`, want: Path{Attr: "emails", FilterAttr: "type", FilterValue: `w"x`, Sub: "value"}},
		{in: "", wantErr: "empty"},
		{in: "urn:foo:", wantErr: "URN without attribute"},
		{in: "na me", wantErr: "invalid"},
		{in: `emails[type eq "work"`, wantErr: "unterminated"},
		{in: `emails[type ne "work"].value`, wantErr: "only eq"},
		{in: `emails[type eq work].value`, wantErr: "quoted"},
		{in: `emails[type eq "work"]value`, wantErr: "sub-attribute"},
		{in: "name.", wantErr: "sub-attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePath(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePath(%q) err = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParsePath(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
		})
	}
}

func TestPathPredicates(t *testing.T) {
	if !MustParsePath("urn:ietf:params:scim:schemas:extension:Enterprise:2.0:User:Manager").IsManager() {
		t.Error("manager path with other casing not recognised")
	}
	if !MustParsePath("Active").IsActive() {
		t.Error("Active not recognised")
	}
	if MustParsePath(SchemaGong + ":active").IsActive() {
		t.Error("extension active taken for core active")
	}
}

func TestFilterEqEscaping(t *testing.T) {
	tests := []struct {
		name, path, value, want string
	}{
		{"plain", "userName", "alice@contoso.com", `userName eq "alice@contoso.com"`},
		{"quote", "userName", `o"brien@contoso.com`, `userName eq "o\"brien@contoso.com"`},
		{"backslash", "userName", `dom\alice`, `userName eq "dom\\alice"`},
		{"quote and backslash", "userName", `a\"b`, `userName eq "a\\\"b"`},
		{"unicode stays utf-8", "userName", "zoë.müller@contoso.com", `userName eq "zoë.müller@contoso.com"`},
		{"html chars not escaped", "userName", "a<b>&c", `userName eq "a<b>&c"`},
		{"control char", "userName", "a\tb\n", `userName eq "a\tb\n"`},
		{"external id", "externalId", "0a21f0f2", `externalId eq "0a21f0f2"`},
		{"value path becomes RFC form", `emails[type eq "work"].value`, "x@y.z", `emails[type eq "work" and value eq "x@y.z"]`},
		{"extension", SchemaGong + ":country", "US", SchemaGong + `:country eq "US"`},
		{"display name with parens", "displayName", `Sales (EU) "A"`, `displayName eq "Sales (EU) \"A\""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FilterEq(tt.path, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("FilterEq = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestQuoteUnquoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `"`, `\`, `\"`, "ünï©ødé 😀", "\u2028", "/slash", "\x01"} {
		q := Quote(s)
		got, n, err := Unquote(q + " trailing")
		if err != nil || got != s || n != len(q) {
			t.Errorf("Unquote(Quote(%q)) = %q, %d, %v", s, got, n, err)
		}
	}
	// JSON escapes a client may send that Go's quoting lacks or spells differently.
	for lit, want := range map[string]string{`"a\/b"`: "a/b", `"\ud83d\ude00"`: "😀", `"\u00e9"`: "é"} {
		if got, _, err := Unquote(lit); err != nil || got != want {
			t.Errorf("Unquote(%s) = %q, %v; want %q", lit, got, err, want)
		}
	}
	for _, bad := range []string{`"open`, `x"`, `"bad \q"`} {
		if _, _, err := Unquote(bad); err == nil {
			t.Errorf("Unquote(%s) succeeded", bad)
		}
	}
}
