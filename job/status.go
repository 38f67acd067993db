package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// StatusFromState is the status when no daemon runs: the state file, opened read-only.
func StatusFromState(cfg *config.Config, cycles int) (*status.Snapshot, error) {
	st, err := OpenState(cfg, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	// bbolt cannot notice a damaged value until it is read, so the health check reads them all.
	if err := st.Verify(); err != nil {
		return nil, err
	}
	return readStatus(cfg, st, cycles, time.Now())
}

// StoredStatus is the job's stored status for the daemon's live status; nil before the first cycle.
func StoredStatus(cfg *config.Config, now time.Time) (*status.Snapshot, error) {
	if !StateExists(cfg) {
		return nil, nil // no cycle has run yet: nothing to show, and nothing wrong
	}
	st, err := OpenState(cfg, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return readStatus(cfg, st, status.StoredCycles, now)
}

// readStatus is status.Read with the target's authentication, which only the wiring knows.
func readStatus(cfg *config.Config, st store.State, n int, now time.Time) (*status.Snapshot, error) {
	s, err := status.Read(cfg, st, n, now)
	if err != nil {
		return nil, abortError(err)
	}
	s.Auth = authStatus(cfg, st)
	return s, nil
}

// Lease reads the job's lease row; nil for a state file or a job never run under a lease.
func Lease(ctx context.Context, cfg *config.Config) *status.Lease {
	if cfg.StateDatabase == nil {
		return nil
	}
	db, err := Database(cfg)
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

// authStatus is the status page's line about the target's authentication (without the label).
func authStatus(cfg *config.Config, st store.State) string {
	var w strings.Builder
	a := cfg.Target.Auth
	switch a.Type {
	case config.AuthAuthorizationCode:
		key := GrantKey(cfg)
		g, err := st.Grant(key)
		if errors.Is(err, store.ErrGrantKey) && key == nil && g != nil {
			// status loads no secrets, so it cannot decrypt: what the record says is all it shows.
			err = nil
		}
		switch {
		case errors.Is(err, store.ErrGrantKey):
			fmt.Fprintf(&w, "%s: the stored refresh token cannot be read: %v", a.Type, err)
		case err != nil:
			fmt.Fprintf(&w, "%s: %v", a.Type, err)
		case g == nil:
			fmt.Fprintf(&w, "%s: not authorized; run `scimsync authorize --config %s`", a.Type, ShellQuote(cfg.File))
		case g.Client != GrantClient(cfg):
			fmt.Fprintf(&w, "%s: the stored authorization is for another token URL or client id; run `scimsync authorize --config %s`", a.Type, ShellQuote(cfg.File))
		default:
			enc := "not encrypted"
			if g.Encrypted {
				enc = "encrypted"
			}
			fmt.Fprintf(&w, "%s: authorized %s, refresh token last rotated %s (%s)", a.Type, status.Stamp(g.Authorized), status.Stamp(g.Rotated), enc)
			if q, err := st.Quarantine(); err == nil && q != nil && q.Reason == quarantine.ReasonAuthorization {
				fmt.Fprintf(&w, "; the provider refused it: run `scimsync authorize --config %s`", ShellQuote(cfg.File))
			}
		}
	case config.AuthClientCredentials:
		fmt.Fprintf(&w, "%s: client %s at %s", a.Type, a.ClientID, a.TokenURL)
	default:
		fmt.Fprintf(&w, "%s", config.AuthBearer)
	}
	return w.String()
}
