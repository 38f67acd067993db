package config

import (
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	base := minimalHead + `users:
  preset: gong
  mappings:
    - {target: timezone, constant: UTC}
  scoping:
    - clauses: [{attribute: department, operator: EQUALS, value: Sales}]
schedule: "@every 40m"
`
	fp := func(text string, env map[string]string) string {
		t.Helper()
		c, err := Parse([]byte(text), "test.yml", lookup(env))
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		return c.Fingerprint()
	}
	ref := fp(base, testEnv)
	if len(ref) != 64 || ref != fp(base, testEnv) {
		t.Fatalf("fingerprint not stable: %s", ref)
	}
	same := map[string]string{
		"schedule":       strings.Replace(base, "@every 40m", "@every 1h", 1),
		"logging":        base + "logging: {level: debug}\n",
		"metrics":        base + "metrics: {}\n",
		"threshold":      base + "deletionThreshold: 10\n",
		"timeout":        strings.Replace(base, "tokenEnv:", "timeout: 5s\n  tokenEnv:", 1),
		"operator case":  strings.Replace(base, "EQUALS", "equals", 1),
		"attribute case": strings.Replace(base, "attribute: department", "attribute: Department", 1),
	}
	for name, text := range same {
		if got := fp(text, testEnv); got != ref {
			t.Errorf("%s changed the fingerprint", name)
		}
	}
	env := map[string]string{}
	for k, v := range testEnv {
		env[k] = v + "-rotated"
	}
	if fp(base, env) != ref {
		t.Error("rotating secrets changed the fingerprint")
	}
	differ := map[string]string{
		"mapping constant": strings.Replace(base, "constant: UTC", "constant: CET", 1),
		"mapping source":   strings.Replace(base, "{target: timezone, constant: UTC}", "{target: timezone, source: usageLocation}", 1),
		"mapping flow":     strings.Replace(base, "constant: UTC}", "constant: UTC, apply: onCreate}", 1),
		"mapping default":  strings.Replace(base, "constant: UTC}", "constant: UTC, default: x}", 1),
		"matching":         strings.Replace(base, "constant: UTC}", "constant: UTC, matching: 2}", 1),
		"removed row":      strings.Replace(base, "{target: timezone, constant: UTC}", "{target: locale, remove: true}", 1),
		"scoping value":    strings.Replace(base, "value: Sales", "value: Marketing", 1),
		"scope":            base + "scope: all\n",
		"groups off":       base + "groups: {enabled: false}\n",
	}
	for name, text := range differ {
		if got := fp(text, testEnv); got == ref {
			t.Errorf("%s did not change the fingerprint", name)
		}
	}
}
