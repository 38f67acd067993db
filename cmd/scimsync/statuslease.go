package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/scimsync/scimsync/config"
)

// leaseStatus is who may run a job whose state is in PostgreSQL: the replica (or the single `run`, or
// an admin command) holding its lease, and until when unless renewed.
type leaseStatus struct {
	Holder  string    `json:"holder"`
	Until   time.Time `json:"until"`
	Token   int64     `json:"token"`
	Expired bool      `json:"expired"`
	// Error is why the lease could not be read; the rest of the status stands.
	Error string `json:"error,omitempty"`
}

// jobLease reads the job's lease row; nil for a state file or a job never run under a lease.
func jobLease(ctx context.Context, cfg *config.Config) *leaseStatus {
	if cfg.StateDatabase == nil {
		return nil
	}
	db, err := database(cfg)
	if err != nil {
		return &leaseStatus{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	leases, err := db.Leases(ctx)
	if err != nil {
		return &leaseStatus{Error: err.Error()}
	}
	for _, l := range leases {
		if l.Job == cfg.Name {
			// The database decided expiry; this clock only labels it for the reader.
			return &leaseStatus{Holder: l.Holder, Until: l.Expires, Token: l.Token, Expired: !l.Expires.After(time.Now())}
		}
	}
	return nil
}

func writeLeaseText(w io.Writer, l *leaseStatus) {
	switch {
	case l == nil:
	case l.Error != "":
		fmt.Fprintf(w, "held by    unknown: %s\n", l.Error)
	case l.Expired:
		fmt.Fprintf(w, "held by    nobody (last %s, until %s): the next replica to claim it runs it\n", l.Holder, stamp(l.Until))
	default:
		fmt.Fprintf(w, "held by    %s until %s unless renewed (token %d)\n", l.Holder, stamp(l.Until), l.Token)
	}
}
