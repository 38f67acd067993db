package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const authHead = `name: gong
source:
  tenantId: 11111111-1111-1111-1111-111111111111
  clientId: 22222222-2222-2222-2222-222222222222
  credential: {type: clientSecret, secretEnv: SCIMSYNC_GRAPH_SECRET}
  servicePrincipalId: 33333333-3333-3333-3333-333333333333
users: {preset: gong}
target:
  url: https://example.gong.io/scim
`

var authEnv = map[string]string{
	"SCIMSYNC_GRAPH_SECRET": "g", "SCIMSYNC_TARGET_TOKEN": "target-token-VALUE", "OAUTH_SECRET": "client-secret-VALUE",
	// 32 bytes as hex and as base64.
	"KEY_HEX": strings.Repeat("ab", 32), "KEY_B64": "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
	"KEY_SHORT": "abcd",
}

func parseAuth(t *testing.T, auth string) (*Config, []string) {
	t.Helper()
	c, err := Parse([]byte(authHead+auth), "test.yml", lookup(authEnv))
	if err == nil {
		return c, nil
	}
	es, ok := err.(Errors)
	if !ok {
		t.Fatalf("error is %T", err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return nil, out
}

func TestTargetAuth(t *testing.T) {
	// The shorthand and the explicit bearer type are the same.
	c, errs := parseAuth(t, "  tokenEnv: SCIMSYNC_TARGET_TOKEN\n")
	if errs != nil || c.Target.Auth.Type != AuthBearer || c.Target.Token.Reveal() != "target-token-VALUE" {
		t.Fatalf("shorthand: %v %+v", errs, c)
	}
	c, errs = parseAuth(t, "  auth: {type: bearer, tokenEnv: SCIMSYNC_TARGET_TOKEN}\n")
	if errs != nil || c.Target.Auth.Type != AuthBearer || c.Target.Token.Reveal() != "target-token-VALUE" {
		t.Fatalf("bearer: %v %+v", errs, c)
	}

	c, errs = parseAuth(t, `  auth:
    type: oauth2ClientCredentials
    tokenUrl: https://idp.example/oauth2/token
    clientId: scimsync
    clientSecretEnv: OAUTH_SECRET
    clientAuthMethod: client_secret_post
    scopes: [scim.read, scim.write]
    audience: https://api.example
`)
	want := TargetAuth{Type: AuthClientCredentials, TokenURL: "https://idp.example/oauth2/token", ClientID: "scimsync",
		ClientAuthMethod: ClientSecretPost, Scopes: []string{"scim.read", "scim.write"}, Audience: "https://api.example"}
	if errs != nil {
		t.Fatal(errs)
	}
	got := c.Target.Auth
	if got.ClientSecret.Reveal() != "client-secret-VALUE" {
		t.Fatal("client secret not read")
	}
	got.ClientSecret = Secret{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("client credentials:\n got %+v\nwant %+v", got, want)
	}

	for _, keyEnv := range []string{"KEY_HEX", "KEY_B64"} {
		c, errs = parseAuth(t, fmt.Sprintf(`  auth:
    type: oauth2AuthorizationCode
    authorizeUrl: https://idp.example/authorize
    tokenUrl: https://idp.example/token
    clientId: scimsync
    scopes: offline_access
    encryptionKeyEnv: %s
`, keyEnv))
		if errs != nil {
			t.Fatal(errs)
		}
		a := c.Target.Auth
		if a.Type != AuthAuthorizationCode || a.RedirectPort != DefaultRedirectPort || a.ClientSecret.IsSet() ||
			a.ClientAuthMethod != ClientSecretBasic || len(a.EncryptionKey.Reveal()) != 32 || a.EncryptionKey.Reveal()[0] != 0xab {
			t.Fatalf("%s: %+v (key %d bytes)", keyEnv, a, len(a.EncryptionKey.Reveal()))
		}
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c.Target), fmt.Sprintf("%#v", c.Target)} {
			if strings.Contains(s, "client-secret-VALUE") || strings.Contains(s, authEnv["KEY_HEX"]) || strings.Contains(s, "\xab\xab\xab") {
				t.Fatalf("a rendering of the config shows a secret: %s", s)
			}
		}
	}
}

func TestTargetAuthErrors(t *testing.T) {
	for _, tc := range []struct {
		name, auth string
		want       []string
	}{
		{"shorthand beside auth", "  tokenEnv: SCIMSYNC_TARGET_TOKEN\n  auth: {type: bearer, tokenEnv: SCIMSYNC_TARGET_TOKEN}\n",
			[]string{"test.yml:10:3: target.tokenEnv: target.tokenEnv and target.tokenFile are shorthand for auth type bearer; with target.auth, put them under auth"}},
		{"no type", "  auth: {clientId: x}\n", []string{"test.yml:10:3: target.auth.type: required key is missing"}},
		{"unknown type", "  auth: {type: oauth2Password}\n",
			[]string{`test.yml:10:10: target.auth.type: unknown value "oauth2Password"; expected bearer, oauth2ClientCredentials or oauth2AuthorizationCode`}},
		{"client credentials without anything", "  auth: {type: oauth2ClientCredentials}\n", []string{
			"test.yml:10:3: target.auth.tokenUrl: required key is missing",
			"test.yml:10:3: target.auth.clientId: required key is missing",
			"test.yml:10:3: target.auth: needs clientSecretEnv or clientSecretFile",
		}},
		{"keys of another type", `  auth:
    type: oauth2ClientCredentials
    tokenUrl: http://idp.example/token
    clientId: c
    clientSecretEnv: OAUTH_SECRET
    authorizeUrl: https://idp.example/authorize
    redirectPort: 80
    scopes: ["a b"]
    tokenEnv: SCIMSYNC_TARGET_TOKEN
`, []string{
			`test.yml:12:5: target.auth.tokenUrl: must use https (http is allowed only for localhost, 127.0.0.1 and ::1), got "http://idp.example/token"`,
			"test.yml:15:5: target.auth.authorizeUrl: applies only to auth type oauth2AuthorizationCode, not oauth2ClientCredentials",
			"test.yml:16:5: target.auth.redirectPort: applies only to auth type oauth2AuthorizationCode, not oauth2ClientCredentials",
			`test.yml:17:14: target.auth.scopes[0]: invalid scope "a b": one scope per list item, printable ASCII without spaces, quotes or backslashes`,
			"test.yml:18:5: target.auth.tokenEnv: applies only to auth type bearer, not oauth2ClientCredentials",
		}},
		{"bad key and port", `  auth:
    type: oauth2AuthorizationCode
    authorizeUrl: https://idp.example/authorize
    tokenUrl: https://idp.example/token
    clientId: c
    redirectPort: 70000
    encryptionKeyEnv: KEY_SHORT
    clientAuthMethod: client_secret_post
`, []string{
			"test.yml:15:5: target.auth.redirectPort: must be from 0 (any free port) to 65535, got 70000",
			"test.yml:16:5: target.auth.encryptionKeyEnv: the encryption key must be 32 bytes written as 64 hex digits or base64 (openssl rand -hex 32)",
			"test.yml:17:5: target.auth.clientAuthMethod: needs a client secret (clientSecretEnv or clientSecretFile)",
		}},
		{"inline secret", "  auth: {type: oauth2ClientCredentials, clientSecret: abc}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := parseAuth(t, tc.auth)
			if got == nil {
				t.Fatal("no error")
			}
			if tc.want == nil {
				for _, g := range got {
					if strings.Contains(g, "inline secrets are not accepted") && !strings.Contains(g, "abc") {
						return
					}
				}
				t.Fatalf("no inline-secret error:\n%s", strings.Join(got, "\n"))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
