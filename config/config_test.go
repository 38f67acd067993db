package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scoping"
)

// testEnv is the environment every fixture is parsed with; values are distinctive so that the
// redaction tests can search output for them.
var testEnv = map[string]string{
	"SCIMSYNC_GRAPH_SECRET":  "graph-secret-VALUE",
	"SCIMSYNC_TARGET_TOKEN":  "target-token-VALUE",
	"SCIMSYNC_SMTP_PASSWORD": "smtp-password-VALUE",
	"SCIMSYNC_CERT_PASSWORD": "cert-password-VALUE",
	"SCIMSYNC_SMTP_USER":     "mailer",
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func parseFile(t *testing.T, path string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(data, path, lookup(testEnv))
}

func mustParseFile(t *testing.T, path string) *Config {
	t.Helper()
	c, err := parseFile(t, path)
	if err != nil {
		t.Fatalf("%s: unexpected error:\n%v", path, err)
	}
	return c
}

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse([]byte(text), "test.yml", lookup(testEnv))
	if err != nil {
		t.Fatalf("unexpected error:\n%v", err)
	}
	return c
}

// parseErrs parses text that must fail and returns the rendered errors.
func parseErrs(t *testing.T, text string) []string {
	t.Helper()
	_, err := Parse([]byte(text), "test.yml", lookup(testEnv))
	if err == nil {
		t.Fatalf("no error for:\n%s", text)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want Errors", err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Error()
	}
	return out
}

const minimalHead = `name: gong
source:
  tenantId: 11111111-1111-1111-1111-111111111111
  clientId: 22222222-2222-2222-2222-222222222222
  credential: {type: clientSecret, secretEnv: SCIMSYNC_GRAPH_SECRET}
  servicePrincipalId: 33333333-3333-3333-3333-333333333333
target:
  url: https://example.gong.io/scim
  tokenEnv: SCIMSYNC_TARGET_TOKEN
`

func TestErrorFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"err_unknown_key_top.yml", []string{
			"1:1: nmae: unknown key; did you mean name?",
			"1:1: name: required key is missing",
			"12:1: shedule: unknown key; did you mean schedule?",
		}},
		{"err_unknown_key_nested.yml", []string{
			"2:1: source.tenantId: required key is missing",
			"3:3: source.tenantID: unknown key; did you mean tenantId?",
			"15:7: users.mappings[0].aply: unknown key; did you mean apply?",
		}},
		{"err_missing_required.yml", []string{
			"1:1: target: required key is missing",
			"2:1: source.tenantId: required key is missing",
			`2:1: source.servicePrincipalId: required key is missing (scope "assigned" reads the app's assignments from its service principal)`,
			"4:3: source.credential: needs secretEnv or secretFile",
			"9:7: users.mappings[0].target: required key is missing",
		}},
		{"err_bad_url.yml", []string{
			`6:3: source.authorityHost: invalid URL: invalid character " " in host name`,
			`9:3: target.url: invalid URL "example.gong.io/scim": expected an absolute http or https URL`,
			"10:3: target.caFile: " + filepath.Join("testdata", "files", "notpem.txt") + " contains no PEM certificate",
			`16:3: notify.from: invalid email address "not an address": mail: no angle-addr`,
			`17:24: notify.to[1]: invalid email address "broken@": mail: missing '@' or angle-addr`,
		}},
		{"err_http_graph_endpoint.yml", []string{
			`6:3: source.graphEndpoint: must use https (http is allowed only for localhost, 127.0.0.1 and ::1), got "http://graph.example.com/v1.0"`,
			`7:3: source.authorityHost: invalid URL "ftp://login.example.com/": expected an absolute http or https URL`,
		}},
		{"err_bad_duration.yml", []string{
			`10:3: target.timeout: invalid duration "30 seconds" (use Go syntax such as 30s or 1m30s)`,
			"11:3: target.concurrency: must be from 1 to 64, got 0",
			`12:3: target.requestsPerSecond: expected a number, got "fast"`,
		}},
		{"err_bad_schedule.yml", []string{
			`11:1: schedule: invalid schedule "every 40m": expected exactly 5 fields, found 2: [every 40m] (use a 5-field cron spec or a descriptor such as "@every 40m")`,
		}},
		{"err_inline_secret.yml", []string{
			"7:5: source.credential.secret: inline secrets are not accepted; use secretEnv or secretFile",
			"11:3: target.token: inline secrets are not accepted; use tokenEnv or tokenFile",
		}},
		{"err_unknown_source_attribute.yml", []string{
			"14:7: users.mappings[0].source: unknown source attribute telephonNumber; did you mean telephoneNumber?",
			"16:7: users.mappings[1].expression: unknown attribute [jobTitel] at column 11; did you mean jobTitle?",
		}},
		{"err_bad_expression.yml", []string{
			"16:7: users.mappings[1].expression: expected ',' or ')' at column 22",
		}},
		{"err_bad_scoping_operator.yml", []string{
			`15:35: users.scoping[0].clauses[0].operator: unknown operator "EQUAL" (known: &, !&, ENDS_WITH, EQUALS, Greater_Than, Greater_Than_OR_EQUALS, Includes, IS FALSE, IS NOT NULL, IS NULL, IS TRUE, NOT EQUALS, NOT REGEX MATCH, REGEX MATCH)`,
			`16:59: users.scoping[0].clauses[1].value: operator Greater_Than compares integers only, got "ten"`,
			`17:54: users.scoping[0].clauses[2].value: operator IS NULL takes no value, got "x"`,
		}},
		{"err_unsupported_scoping_attribute.yml", []string{
			"15:12: users.scoping[0].clauses[0].attribute: userType is not supported in scoping filters (an Entra limitation)",
			"16:12: users.scoping[0].clauses[1].attribute: manager is a reference; scoping filters do not support manager, members or other references",
			"17:12: users.scoping[0].clauses[2].attribute: proxyAddresses is multi-valued; scoping filters do not support multi-valued attributes",
			"18:12: users.scoping[0].clauses[3].attribute: employeeHireDate is a date; scoping filters do not support date attributes",
			"19:12: users.scoping[0].clauses[4].attribute: unknown user attribute departmnt; did you mean department?",
		}},
		{"err_duplicate_matching.yml", []string{
			"15:7: users.mappings[0].matching: matching precedence 1 is also used by userName (in the preset); each matching attribute needs its own precedence",
		}},
		{"err_unknown_gong_target.yml", []string{
			"13:7: users.mappings[0].target: timezon is not a gong user attribute; did you mean timezone?",
			"15:7: users.mappings[1].target: id cannot be a mapped target; the target system assigns it",
		}},
		{"err_env_missing.yml", []string{
			"9:3: target.tokenEnv: environment variable SCIMSYNC_GONG_TOKEN is not set",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			c, err := parseFile(t, path)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("config returned together with an error")
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, path+":"+w)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Every error fixture exists in the table above, so that adding one without an expectation fails.
func TestErrorFixturesAreCovered(t *testing.T) {
	src, err := os.ReadFile("config_test.go")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/err_*.yml")
	for _, f := range files {
		if !strings.Contains(string(src), `"`+filepath.Base(f)+`"`) {
			t.Errorf("%s has no expectation in TestErrorFixtures", f)
		}
	}
}

func TestErrorFields(t *testing.T) {
	_, err := parseFile(t, "testdata/err_bad_expression.yml")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(*Error) failed on %v", err)
	}
	want := &Error{File: "testdata/err_bad_expression.yml", Line: 16, Column: 7,
		Key: "users.mappings[1].expression", Msg: "expected ',' or ')' at column 22"}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got %#v\nwant %#v", e, want)
	}
}

func TestMinimalDefaults(t *testing.T) {
	c := mustParseFile(t, "testdata/minimal.yml")
	if c.File != "testdata/minimal.yml" || c.Name != "gong" {
		t.Errorf("File, Name = %q, %q", c.File, c.Name)
	}
	s := c.Source
	if s.Cloud != CloudPublic || s.GraphEndpoint != "https://graph.microsoft.com/v1.0" ||
		s.AuthorityHost != "https://login.microsoftonline.com/" || s.CAFile != "" {
		t.Errorf("source defaults: %+v", s)
	}
	if s.Credential.Type != CredentialClientSecret || s.Credential.Secret.Reveal() != "graph-secret-VALUE" {
		t.Errorf("credential: %+v", s.Credential)
	}
	tg := c.Target
	if tg.URL != "https://example.gong.io/scim" || tg.Token.Reveal() != "target-token-VALUE" ||
		tg.Timeout != 30*time.Second || tg.Concurrency != 4 || tg.RequestsPerSecond != 25 ||
		tg.Compatibility != CompatibilityDefault {
		t.Errorf("target defaults: %+v", tg)
	}
	if c.Scope != ScopeAssigned || c.Actions != (Actions{true, true, true}) || c.SkipOutOfScopeDeletions ||
		c.DeletionThreshold != 500 || c.Schedule != "@every 40m" || c.StatePath != "/var/lib/scimsync/gong.db" ||
		c.Logging != (Logging{"info", "auto"}) || c.Notify != nil || c.Metrics != nil {
		t.Errorf("top-level defaults: %+v", c)
	}
	if !c.Users.Enabled || c.Users.Preset != PresetGong || c.Users.Scoping != nil || c.Users.MemberBatchSize != 0 {
		t.Errorf("users: %+v", c.Users)
	}
	if got := targets(c.Users.Table); !reflect.DeepEqual(got, specTargets(GongUserPreset())) {
		t.Errorf("user table = %v", got)
	}
	// Groups follow the user preset, as the Gong gallery app provisions groups by default.
	if !c.Groups.Enabled || c.Groups.Preset != PresetGong || c.Groups.MemberBatchSize != 100 {
		t.Errorf("groups: %+v", c.Groups)
	}
	if got := targets(c.Groups.Table); !reflect.DeepEqual(got, []string{"displayName", "members"}) {
		t.Errorf("group table = %v", got)
	}
	m, _ := c.Users.Table.Mapping("active")
	if m.Kind != mapping.Expression || m.Expr == nil || m.Type != mapping.TypeBoolean {
		t.Errorf("active row: %+v", m)
	}
	m, _ = c.Users.Table.Mapping("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
	if m.Attribute != "manager" || m.Type != mapping.TypeReference {
		t.Errorf("manager row: %+v", m)
	}
}

func targets(t *mapping.Table) []string {
	if t == nil {
		return nil
	}
	var out []string
	for _, m := range t.Mappings {
		out = append(out, m.Target)
	}
	return out
}

func specTargets(s []MappingSpec) []string {
	var out []string
	for _, m := range s {
		out = append(out, m.Target)
	}
	return out
}

func TestFull(t *testing.T) {
	c := mustParseFile(t, "testdata/full.yml")
	cr := c.Source.Credential
	if cr.Type != CredentialCertificate || cr.CertificateFile != "testdata/files/graph.pem" ||
		!strings.Contains(string(cr.Certificate), "PRIVATE KEY") || cr.CertificatePassword.Reveal() != "cert-password-VALUE" {
		t.Errorf("credential: %+v", cr)
	}
	s := c.Source
	if s.TenantID != "contoso.onmicrosoft.com" || s.Cloud != CloudUSGovernment ||
		s.GraphEndpoint != "http://127.0.0.1:8443/v1.0" || s.AuthorityHost != "https://localhost:8444/" ||
		s.CAFile != "testdata/files/ca.pem" {
		t.Errorf("source: %+v", s)
	}
	tg := c.Target
	if tg.URL != "http://127.0.0.1:9000/scim" || tg.Compatibility != CompatibilityAADOptSCIM062020 ||
		tg.Token.Reveal() != "target-token-from-file" || tg.Timeout != 90*time.Second || tg.Concurrency != 8 ||
		tg.RequestsPerSecond != 0 || tg.CAFile != "testdata/files/ca.pem" {
		t.Errorf("target: %+v", tg)
	}
	if c.Scope != ScopeAll || c.Actions != (Actions{true, true, false}) || !c.SkipOutOfScopeDeletions ||
		c.DeletionThreshold != 0 || c.Schedule != "*/30 * * * *" || c.StatePath != "testdata/state/gong-lab.db" ||
		c.Logging != (Logging{"debug", "json"}) {
		t.Errorf("top level: %+v", c)
	}
	n := c.Notify
	if n == nil || n.SMTP.Host != "mail.example.com" || n.SMTP.Port != 465 || n.SMTP.TLS != "implicit" ||
		n.SMTP.Username != "mailer" || n.SMTP.Password.Reveal() != "smtp-pass" ||
		n.From != `"Scimsync" <scimsync@example.com>` || !reflect.DeepEqual(n.To, []string{"idm-team@example.com"}) {
		t.Errorf("notify: %+v", n)
	}
	if c.Metrics == nil || c.Metrics.Listen != DefaultMetricsListen {
		t.Errorf("metrics: %+v", c.Metrics)
	}

	u := c.Users
	wantTargets := []string{"userName", "active", "title", `emails[type eq "work"].value`, "name.givenName",
		"name.familyName", `phoneNumbers[type eq "work"].value`, "externalId",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
		"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:stateOrProvince",
		"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country", "timezone"}
	if got := targets(u.Table); !reflect.DeepEqual(got, wantTargets) {
		t.Errorf("user targets:\n%q\nwant\n%q", got, wantTargets)
	}
	un, _ := u.Table.Mapping("userName")
	if un.Attribute != "mail" || un.Matching != 1 {
		t.Errorf("userName keeps matching 1 when its source is replaced: %+v", un)
	}
	ext, _ := u.Table.Mapping("externalId")
	if ext.Attribute != "mailNickname" || ext.Matching != 2 {
		t.Errorf("externalId keeps its source when only matching is set: %+v", ext)
	}
	tz, _ := u.Table.Mapping("timezone")
	if tz.Kind != mapping.Constant || tz.Constant != "Europe/Berlin" || tz.Flow != mapping.OnCreate ||
		tz.Default == nil || *tz.Default != "UTC" || !tz.CaseExact || tz.Type != mapping.TypeString {
		t.Errorf("timezone: %+v", tz)
	}
	wantFilters := []scoping.Filter{{Title: "Sales only", Clauses: []scoping.Clause{
		{Attribute: "department", Operator: "EQUALS", Value: "Sales"},
		{Attribute: "employeeId", Operator: "Greater_Than", Value: "1000"},
	}}}
	if !reflect.DeepEqual(u.Filters, wantFilters) || u.Scoping.Len() != 1 {
		t.Errorf("user filters: %+v", u.Filters)
	}
	g := c.Groups
	if !g.Enabled || g.Preset != "" || g.MemberBatchSize != 50 || g.Scoping.Len() != 1 {
		t.Errorf("groups: %+v", g)
	}
	if got := targets(g.Table); !reflect.DeepEqual(got, []string{"displayName", "externalId", "members"}) {
		t.Errorf("group targets: %v", got)
	}
}

func TestExample(t *testing.T) {
	file, err := os.ReadFile("testdata/example.yml")
	if err != nil {
		t.Fatal(err)
	}
	if Example() != string(file) {
		t.Fatal("Example() and testdata/example.yml differ; keep them identical")
	}
	c := mustParseFile(t, "testdata/example.yml")
	if c.Notify == nil || c.Metrics == nil || c.Users.Scoping.Len() != 2 || !c.Groups.Enabled {
		t.Errorf("example: %+v", c)
	}
	if _, ok := c.Users.Table.Mapping("locale"); ok {
		t.Error("example removes locale")
	}
	// The example must not need anything beyond the documented environment variables.
	env := map[string]string{}
	for _, k := range []string{"SCIMSYNC_GRAPH_SECRET", "SCIMSYNC_TARGET_TOKEN", "SCIMSYNC_SMTP_PASSWORD"} {
		env[k] = "x"
	}
	if _, err := Parse([]byte(Example()), "example.yml", lookup(env)); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("SCIMSYNC_GRAPH_SECRET", "from-process-env")
	t.Setenv("SCIMSYNC_TARGET_TOKEN", "token")
	c, err := Load("testdata/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Source.Credential.Secret.Reveal() != "from-process-env" {
		t.Errorf("Load does not read the process environment")
	}
	_, err = Load("testdata/does-not-exist.yml")
	var es Errors
	if !errors.As(err, &es) || !strings.HasPrefix(err.Error(), "testdata/does-not-exist.yml: cannot read configuration") {
		t.Errorf("missing file: %v", err)
	}
}

func TestPresetMerge(t *testing.T) {
	c := mustParse(t, minimalHead+`users:
  preset: gong
  mappings:
    - target: title                    # replace
      constant: Engineer
    - target: TIMEZONE                 # add a known Gong attribute, any case
      source: usageLocation
    - target: name.familyName          # remove
      remove: true
    - target: urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country
      apply: onCreate                  # override a property only
`)
	want := []string{"userName", "active", "title", `emails[type eq "work"].value`, "name.givenName",
		`phoneNumbers[type eq "work"].value`, "externalId", "locale",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
		"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:stateOrProvince",
		"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country", "timezone"}
	if got := targets(c.Users.Table); !reflect.DeepEqual(got, want) {
		t.Fatalf("targets:\n%q\nwant\n%q", got, want)
	}
	title, _ := c.Users.Table.Mapping("title")
	if title.Kind != mapping.Constant || title.Constant != "Engineer" {
		t.Errorf("title: %+v", title)
	}
	tz, _ := c.Users.Table.Mapping("timezone")
	if tz.Kind != mapping.Direct || tz.Attribute != "usageLocation" {
		t.Errorf("timezone: %+v", tz)
	}
	country, _ := c.Users.Table.Mapping("urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country")
	if country.Attribute != "country" || country.Flow != mapping.OnCreate {
		t.Errorf("country: %+v", country)
	}
	if got := c.Users.Mappings[2].SourceText(); got != `"Engineer"` {
		t.Errorf("SourceText = %s", got)
	}
	// The presets themselves are not modified by a merge.
	if GongUserPreset()[2].Source != "jobTitle" {
		t.Error("preset modified")
	}
}

func TestMappingErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"source and constant", `users:
  preset: gong
  mappings:
    - target: timezone
      source: usageLocation
      constant: UTC
`, []string{"test.yml:15:7: users.mappings[0].constant: conflicts with source on line 14; give exactly one of source, constant, expression or none: true"}},
		{"no source on a new row", `users:
  preset: gong
  mappings:
    - target: timezone
      apply: onCreate
`, []string{"test.yml:13:7: users.mappings[0]: needs one of source, constant, expression or none: true"}},
		{"remove with other keys", `users:
  preset: gong
  mappings:
    - {target: locale, remove: true, source: mail}
`, []string{"test.yml:13:38: users.mappings[0].source: an entry with remove: true takes no other keys than target"}},
		{"remove unmapped", `users:
  preset: gong
  mappings:
    - {target: timezone, remove: true}
`, []string{"test.yml:13:26: users.mappings[0].remove: timezone is not mapped by the gong preset; there is nothing to remove"}},
		{"same target twice", `users:
  preset: gong
  mappings:
    - {target: timezone, constant: UTC}
    - {target: timeZone, constant: CET}
`, []string{"test.yml:14:8: users.mappings[1].target: timezone is already mapped on line 13"}},
		{"no matching attribute", `users:
  preset: gong
  mappings:
    - {target: userName, matching: 0}
`, []string{"test.yml:10:1: users.mappings: no user mapping has a matching precedence; set matching: 1 on the attribute that identifies a user in the target"}},
		{"no preset, bad paths", `users:
  mappings:
    - {target: userName, source: userPrincipalName, matching: 1}
    - {target: 'emails[type eq "work"]', source: mail}
    - {target: 'name..givenName', source: givenName}
    - {target: 'urn:foo:attr', source: givenName}
    - {target: 'externalId', source: objectId, type: reference}
    - {target: 'x-manager', source: manager}
    - {target: 'active', source: accountEnabled, type: bool}
groups:
  enabled: false
`, []string{
			`test.yml:13:8: users.mappings[1].target: invalid SCIM attribute path "emails[type eq \"work\"]": expected .subAttribute after the filter at the end`,
			`test.yml:14:8: users.mappings[2].target: invalid SCIM attribute path "name..givenName": expected a sub-attribute name at ".givenName"`,
			`test.yml:15:8: users.mappings[3].target: invalid SCIM attribute path "urn:foo:attr": a schema-qualified path is urn:<namespace>:<schema>:<attribute>`,
			"test.yml:16:48: users.mappings[4].type: type reference needs a direct mapping from a reference attribute (manager, members)",
			"test.yml:17:29: users.mappings[5].source: manager is a reference attribute; its target needs type: reference",
			`test.yml:18:50: users.mappings[6].type: unknown value "bool"; expected string, boolean, integer, reference or multi`,
		}},
		{"groups enabled without mappings", `users:
  preset: gong
groups:
  enabled: true
  preset: none
`, []string{"test.yml:12:1: groups: groups are provisioned but no mappings are configured; set preset: gong or add mappings (or set enabled: false)"}},
		{"not a gong group attribute", `users: {preset: gong}
groups:
  mappings:
    - {target: description, source: description}
`, []string{"test.yml:13:8: groups.mappings[0].target: description is not a gong group attribute (known: displayName, members)"}},
		{"memberBatchSize on users", `users:
  preset: gong
  memberBatchSize: 10
`, []string{"test.yml:12:3: users.memberBatchSize: memberBatchSize applies to groups only"}},
		{"unknown group attribute", `users: {preset: gong}
groups:
  preset: none
  mappings:
    - {target: displayName, source: displayname, matching: 1}
    - {target: description, source: descripton}
`, []string{"test.yml:15:29: groups.mappings[1].source: unknown source attribute descripton; did you mean description?"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErrs(t, minimalHead+tt.yaml)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestNoPresetTable(t *testing.T) {
	c := mustParse(t, minimalHead+`users:
  mappings:
    - {target: userName, source: userprincipalname, matching: 1}
    - {target: 'emails[type eq "work"].value', source: mail}
    - {target: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', source: employeeId}
    - {target: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager', source: manager, type: reference}
    - {target: active, expression: 'Not([IsSoftDeleted])', type: boolean}
    - {target: displayName, none: true, default: Unknown}
`)
	if c.Users.Preset != "" || c.Groups.Enabled || c.Groups.Table != nil {
		t.Errorf("without a preset groups are off: %+v", c.Groups)
	}
	if m := c.Users.Table.Mappings[0]; m.Attribute != "userPrincipalName" {
		t.Errorf("attribute names are canonicalised: %+v", m)
	}
	if m := c.Users.Table.Mappings[5]; m.Kind != mapping.None || *m.Default != "Unknown" {
		t.Errorf("none row: %+v", m)
	}
}

func TestUnsetVersusZero(t *testing.T) {
	c := mustParse(t, minimalHead+"users: {preset: gong}\ndeletionThreshold: 0\n")
	if c.DeletionThreshold != 0 {
		t.Errorf("explicit 0 = %d", c.DeletionThreshold)
	}
	c = mustParse(t, minimalHead+"users: {preset: gong}\ndeletionThreshold:\n")
	if c.DeletionThreshold != 500 {
		t.Errorf("null means unset: %d", c.DeletionThreshold)
	}
	c = mustParse(t, strings.Replace(minimalHead, "tokenEnv:", "requestsPerSecond: 0\n  tokenEnv:", 1)+"users: {preset: gong}\n")
	if c.Target.RequestsPerSecond != 0 {
		t.Errorf("explicit 0 rps = %v", c.Target.RequestsPerSecond)
	}
	c = mustParse(t, minimalHead+"users: {preset: gong}\nactions: {delete: false}\n")
	if c.Actions != (Actions{Create: true, Update: true, Delete: false}) {
		t.Errorf("actions: %+v", c.Actions)
	}
}

func TestCredentials(t *testing.T) {
	head := `name: gong
target: {url: https://example.gong.io/scim, tokenEnv: SCIMSYNC_TARGET_TOKEN}
users: {preset: gong}
scope: all
source:
  tenantId: 11111111-1111-1111-1111-111111111111
`
	c := mustParse(t, head+"  credential: {type: managedIdentity}\n")
	if c.Source.Credential.Type != CredentialManagedIdentity || c.Source.ClientID != "" || c.Source.ServicePrincipalID != "" {
		t.Errorf("managed identity: %+v", c.Source)
	}
	env := map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/var/run/token", "SCIMSYNC_TARGET_TOKEN": "t"}
	c, err := Parse([]byte(head+"  clientId: abc\n  credential: {type: workloadIdentity}\n"), "test.yml", lookup(env))
	if err != nil || c.Source.Credential.TokenFile != "/var/run/token" {
		t.Errorf("workload identity from env: %v %+v", err, c)
	}
	got := parseErrs(t, head+"  clientId: abc\n  credential: {type: workloadIdentity}\n")
	want := []string{"test.yml:8:3: source.credential.tokenFile: required key is missing and the environment variable AZURE_FEDERATED_TOKEN_FILE is not set"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("workload identity without a token file:\n%s", strings.Join(got, "\n"))
	}
	got = parseErrs(t, head+`  credential:
    type: certificate
    certificateFile: testdata/files/ca.pem
    secretEnv: X
`)
	want = []string{
		"test.yml:5:1: source.clientId: required key is missing",
		"test.yml:9:5: source.credential.certificateFile: testdata/files/ca.pem: the PEM file has no PRIVATE KEY block",
		"test.yml:10:5: source.credential.secretEnv: applies only to credential type clientSecret, not certificate",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("certificate errors:\n%s", strings.Join(got, "\n"))
	}
	got = parseErrs(t, head+`  clientId: abc
  credential:
    type: clientSecret
    secretEnv: SCIMSYNC_GRAPH_SECRET
    secretFile: testdata/files/target-token
`)
	want = []string{"test.yml:11:5: source.credential.secretFile: secretEnv and secretFile are mutually exclusive; use one"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("both secret keys:\n%s", strings.Join(got, "\n"))
	}
	got = parseErrs(t, head+`  clientId: abc
  credential: {type: clientSecret, secretFile: testdata/files/nope}
`)
	want = []string{"test.yml:8:36: source.credential.secretFile: cannot read the secret file: stat testdata/files/nope: no such file or directory"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("missing secret file:\n%s", strings.Join(got, "\n"))
	}
}

func TestYAMLFeatures(t *testing.T) {
	// Links, aliases and merge keys work, and written keys win over merged ones.
	c := mustParse(t, minimalHead+`users:
  preset: gong
  scoping:
    - &sales
      title: Sales
      clauses: [{attribute: department, operator: EQUALS, value: Sales}]
    - <<: *sales
      title: Sales copy
`)
	if f := c.Users.Filters; len(f) != 2 || f[1].Title != "Sales copy" || len(f[1].Clauses) != 1 {
		t.Errorf("filters: %+v", f)
	}
	tests := []struct {
		name, text string
		want       []string
	}{
		{"empty", "", []string{"test.yml: the configuration is empty"}},
		{"comments only", "# nothing\n", []string{"test.yml: the configuration is empty"}},
		{"syntax", "name: gong\nsource: [\n", []string{"test.yml:2: did not find expected node content"}},
		{"two documents", "name: a\n---\nname: b\n", []string{"test.yml:2:1: only one YAML document per file is accepted"}},
		{"not a mapping", "- a\n- b\n", []string{"test.yml:1:1: expected a mapping, got a list"}},
		{"alias cycle", "a: &x [*x]\n", []string{"test.yml:1:1: an alias refers to a node that contains it"}},
		{"duplicate key", minimalHead + "users: {preset: gong}\nname: other\n", []string{"test.yml:11:1: name: duplicate key (first set on line 1)"}},
		{"wrong types", minimalHead + "users: {preset: gong, enabled: yes}\nsource2: 1\nlogging: [a]\n", []string{
			`test.yml:10:23: users.enabled: expected true or false, got "yes"`,
			"test.yml:11:1: source2: unknown key; did you mean source?",
			"test.yml:12:1: logging: expected a mapping, got a list",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErrs(t, tt.text); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestBillionLaughs(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	got := parseErrs(t, b.String())
	if len(got) != 1 || !strings.Contains(got[0], "expands to more than") {
		t.Errorf("got %v", got)
	}
}

func TestSchedules(t *testing.T) {
	for _, s := range []string{"@every 40m", "@hourly", "*/40 * * * *", "0 9 * * 1-5", "CRON_TZ=Europe/Berlin 0 9 * * *"} {
		if err := checkSchedule(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "every 40m", "@every", "@every -5m", "@every 0s", "* * * * * *", "TZ=UTC", "TZ=Nowhere/Land * * * * *", "61 * * * *"} {
		if err := checkSchedule(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestNotifyAndMetrics(t *testing.T) {
	got := parseErrs(t, minimalHead+`users: {preset: gong}
notify:
  smtp: {host: h, port: 70000, tls: ssl, passwordEnv: SCIMSYNC_SMTP_PASSWORD}
  to: []
metrics: {listen: "localhost"}
`)
	want := []string{
		"test.yml:11:1: notify.from: required key is missing",
		"test.yml:11:1: notify.to: required key is missing",
		"test.yml:12:3: notify.smtp.username: a password needs username or usernameEnv",
		"test.yml:12:19: notify.smtp.port: must be from 1 to 65535, got 70000",
		`test.yml:12:32: notify.smtp.tls: unknown value "ssl"; expected starttls, implicit or none`,
		`test.yml:14:11: metrics.listen: invalid listen address "localhost": address localhost: missing port in address`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStatePath(t *testing.T) {
	data := []byte(minimalHead + "users: {preset: gong}\nstate: gong.db\n")
	c, err := Parse(data, "/etc/scimsync/jobs/gong.yaml", lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if c.StatePath != "/etc/scimsync/jobs/gong.db" {
		t.Errorf("relative state path = %s", c.StatePath)
	}
}

func TestNotifyXOAUTH2AndNoSuccessAlert(t *testing.T) {
	c := mustParse(t, minimalHead+`users: {preset: gong}
notify:
  smtp: {host: smtp.office365.com, auth: xoauth2, username: alerts@contoso.com}
  from: alerts@contoso.com
  to: [ops@contoso.com]
  noSuccessAlertAfter: 36h
`)
	if c.Notify.SMTP.Auth != "xoauth2" || c.Notify.NoSuccessAlertAfter != 36*time.Hour || c.Notify.SMTP.Port != 587 {
		t.Errorf("notify = %+v", c.Notify)
	}
	d := mustParse(t, minimalHead+`users: {preset: gong}
notify: {smtp: {host: h}, from: a@b.example, to: [c@b.example]}
`)
	if d.Notify.SMTP.Auth != "password" || d.Notify.NoSuccessAlertAfter != 24*time.Hour {
		t.Errorf("defaults: %+v", d.Notify)
	}
	got := parseErrs(t, minimalHead+`users: {preset: gong}
notify:
  smtp: {host: h, auth: xoauth2}
  from: a@b.example
  to: [c@b.example]
  noSuccessAlertAfter: 10m
`)
	want := []string{
		"test.yml:12:19: notify.smtp.auth: xoauth2 needs username (the mailbox that sends, which the source app may send as)",
		"test.yml:15:3: notify.noSuccessAlertAfter: must be at least 1h (a cycle can take that long), got 10m0s",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadOffline(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "job.yml")
	text := strings.Replace(minimalHead, "tokenEnv: SCIMSYNC_TARGET_TOKEN", "tokenFile: missing-token", 1) + "users: {preset: gong}\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCIMSYNC_GRAPH_SECRET", "")
	if _, err := Load(p); err == nil {
		t.Fatal("Load accepted a missing secret file and an empty variable")
	}
	c, err := LoadOffline(p)
	if err != nil {
		t.Fatalf("LoadOffline: %v", err)
	}
	if c.Target.Token.Reveal() != "" || c.Source.Credential.Secret.Reveal() != "" {
		t.Error("LoadOffline returned a secret")
	}
	// The shape of the secret keys is still checked.
	bad := strings.Replace(text, "tokenFile: missing-token", "tokenFile: a\n  tokenEnv: B", 1)
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOffline(p); err == nil || !strings.Contains(err.Error(), "mutually exclusive") {
		t.Errorf("LoadOffline with both tokenEnv and tokenFile: %v", err)
	}
}

func TestMaxConcurrency(t *testing.T) {
	with := func(keys string) string {
		return strings.Replace(minimalHead, "tokenEnv:", keys+"\n  tokenEnv:", 1) + "users: {preset: gong}\n"
	}
	if c := mustParse(t, with("concurrency: 4")); c.Target.MaxConcurrency != 0 {
		t.Errorf("unset maxConcurrency = %d, want 0 (adaptive off)", c.Target.MaxConcurrency)
	}
	if c := mustParse(t, with("concurrency: 4\n  maxConcurrency: 16")); c.Target.MaxConcurrency != 16 || c.Target.Concurrency != 4 {
		t.Errorf("concurrency %d max %d, want 4 and 16", c.Target.Concurrency, c.Target.MaxConcurrency)
	}
	if c := mustParse(t, with("maxConcurrency: 4")); c.Target.MaxConcurrency != 4 {
		t.Errorf("maxConcurrency equal to the default concurrency = %d, want 4", c.Target.MaxConcurrency)
	}
	for keys, want := range map[string]string{
		"concurrency: 8\n  maxConcurrency: 4": "test.yml:10:3: target.maxConcurrency: must not be below target.concurrency (8), got 4",
		"maxConcurrency: 65":                  "test.yml:9:3: target.maxConcurrency: must be from 1 to 64, got 65",
		"maxConcurrency: 0":                   "test.yml:9:3: target.maxConcurrency: must be from 1 to 64, got 0",
		"maxConcurrency: many":                `test.yml:9:3: target.maxConcurrency: expected an integer, got "many"`,
	} {
		got := parseErrs(t, with(keys))
		if len(got) != 1 || got[0] != want {
			t.Errorf("%q: errors %q, want [%q]", keys, got, want)
		}
	}
}

func TestTargetBulk(t *testing.T) {
	with := func(keys string) string {
		return strings.Replace(minimalHead, "tokenEnv:", keys+"\n  tokenEnv:", 1) + "users: {preset: gong}\n"
	}
	if c := mustParse(t, with("concurrency: 4")); !c.Target.Bulk {
		t.Error("unset bulk = false, want true (used when the target offers it)")
	}
	if c := mustParse(t, with("bulk: false")); c.Target.Bulk {
		t.Error("bulk: false = true")
	}
	if got := parseErrs(t, with("bulk: sometimes")); len(got) != 1 || !strings.Contains(got[0], "target.bulk") {
		t.Errorf("bulk: sometimes: errors %q, want one naming target.bulk", got)
	}
}
