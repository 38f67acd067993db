// Package secrets holds the Secret type, which never prints its value, and reads secrets from the
// environment or from files named in a job file, reporting problems at the key that named them.
package secrets

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/scimsync/scimsync/config/internal/raw"
)

// Redacted is what every rendering of a Secret prints.
const Redacted = "[redacted]"

// Secret holds a credential read at load time (Graph client secret, certificate password, SCIM bearer
// token, SMTP password). Every way Go has of turning a value into text (fmt verbs including %#v and %d,
// encoding/json, encoding.TextMarshaler, YAML, log/slog, zap's Stringer and reflection encoders) prints
// "[redacted]", so that logging a Config, or a struct that embeds one, can never leak a secret. The
// value sits behind a pointer so that even reflection-based dumpers that bypass methods print an address.
// Code that needs the value calls Reveal, which is easy to grep for.
type Secret struct {
	v *string
}

// New wraps a value; tests and callers that build a Config by hand use it.
func New(value string) Secret {
	return Secret{v: &value}
}

// Reveal returns the secret value. It is the only way out, so each use is a deliberate, reviewable act.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsSet reports whether a value was configured, for callers that treat a secret as optional (SMTP
// without authentication).
func (s Secret) IsSet() bool { return s.v != nil }

// String keeps %v, %s and Stringer-based loggers (zap.Any, zap.Stringer) from printing the value.
func (Secret) String() string { return Redacted }

// GoString keeps %#v from printing the value.
func (Secret) GoString() string { return Redacted }

// Format handles every fmt verb, including ones (%d, %x) that would otherwise print struct fields.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON keeps encoding/json and zap.Reflect from printing the value.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText keeps text encoders (and YAML, which uses it) from printing the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue keeps log/slog from printing the value.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// Source reads the secrets a job file names: from the environment or from files relative to the
// file's directory. Problems go to the file's decoder, at the key that named the secret.
type Source struct {
	*raw.Decoder
	Env      func(string) (string, bool)
	ReadFile func(string) ([]byte, error)
	// Dir is the job file's directory, against which relative paths resolve.
	Dir string
	// Offline checks where secrets come from without reading them (LoadOffline).
	Offline bool
}

var envVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Path resolves a configured path against the configuration file's directory, so that a job directory
// can be moved as a whole.
func (s *Source) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.Dir, p)
}

// Read reads a secret from exactly one of an environment variable or a file. The messages name the
// variable or the file, never the value.
func (s *Source) Read(at raw.Field, envKey, fileKey *raw.Val[string], envName, fileName string, required bool) Secret {
	switch {
	case envKey != nil && fileKey != nil:
		s.Errorf(fileKey.Pos, "%s and %s are mutually exclusive; use one", envName, fileName)
		return Secret{}
	case envKey != nil:
		name := strings.TrimSpace(envKey.V)
		if !envVarRE.MatchString(name) {
			s.Errorf(envKey.Pos, "invalid environment variable name %q", envKey.V)
			return Secret{}
		}
		if s.Offline {
			return Secret{}
		}
		v, ok := s.Env(name)
		if !ok {
			s.Errorf(envKey.Pos, "environment variable %s is not set", name)
			return Secret{}
		}
		return s.valid(envKey.Pos, v, "environment variable "+name, "")
	case fileKey != nil:
		p := s.Path(strings.TrimSpace(fileKey.V))
		if s.Offline {
			return Secret{}
		}
		data, err := s.ReadFile(p)
		if err != nil {
			s.Errorf(fileKey.Pos, "cannot read the secret file: %v", err)
			return Secret{}
		}
		// Exactly one line ending is trimmed: the one `echo` and editors add. Anything else that is not
		// printable would be sent in the Authorization header and fail every request the same way.
		v := string(data)
		if t, ok := strings.CutSuffix(v, "\r\n"); ok {
			v = t
		} else {
			v = strings.TrimSuffix(v, "\n")
		}
		return s.valid(fileKey.Pos, v, "the secret file "+p, " (one trailing newline is trimmed)")
	case required && !s.Inline[at.Path]:
		s.Errorf(at.Pos(), "needs %s or %s", envName, fileName)
	}
	return Secret{}
}

// valid refuses an empty secret or one with a control character, which would be sent in a header and
// fail every request the same way; what names where the secret came from, never its value.
func (s *Source) valid(at raw.Pos, v, what, note string) Secret {
	if v == "" {
		s.Errorf(at, "%s is empty", what)
		return Secret{}
	}
	if c, bad := ControlChar(v); bad {
		s.Errorf(at, "%s contains %s; a secret is one line without control characters%s", what, c, note)
		return Secret{}
	}
	return New(v)
}

// ReadOffline reads the database password for the commands that load the configuration without
// secrets (status, logs): they read the state, which in a database needs the password. It is best
// effort and silent, as those commands must work for an operator who cannot read the other secrets;
// the connection then fails with the server's own authentication error.
func (s *Source) ReadOffline(envKey, fileKey *raw.Val[string]) Secret {
	if envKey != nil {
		if v, ok := s.Env(strings.TrimSpace(envKey.V)); ok && v != "" {
			return New(v)
		}
		return Secret{}
	}
	if fileKey != nil {
		if data, err := s.ReadFile(s.Path(strings.TrimSpace(fileKey.V))); err == nil {
			v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
			if v != "" {
				return New(v)
			}
		}
	}
	return Secret{}
}

// ControlChar finds the first C0 control character or DEL in a secret and names it, never showing the
// secret itself.
func ControlChar(v string) (string, bool) {
	for _, r := range v {
		switch {
		case r == '\r':
			return "a carriage return (CR)", true
		case r == '\n':
			return "a line feed (LF)", true
		case r == 0:
			return "a NUL byte", true
		case r < 0x20 || r == 0x7f:
			return fmt.Sprintf("a control character (U+%04X)", r), true
		}
	}
	return "", false
}
