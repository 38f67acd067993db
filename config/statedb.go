package config

import (
	"net/url"
	"strings"
)

// isDatabaseURL tells a PostgreSQL state (`state: postgres://...`) from a state file path.
func isDatabaseURL(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// sslModes are libpq's sslmode values (https://www.postgresql.org/docs/current/libpq-ssl.html).
var sslModes = map[string]bool{"disable": true, "allow": true, "prefer": true, "require": true, "verify-ca": true, "verify-full": true}

// stateDatabase checks a postgres:// state URL. The messages quote the URL only after removing any
// password, which is refused: it belongs in statePasswordEnv or statePasswordFile.
func (f *finalizer) stateDatabase(r *rawConfig, v *val[string]) *StateDatabase {
	raw := strings.TrimSpace(v.V)
	u, err := url.Parse(raw)
	if err != nil {
		f.errorf(v.pos, "not a valid postgres:// URL")
		return nil
	}
	if _, has := u.User.Password(); has {
		f.errorf(v.pos, "the URL contains a password; put it in statePasswordEnv or statePasswordFile")
		return nil
	}
	shown := (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: u.Path}).String()
	switch {
	case u.Host == "":
		f.errorf(v.pos, "%s names no host", shown)
		return nil
	case strings.Trim(u.Path, "/") == "":
		f.errorf(v.pos, "%s names no database (postgres://user@host:5432/DATABASE)", shown)
		return nil
	}
	q := u.Query()
	if m := q.Get("sslmode"); m != "" && !sslModes[m] {
		f.errorf(v.pos, "unknown sslmode %q; expected disable, allow, prefer, require, verify-ca or verify-full", m)
		return nil
	}
	for _, k := range []string{"sslrootcert", "sslcert", "sslkey"} {
		if p := q.Get(k); p != "" && p != "system" {
			q.Set(k, f.path(p))
		}
	}
	u.RawQuery = q.Encode()
	db := &StateDatabase{URL: u.String()}
	if r.StatePasswordEnv != nil || r.StatePasswordFile != nil {
		db.Password = f.secret(r.at, r.StatePasswordEnv, r.StatePasswordFile, "statePasswordEnv", "statePasswordFile", false)
		if f.offline {
			db.Password = f.offlineSecret(r.StatePasswordEnv, r.StatePasswordFile)
		}
	}
	return db
}

// offlineSecret reads the database password for the commands that load the configuration without
// secrets (status, logs): they read the state, which in a database needs the password. It is best
// effort and silent, as those commands must work for an operator who cannot read the other secrets;
// the connection then fails with the server's own authentication error.
func (f *finalizer) offlineSecret(envKey, fileKey *val[string]) Secret {
	if envKey != nil {
		if v, ok := f.env(strings.TrimSpace(envKey.V)); ok && v != "" {
			return NewSecret(v)
		}
		return Secret{}
	}
	if fileKey != nil {
		if data, err := f.readFile(f.path(strings.TrimSpace(fileKey.V))); err == nil {
			v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
			if v != "" {
				return NewSecret(v)
			}
		}
	}
	return Secret{}
}
