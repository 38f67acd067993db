package job

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLeaseTTLEnv: SCIMSYNC_LEASE_TTL sets the lease ttl; a value that is no duration, or too short
// to renew in time, is a configuration error naming the variable.
func TestLeaseTTLEnv(t *testing.T) {
	for raw, want := range map[string]time.Duration{"": defaultLeaseTTL, "5s": 5 * time.Second, "1m": time.Minute} {
		t.Setenv(LeaseTTLEnv, raw)
		if got, err := LeaseTTL(); err != nil || got != want {
			t.Errorf("%s=%q: %s, %v; want %s", LeaseTTLEnv, raw, got, err, want)
		}
	}
	for _, raw := range []string{"soon", "100ms", "-5s", "30"} {
		t.Setenv(LeaseTTLEnv, raw)
		if _, err := LeaseTTL(); !isKind(err, KindConfig) || !strings.Contains(err.Error(), LeaseTTLEnv) {
			t.Errorf("%s=%q: %v, want a configuration error naming the variable", LeaseTTLEnv, raw, err)
		}
	}
}

func isKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
