package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestStateDatabase(t *testing.T) {
	env := map[string]string{"SCIMSYNC_DB_PASSWORD": "db-password-VALUE"}
	for k, v := range testEnv {
		env[k] = v
	}
	text := minimalHead + `users: {preset: gong}
state: postgres://scimsync@db.example:5432/scimsync?sslmode=verify-full&sslrootcert=certs/ca.pem
statePasswordEnv: SCIMSYNC_DB_PASSWORD
`
	c, err := Parse([]byte(text), "/etc/scimsync/jobs/gong.yaml", lookup(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDatabase == nil {
		t.Fatal("postgres state not recognised")
	}
	want := "postgres://scimsync@db.example:5432/scimsync?sslmode=verify-full&sslrootcert=%2Fetc%2Fscimsync%2Fjobs%2Fcerts%2Fca.pem"
	if c.StateDatabase.URL != want {
		t.Errorf("URL = %s\nwant %s", c.StateDatabase.URL, want)
	}
	if c.StateDatabase.Password.Reveal() != "db-password-VALUE" {
		t.Error("password not read from the environment")
	}
	if c.StatePath != "/var/lib/scimsync/gong.db" {
		t.Errorf("side files at %s, want the default state dir", c.StatePath)
	}
	for _, s := range []string{fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", *c.StateDatabase)} {
		if strings.Contains(s, "db-password-VALUE") {
			t.Fatalf("rendering shows the database password: %s", s)
		}
	}
	// No password: a server that authenticates by client certificate.
	d := mustParse(t, minimalHead+"users: {preset: gong}\nstate: postgresql://app@10.0.0.5/jobs?sslmode=require&sslcert=/c.pem&sslkey=/k.pem\n")
	if d.StateDatabase == nil || d.StateDatabase.Password.IsSet() {
		t.Errorf("certificate-only database: %+v", d.StateDatabase)
	}
}

func TestStateDatabaseErrors(t *testing.T) {
	got := parseErrs(t, minimalHead+`users: {preset: gong}
state: postgres://u:hunter2-secret@db.example/scimsync
`)
	want := []string{"test.yml:11:1: state: the URL contains a password; put it in statePasswordEnv or statePasswordFile"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("password in URL:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(strings.Join(got, ""), "hunter2") {
		t.Error("the error shows the password")
	}
	for text, wantErr := range map[string]string{
		"state: postgres://u@db.example/\n":                                    "names no database",
		"state: postgres://u@/scimsync\n":                                      "names no host",
		"state: postgres://u@db.example/s?sslmode=sometimes\n":                 `unknown sslmode "sometimes"`,
		"state: gong.db\nstatePasswordEnv: SCIMSYNC_GRAPH_SECRET\n":            "statePasswordEnv applies only to a postgres:// state",
		"state: postgres://u@h/d\nstatePassword: x\n":                          "inline secrets are not accepted; use statePasswordEnv or statePasswordFile",
		"state: postgres://u@h/d\nstatePasswordEnv: NOPE_UNSET\n":              "environment variable NOPE_UNSET is not set",
		"state: postgres://u@h/d\nstatePasswordEnv: A\nstatePasswordFile: f\n": "mutually exclusive",
	} {
		got := strings.Join(parseErrs(t, minimalHead+"users: {preset: gong}\n"+text), "\n")
		if !strings.Contains(got, wantErr) {
			t.Errorf("%q: errors %q, want %q", text, got, wantErr)
		}
	}
}

// TestStateDatabaseOffline: status and logs load the configuration without secrets, but reading a
// database state needs its password: it is read when available, and its absence is no error.
func TestStateDatabaseOffline(t *testing.T) {
	text := []byte(minimalHead + "users: {preset: gong}\nstate: postgres://u@h/d\nstatePasswordEnv: SCIMSYNC_DB_PASSWORD\n")
	read := func(string) ([]byte, error) { return nil, fmt.Errorf("no files here") }
	c, err := parseWith(text, "test.yml", lookup(map[string]string{"SCIMSYNC_DB_PASSWORD": "pw"}), read, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDatabase.Password.Reveal() != "pw" || c.Target.Token.IsSet() {
		t.Errorf("offline: database password %v, target token set %v", c.StateDatabase.Password.IsSet(), c.Target.Token.IsSet())
	}
	c, err = parseWith(text, "test.yml", lookup(nil), read, true)
	if err != nil || c.StateDatabase.Password.IsSet() {
		t.Errorf("offline without the variable: %v, password set %v", err, c.StateDatabase.Password.IsSet())
	}
}
