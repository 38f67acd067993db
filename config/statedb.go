package config

import (
	"net/url"
	"strings"

	"github.com/scimsync/scimsync/config/internal/raw"
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
func (f *finalizer) stateDatabase(r *raw.Config, v *raw.Val[string]) *StateDatabase {
	raw := strings.TrimSpace(v.V)
	u, err := url.Parse(raw)
	if err != nil {
		f.Errorf(v.Pos, "not a valid postgres:// URL")
		return nil
	}
	if _, has := u.User.Password(); has {
		f.Errorf(v.Pos, "the URL contains a password; put it in statePasswordEnv or statePasswordFile")
		return nil
	}
	shown := (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: u.Path}).String()
	switch {
	case u.Host == "":
		f.Errorf(v.Pos, "%s names no host", shown)
		return nil
	case strings.Trim(u.Path, "/") == "":
		f.Errorf(v.Pos, "%s names no database (postgres://user@host:5432/DATABASE)", shown)
		return nil
	}
	q := u.Query()
	if m := q.Get("sslmode"); m != "" && !sslModes[m] {
		f.Errorf(v.Pos, "unknown sslmode %q; expected disable, allow, prefer, require, verify-ca or verify-full", m)
		return nil
	}
	for _, k := range []string{"sslrootcert", "sslcert", "sslkey"} {
		if p := q.Get(k); p != "" && p != "system" {
			q.Set(k, f.Path(p))
		}
	}
	u.RawQuery = q.Encode()
	db := &StateDatabase{URL: u.String()}
	if r.StatePasswordEnv != nil || r.StatePasswordFile != nil {
		db.Password = f.Read(r.At, r.StatePasswordEnv, r.StatePasswordFile, "statePasswordEnv", "statePasswordFile", false)
		if f.Offline {
			db.Password = f.ReadOffline(r.StatePasswordEnv, r.StatePasswordFile)
		}
	}
	return db
}
