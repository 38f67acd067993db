//go:build linux || darwin

package scimmy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long Start waits for the server's
// LISTENING line after node has been started; it is a variable so a very
// slow machine can raise it from a test's init.
var StartTimeout = 30 * time.Second

// scimmyInstallTimeout bounds `npm ci`; the registry may be slow, but a
// hung install must not hang the whole test binary until its own timeout.
const scimmyInstallTimeout = 5 * time.Minute

// scimmyStampName is written into node_modules after a successful `npm ci`
// and holds the SHA-256 of package-lock.json, so a changed lock file (or an
// interrupted install) is detected regardless of file mtimes. install.mk
// writes the same stamp.
const scimmyStampName = ".scimsync-lock.sha256"

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
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	output   *scimmyTailBuffer
	client   *http.Client
	done     chan struct{}
	waitErr  error
	stopCtx  chan struct{}
	closeMu  sync.Once
	closeErr error
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
func (s *Server) Output() string { return s.output.String() }

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
	s.closeMu.Do(func() {
		close(s.stopCtx)
		s.closeErr = s.stop()
	})
	return s.closeErr
}

func (s *Server) stop() error {
	_ = s.stdin.Close()
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
	// Anything else left in the group (there should be nothing) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
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
	nodePath, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("scimmy: SCIMMY needs Node.js >= 18 with npm on PATH (node not found: %v); on Debian: apt-get install -y nodejs npm", err)
	}
	out := &scimmyTailBuffer{max: 16 << 10}
	var sink io.Writer = out
	if opts.Stderr != nil {
		sink = &scimmyLockedWriter{w: io.MultiWriter(out, opts.Stderr)}
	}

	unlock, err := ensureSCIMMYDeps(ctx, dir, sink)
	if err != nil {
		return nil, err
	}
	defer unlock()

	listening := make(chan string, 1)
	cmd := exec.Command(nodePath, "server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PORT=0",
		"SCIM_TOKEN="+token,
		"SCIMMY_EXIT_ON_STDIN_EOF=1",
		"NODE_ENV=production",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = &scimmyLineWatcher{next: sink, found: listening}
	cmd.Stderr = sink
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("scimmy: SCIMMY stdin pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("scimmy: starting node server.js in %s: %w", dir, err)
	}
	s := &Server{
		token:   token,
		cmd:     cmd,
		stdin:   stdin,
		output:  out,
		client:  &http.Client{Timeout: 60 * time.Second},
		done:    make(chan struct{}),
		stopCtx: make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case u := <-listening:
		s.url = u
		s.adminURL = strings.TrimSuffix(u, "/scim") + "/_admin"
	case <-s.done:
		return nil, fmt.Errorf("scimmy: SCIMMY (node server.js in %s) exited before listening: %v\n%s", dir, s.waitErr, out.String())
	case <-timer.C:
		_ = s.Close()
		return nil, fmt.Errorf("scimmy: SCIMMY (node server.js in %s) did not print LISTENING within %v\n%s", dir, StartTimeout, out.String())
	case <-ctx.Done():
		_ = s.Close()
		return nil, fmt.Errorf("scimmy: starting SCIMMY: %w", ctx.Err())
	}

	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.stopCtx:
		case <-s.done:
		}
	}()
	return s, nil
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

// ensureSCIMMYDeps runs `npm ci` in dir when node_modules is missing or was
// installed from a different package-lock.json. It holds an exclusive file
// lock while checking and installing, then keeps a shared lock (released by
// the returned func once node has loaded its modules) so another test binary
// cannot reinstall node_modules underneath a starting server.
func ensureSCIMMYDeps(ctx context.Context, dir string, out io.Writer) (unlock func(), err error) {
	lockFile, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return nil, fmt.Errorf("scimmy: SCIMMY package-lock.json: %w", err)
	}
	sum := sha256.Sum256(lockFile)
	want := hex.EncodeToString(sum[:])

	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	dirSum := sha256.Sum256([]byte(abs))
	lockPath := filepath.Join(os.TempDir(), "scimsync-scimmy-"+hex.EncodeToString(dirSum[:8])+".lock")
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("scimmy: SCIMMY install lock: %w", err)
	}
	release := func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
	if err := scimmyFlock(ctx, f, syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}

	stamp := filepath.Join(dir, "node_modules", scimmyStampName)
	if got, err := os.ReadFile(stamp); err != nil || strings.TrimSpace(string(got)) != want {
		if err := scimmyNpmCI(ctx, dir, out); err != nil {
			release()
			return nil, err
		}
		if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
			release()
			return nil, fmt.Errorf("scimmy: writing %s: %w", stamp, err)
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		release()
		return nil, fmt.Errorf("scimmy: SCIMMY install lock: %w", err)
	}
	return release, nil
}

// scimmyFlock takes a flock, polling so that a cancelled ctx is honoured while
// another test binary is busy installing.
func scimmyFlock(ctx context.Context, f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("scimmy: SCIMMY install lock: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("scimmy: waiting for SCIMMY install lock: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func scimmyNpmCI(ctx context.Context, dir string, out io.Writer) error {
	npmPath, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("scimmy: SCIMMY needs npm on PATH to install its packages (npm not found: %v); on Debian: apt-get install -y npm", err)
	}
	ctx, cancel := context.WithTimeout(ctx, scimmyInstallTimeout)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, npmPath, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout = io.MultiWriter(&buf, out)
	cmd.Stderr = io.MultiWriter(&buf, out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scimmy: npm ci in %s failed: %w\n%s", dir, err, buf.String())
	}
	return nil
}

// scimmyLineWatcher passes node's stdout on to next and reports the URL of the
// first "LISTENING <url>" line on found.
type scimmyLineWatcher struct {
	next  io.Writer
	found chan<- string
	buf   []byte
	seen  bool
}

func (w *scimmyLineWatcher) Write(p []byte) (int, error) {
	if !w.seen {
		w.buf = append(w.buf, p...)
		for {
			i := bytes.IndexByte(w.buf, '\n')
			if i < 0 {
				break
			}
			line := strings.TrimSpace(string(w.buf[:i]))
			w.buf = w.buf[i+1:]
			if u, ok := strings.CutPrefix(line, "LISTENING "); ok {
				w.seen = true
				w.found <- strings.TrimSpace(u)
				_, _ = w.next.Write(w.buf)
				w.buf = nil
				break
			}
			_, _ = w.next.Write([]byte(line + "\n"))
		}
		return len(p), nil
	}
	_, _ = w.next.Write(p)
	return len(p), nil
}

// scimmyLockedWriter serialises writes from node's stdout and stderr copiers, as
// a caller's Stderr writer need not be safe for concurrent use.
type scimmyLockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *scimmyLockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// scimmyTailBuffer keeps the last max bytes written to it; safe for concurrent use
// because node's stdout and stderr are copied by separate goroutines.
type scimmyTailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *scimmyTailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *scimmyTailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
