// Package grant is the stored form of the job's OAuth 2.0 grant: the refresh token sealed with
// AES-256-GCM when a key is configured, bound to its client, and hidden from every rendering.
package grant

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrKey matches a stored refresh token that cannot be read with the configured key: it was
// encrypted and no key (or another key) is configured now. The token is not lost; configuring the key
// it was written with recovers it, and `scimsync authorize` replaces it.
var ErrKey = errors.New("the stored refresh token cannot be decrypted with the configured key")

// Grant is the OAuth 2.0 authorization of the job's target (authorization code grant): the refresh
// token, and for whom it was issued. Every rendering of it hides the token.
type Grant struct {
	// RefreshToken is the plaintext token in memory; on disk it is AES-256-GCM encrypted when a key is
	// configured.
	RefreshToken string
	// Client identifies the client the token was issued to (token URL and client id), so a token from
	// another provider or registration is never sent to this one.
	Client string
	// Authorized is when `scimsync authorize` stored the grant; Rotated is the last write, the
	// authorization included.
	Authorized, Rotated time.Time
	// Encrypted reports how the token is stored (read-only; store's SetGrant decides from the key).
	Encrypted bool
}

// String hides the refresh token from %v, %s and Stringer-based loggers.
func (g Grant) String() string {
	return fmt.Sprintf("{Client:%s Authorized:%s Rotated:%s Encrypted:%t RefreshToken:[redacted]}",
		g.Client, g.Authorized.Format(time.RFC3339), g.Rotated.Format(time.RFC3339), g.Encrypted)
}

// GoString hides the refresh token from %#v.
func (g Grant) GoString() string { return g.String() }

// storedGrant is the on-disk form. Token is the ciphertext (with Nonce) when Alg is "A256GCM", the
// plaintext when Alg is "none".
type storedGrant struct {
	Alg        string    `json:"alg"`
	Nonce      []byte    `json:"nonce,omitempty"`
	Token      []byte    `json:"token"`
	Client     string    `json:"client"`
	Authorized time.Time `json:"authorized"`
	Rotated    time.Time `json:"rotated"`
}

const (
	algNone   = "none"
	algA256GC = "A256GCM"
)

// grantAAD binds a ciphertext to its client, so a stored record cannot be moved to another client's
// entry unnoticed.
func grantAAD(client string) []byte { return []byte("scimsync oauth refresh token\x00" + client) }

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the encryption key is %d bytes, not 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Decode reads a grant in its stored form (Encode), for every backend. A token it cannot
// decrypt with key is ErrKey, returned with the rest of the grant; any other error means the stored
// form is damaged.
func Decode(raw, key []byte) (*Grant, error) {
	var sg storedGrant
	if err := json.Unmarshal(raw, &sg); err != nil {
		return nil, err
	}
	g := &Grant{Client: sg.Client, Authorized: sg.Authorized, Rotated: sg.Rotated}
	switch sg.Alg {
	case algNone:
		g.RefreshToken = string(sg.Token)
	case algA256GC:
		g.Encrypted = true
		if key == nil {
			return g, fmt.Errorf("%w: it is encrypted and no encryption key is configured", ErrKey)
		}
		a, err := gcm(key)
		if err != nil {
			return g, fmt.Errorf("%w: %w", ErrKey, err)
		}
		plain, err := a.Open(nil, sg.Nonce, sg.Token, grantAAD(sg.Client))
		if err != nil {
			return g, fmt.Errorf("%w: it was encrypted with another key", ErrKey)
		}
		g.RefreshToken = string(plain)
	default:
		return nil, fmt.Errorf("unknown algorithm %q", sg.Alg)
	}
	return g, nil
}

// Encode returns the stored form of g, the token encrypted with key when key is not nil.
func Encode(g Grant, key []byte) ([]byte, error) {
	sg := storedGrant{Alg: algNone, Token: []byte(g.RefreshToken), Client: g.Client,
		Authorized: g.Authorized.UTC(), Rotated: g.Rotated.UTC()}
	if key != nil {
		a, err := gcm(key)
		if err != nil {
			return nil, err
		}
		sg.Alg = algA256GC
		sg.Nonce = make([]byte, a.NonceSize())
		if _, err := rand.Read(sg.Nonce); err != nil {
			return nil, err
		}
		sg.Token = a.Seal(nil, sg.Nonce, []byte(g.RefreshToken), grantAAD(g.Client))
	}
	return json.Marshal(sg)
}
