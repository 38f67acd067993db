package job

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
)

// TestConnection is the portal's "Test Connection": it checks the target's credentials and SCIM
// compliance with a query for a user that cannot exist, then that Graph answers; ok hears of each
// endpoint that answered ("target URL", "graph URL"). ua is the User-Agent of the requests.
func TestConnection(ctx context.Context, cfg *config.Config, log *zap.Logger, ua string, ok func(what string)) error {
	tgt, grant, err := NewTarget(cfg, log, ua)
	if err != nil {
		return configError(err)
	}
	// An authorization code target refreshes through the state file, rotating the refresh token.
	release, err := OpenGrantState(cfg, grant)
	if err != nil {
		return err
	}
	defer release()
	match := "userName"
	for _, m := range cfg.Users.Table.Mappings {
		if m.Matching == 1 {
			match = m.Target
		}
	}
	if err := tgt.TestConnection(ctx, match); err != nil {
		return abortError(fmt.Errorf("target %s: %w", cfg.Target.URL, err))
	}
	ok("target " + cfg.Target.URL)
	r, err := NewReader(cfg, log, ua)
	if err != nil {
		return configError(err)
	}
	// A token, then a read: the app's assignments in the assigned scope, else a user that
	// cannot exist (a 404 the reader treats as "not found", which still proves access).
	if cfg.Scope == config.ScopeAssigned {
		if _, err := r.AppRoleAssignedTo(ctx, cfg.Source.ServicePrincipalID); err != nil {
			return abortError(fmt.Errorf("graph %s: %w", cfg.Source.GraphEndpoint, err))
		}
	} else if _, err := r.UsersByID(ctx, []string{"userPrincipalName"}, []string{uuid.NewString()}); err != nil {
		return abortError(fmt.Errorf("graph %s: %w", cfg.Source.GraphEndpoint, err))
	}
	ok("graph " + cfg.Source.GraphEndpoint)
	return nil
}
