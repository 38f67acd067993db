package config

import (
	"encoding/json"
	"fmt"

	"github.com/scimsync/scimsync/config/internal/secrets"
)

// redacted is what every rendering of a Secret prints.
const redacted = secrets.Redacted

// Secret holds a credential read at load time; every way Go has of turning it into text prints
// "[redacted]". Code that needs the value calls Reveal, which is easy to grep for.
type Secret = secrets.Secret

// NewSecret wraps a value; tests and callers that build a Config by hand use it.
func NewSecret(value string) Secret { return secrets.New(value) }

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
