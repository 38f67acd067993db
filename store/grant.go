package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var keyGrant = []byte("oauthgrant")

// ErrGrantKey matches a stored refresh token that cannot be read with the configured key: it was
// encrypted and no key (or another key) is configured now. The token is not lost; configuring the key
// it was written with recovers it, and `scimsync authorize` replaces it.
var ErrGrantKey = errors.New("the stored refresh token cannot be decrypted with the configured key")

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
	// Encrypted reports how the token is stored (read-only; SetGrant decides from the key).
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

// Grant returns the stored grant, nil when there is none. key is the AES-256 key (nil when none is
// configured); a token encrypted with another key, or with a key when none is given, is ErrGrantKey.
func (s *Store) Grant(key []byte) (*Grant, error) {
	var raw []byte
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bktMeta); b != nil {
			if v := b.Get(keyGrant); v != nil {
				raw = append([]byte(nil), v...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get oauth grant: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	g, err := DecodeGrant(raw, key)
	if err != nil && !errors.Is(err, ErrGrantKey) {
		return nil, &CorruptError{Path: s.path, Err: fmt.Errorf("oauth grant: %w", err)}
	}
	return g, err
}

// DecodeGrant reads a grant in its stored form (EncodeGrant), for every backend. A token it cannot
// decrypt with key is ErrGrantKey, returned with the rest of the grant; any other error means the stored
// form is damaged.
func DecodeGrant(raw, key []byte) (*Grant, error) {
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
			return g, fmt.Errorf("%w: it is encrypted and no encryption key is configured", ErrGrantKey)
		}
		a, err := gcm(key)
		if err != nil {
			return g, fmt.Errorf("%w: %w", ErrGrantKey, err)
		}
		plain, err := a.Open(nil, sg.Nonce, sg.Token, grantAAD(sg.Client))
		if err != nil {
			return g, fmt.Errorf("%w: it was encrypted with another key", ErrGrantKey)
		}
		g.RefreshToken = string(plain)
	default:
		return nil, fmt.Errorf("unknown algorithm %q", sg.Alg)
	}
	return g, nil
}

// EncodeGrant returns the stored form of g, the token encrypted with key when key is not nil.
func EncodeGrant(g Grant, key []byte) ([]byte, error) {
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

// SetGrant stores g, encrypted with key when key is not nil. The write is one fsynced bbolt
// transaction: when SetGrant returns nil, the token survives a crash or power loss.
func (s *Store) SetGrant(g Grant, key []byte) error {
	raw, err := EncodeGrant(g, key)
	if err != nil {
		return fmt.Errorf("set oauth grant: %w", err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		b, err := bucketOrErr(tx, bktMeta)
		if err != nil {
			return err
		}
		return b.Put(keyGrant, raw)
	})
	if err != nil {
		return fmt.Errorf("set oauth grant: %w", err)
	}
	return nil
}

// ClearGrant forgets the grant.
func (s *Store) ClearGrant() error {
	err := s.update(func(tx *bolt.Tx) error {
		b, err := bucketOrErr(tx, bktMeta)
		if err != nil {
			return err
		}
		return b.Delete(keyGrant)
	})
	if err != nil {
		return fmt.Errorf("clear oauth grant: %w", err)
	}
	return nil
}
