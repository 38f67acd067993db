package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// redacted is what every rendering of a Secret prints.
const redacted = "[redacted]"

// Secret holds a credential read at load time (Graph client secret, certificate password, SCIM bearer
// token, SMTP password). Every way Go has of turning a value into text (fmt verbs including %#v and %d,
// encoding/json, encoding.TextMarshaler, YAML, log/slog, zap's Stringer and reflection encoders) prints
// "[redacted]", so that logging a Config, or a struct that embeds one, can never leak a secret. The
// value sits behind a pointer so that even reflection-based dumpers that bypass methods print an address.
// Code that needs the value calls Reveal, which is easy to grep for.
type Secret struct {
	v *string
}

// NewSecret wraps a value; tests and callers that build a Config by hand use it.
func NewSecret(value string) Secret {
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
func (Secret) String() string { return redacted }

// GoString keeps %#v from printing the value.
func (Secret) GoString() string { return redacted }

// Format handles every fmt verb, including ones (%d, %x) that would otherwise print struct fields.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON keeps encoding/json and zap.Reflect from printing the value.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText keeps text encoders (and YAML, which uses it) from printing the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue keeps log/slog from printing the value.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// credentialView is Credential with the certificate (which holds the private key) replaced by a
// redacted marker, for every text rendering of a Credential.
type credentialView struct {
	Type                string
	Secret              Secret
	CertificateFile     string
	Certificate         Secret
	CertificatePassword Secret
	TokenFile           string
}

func (c Credential) view() credentialView {
	v := credentialView{Type: c.Type, Secret: c.Secret, CertificateFile: c.CertificateFile,
		CertificatePassword: c.CertificatePassword, TokenFile: c.TokenFile}
	if len(c.Certificate) > 0 {
		v.Certificate = NewSecret("")
	}
	return v
}

// String keeps the certificate's private key out of %v and Stringer-based loggers; Certificate stays a
// plain []byte because the Graph client needs the bytes.
func (c Credential) String() string { return fmt.Sprintf("%+v", c.view()) }

// GoString keeps the private key out of %#v.
func (c Credential) GoString() string { return fmt.Sprintf("%#v", c.view()) }

// Format keeps the private key out of every fmt verb, including %x on the byte slice.
func (c Credential) Format(f fmt.State, verb rune) {
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), c.view())
}

// MarshalJSON keeps the private key out of encoding/json and zap.Reflect.
func (c Credential) MarshalJSON() ([]byte, error) { return json.Marshal(c.view()) }
