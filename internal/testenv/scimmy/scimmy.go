//go:build linux || darwin

package scimmy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/internal/testenv/npm"
)

// StartTimeout bounds how long Start waits for the server's
// LISTENING line after node has been started; it is a variable so a very
// slow machine can raise it from a test's init.
var StartTimeout = 30 * time.Second

// Options configures Start. The zero value is usable: a random
// token, the scimmy directory next to this source file, and node's output
// kept only in memory (see SCIMMY.Output).
type Options struct {
	// Token is the bearer token the server requires on /scim requests.
	// Empty means a fresh random token, so tests never depend on a constant.
	Token string
	// Dir holds package.json, package-lock.json and server.js. Empty means
	// internal/testenv/scimmy/npm located via this source file, so tests of
	// any package can start the target without knowing the repo layout.
	Dir string
	// Stderr, if set, also receives npm's and node's output (stdout lines
	// other than the LISTENING line, and stderr) for live debugging.
	Stderr io.Writer
}

// SCIMMY is a running SCIMMY SCIM 2.0 server (Node.js) on 127.0.0.1, used as
// a real third-party end-to-end target for scimsync. Close it when done;
// the process is also killed when the context passed to Start ends,
// and it exits by itself if the test binary dies (its stdin closes).
type Server struct {
	url      string
	adminURL string
	token    string
	proc     *npm.Process
	client   *http.Client
}

// Stats is the server's request accounting for /scim (reset by Reset),
// so tests can assert how many requests and writes scimsync really sent.
type Stats struct {
	// Total counts every request under /scim, including rejected ones.
	Total int `json:"total"`
	// ByMethod counts requests per HTTP method ("GET", "POST", "PATCH", ...).
	ByMethod map[string]int `json:"byMethod"`
	// ByStatus counts responses per status code ("200", "409", ...).
	ByStatus map[string]int `json:"byStatus"`
	// ByEndpoint counts per method and route, e.g. "PATCH /Users/{id}",
	// "GET /Groups", "POST /Bulk".
	ByEndpoint map[string]int `json:"byEndpoint"`
}

// URL returns the SCIM base URL (http://127.0.0.1:PORT/scim), the value a
// scimsync app configuration would use as its tenant URL.
func (s *Server) URL() string { return s.url }

// Token returns the bearer token the server accepts.
func (s *Server) Token() string { return s.token }

// Output returns the last few KiB of npm's and node's output, for failure
// messages when a test sees an unexpected 500 or a crash.
func (s *Server) Output() string { return s.proc.Output() }

// Dump returns every stored user and group exactly as the server stores
// them (no meta.location, which SCIMMY only adds to responses), so tests
// can check the target's state without going through SCIM reads.
func (s *Server) Dump(ctx context.Context) (users, groups []map[string]any, err error) {
	var body struct {
		Users  []map[string]any `json:"users"`
		Groups []map[string]any `json:"groups"`
	}
	if err := s.admin(ctx, http.MethodGet, "/dump", &body); err != nil {
		return nil, nil, err
	}
	return body.Users, body.Groups, nil
}

// Reset deletes all users and groups and zeroes the request stats, so one
// server can be shared by several tests without restarting node.
func (s *Server) Reset(ctx context.Context) error {
	return s.admin(ctx, http.MethodPost, "/reset", nil)
}

// Stats returns the request counts since start or the last Reset.
func (s *Server) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.admin(ctx, http.MethodGet, "/stats", &st)
	return st, err
}

func (s *Server) admin(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.adminURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("scimmy: SCIMMY admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("scimmy: SCIMMY admin %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("scimmy: SCIMMY admin %s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("scimmy: SCIMMY admin %s %s: decoding: %w", method, path, err)
	}
	return nil
}

// Close stops the server: SIGTERM to its process group, SIGKILL after a
// grace period, and waits for it, so no node process outlives the test.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.proc.Close()
	return nil
}

// Start installs the npm dependencies if needed (npm ci, serialised
// across test binaries with a file lock), starts `node server.js` on a free
// port of 127.0.0.1 and waits until it listens. The process is killed when
// ctx ends or Close is called.
func Start(ctx context.Context, opts Options) (*Server, error) {
	dir := opts.Dir
	if dir == "" {
		d, err := defaultSCIMMYDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	token := opts.Token
	if token == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		token = hex.EncodeToString(b)
	}
	proc, u, err := npm.Start(ctx, npm.Program{
		Name: "scimmy",
		Dir:  dir,
		Env: []string{
			"PORT=0",
			"SCIM_TOKEN=" + token,
			"SCIMMY_EXIT_ON_STDIN_EOF=1",
			"NODE_ENV=production",
		},
		StartTimeout: StartTimeout,
		Output:       opts.Stderr,
	})
	if err != nil {
		return nil, err
	}
	return &Server{
		url:      u,
		adminURL: strings.TrimSuffix(u, "/scim") + "/_admin",
		token:    token,
		proc:     proc,
		client:   &http.Client{Timeout: 60 * time.Second},
	}, nil
}

// ForTest starts a SCIMMY server for t and stops it in t's Cleanup.
// A missing Node.js fails the test instead of skipping it: the end-to-end
// suite must really run against SCIMMY, and a silent skip would hide that.
func ForTest(t testing.TB) *Server {
	t.Helper()
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatalf("SCIMMY test target unavailable (needs node >= 18 and npm on PATH; `make scimmy-deps` installs its npm packages): %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping SCIMMY: %v", err)
		}
	})
	return s
}

// defaultSCIMMYDir finds internal/testenv/scimmy/npm next to this file, so
// the launcher works from any test's working directory.
func defaultSCIMMYDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("scimmy: cannot locate scimmy directory (runtime.Caller failed); set Options.Dir")
	}
	dir := filepath.Join(filepath.Dir(file), "npm")
	if _, err := os.Stat(filepath.Join(dir, "server.js")); err != nil {
		return "", fmt.Errorf("scimmy: scimmy directory not usable (set Options.Dir): %w", err)
	}
	return dir, nil
}
