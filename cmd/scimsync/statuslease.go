package main

import (
	"context"
	"time"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/status"
)

// jobLease reads the job's lease row; nil for a state file or a job never run under a lease.
func jobLease(ctx context.Context, cfg *config.Config) *status.Lease {
	if cfg.StateDatabase == nil {
		return nil
	}
	db, err := database(cfg)
	if err != nil {
		return &status.Lease{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	leases, err := db.Leases(ctx)
	if err != nil {
		return &status.Lease{Error: err.Error()}
	}
	for _, l := range leases {
		if l.Job == cfg.Name {
			// The database decided expiry; this clock only labels it for the reader.
			return &status.Lease{Holder: l.Holder, Until: l.Expires, Token: l.Token, Expired: !l.Expires.After(time.Now())}
		}
	}
	return nil
}
