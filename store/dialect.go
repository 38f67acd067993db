package store

import (
	"fmt"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

// TargetDialect is what scimsync learned about how the target departs from Entra's request shapes
// (see the compatibility modes in docs/scim.md); Restart keeps it.
type TargetDialect = codec.TargetDialect

// TargetDialect returns the learned dialect, or nil when nothing was learned.
func (s *Store) TargetDialect() (*TargetDialect, error) {
	var d TargetDialect
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		ok, err = layout.GetJSON(s.path, tx, layout.Meta, layout.KeyDialect, &d)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get target dialect: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return &d, nil
}

// SetTargetDialect stores the learned dialect, replacing any previous one.
func (s *Store) SetTargetDialect(d TargetDialect) error {
	if err := s.update(func(tx *bolt.Tx) error { return layout.PutJSON(tx, layout.Meta, layout.KeyDialect, d) }); err != nil {
		return fmt.Errorf("set target dialect: %w", err)
	}
	return nil
}

// ClearTargetDialect forgets the learned dialect; absent is not an error.
func (s *Store) ClearTargetDialect() error {
	err := s.update(func(tx *bolt.Tx) error {
		b, err := layout.BucketOrErr(tx, layout.Meta)
		if err != nil {
			return err
		}
		return b.Delete(layout.KeyDialect)
	})
	if err != nil {
		return fmt.Errorf("clear target dialect: %w", err)
	}
	return nil
}
