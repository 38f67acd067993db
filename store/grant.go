package store

import (
	"errors"
	"fmt"

	"github.com/scimsync/scimsync/store/internal/grant"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

// ErrGrantKey matches a stored refresh token that cannot be read with the configured key: it was
// encrypted and no key (or another key) is configured now. The token is not lost; configuring the key
// it was written with recovers it, and `scimsync authorize` replaces it.
var ErrGrantKey = grant.ErrKey

// Grant is the OAuth 2.0 authorization of the job's target (authorization code grant): the refresh
// token, and for whom it was issued. Every rendering of it hides the token.
type Grant = grant.Grant

// Grant returns the stored grant, nil when there is none. key is the AES-256 key (nil when none is
// configured); a token encrypted with another key, or with a key when none is given, is ErrGrantKey.
func (s *Store) Grant(key []byte) (*Grant, error) {
	var raw []byte
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(layout.Meta); b != nil {
			if v := b.Get(layout.KeyGrant); v != nil {
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
func DecodeGrant(raw, key []byte) (*Grant, error) { return grant.Decode(raw, key) }

// EncodeGrant returns the stored form of g, the token encrypted with key when key is not nil.
func EncodeGrant(g Grant, key []byte) ([]byte, error) { return grant.Encode(g, key) }

// SetGrant stores g, encrypted with key when key is not nil. The write is one fsynced bbolt
// transaction: when SetGrant returns nil, the token survives a crash or power loss.
func (s *Store) SetGrant(g Grant, key []byte) error {
	raw, err := EncodeGrant(g, key)
	if err != nil {
		return fmt.Errorf("set oauth grant: %w", err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		b, err := layout.BucketOrErr(tx, layout.Meta)
		if err != nil {
			return err
		}
		return b.Put(layout.KeyGrant, raw)
	})
	if err != nil {
		return fmt.Errorf("set oauth grant: %w", err)
	}
	return nil
}

// ClearGrant forgets the grant.
func (s *Store) ClearGrant() error {
	err := s.update(func(tx *bolt.Tx) error {
		b, err := layout.BucketOrErr(tx, layout.Meta)
		if err != nil {
			return err
		}
		return b.Delete(layout.KeyGrant)
	})
	if err != nil {
		return fmt.Errorf("clear oauth grant: %w", err)
	}
	return nil
}
