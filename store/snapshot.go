package store

import (
	"fmt"

	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

// Snapshot reads the whole file in one read transaction, so the copy is consistent even beside writers.
func (s *Store) Snapshot() (*Snapshot, error) {
	var snap *Snapshot
	if err := s.settle(""); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", s.path, err)
	}
	err := s.view(func(tx *bolt.Tx) (err error) {
		snap, err = layout.Dump(s.path, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", s.path, err)
	}
	return snap, nil
}

// Restore replaces everything in the file by snap in one transaction: after a failure the file is as it
// was.
func (s *Store) Restore(snap *Snapshot) error {
	if err := CheckSnapshot(snap); err != nil {
		return err
	}
	if err := s.settle(""); err != nil {
		return fmt.Errorf("restore %s: %w", s.path, err)
	}
	if err := s.update(func(tx *bolt.Tx) error { return layout.Load(tx, snap) }); err != nil {
		return fmt.Errorf("restore %s: %w", s.path, err)
	}
	return nil
}
