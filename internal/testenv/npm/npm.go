//go:build linux || darwin

// Package npm runs the Node.js test programs the tests use (SCIMMY, oidc-provider): it installs their
// npm packages from the committed package-lock.json, once per lock file even with test binaries running
// in parallel, and runs `node server.js` on 127.0.0.1 in its own process group until the test ends.
package npm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stampName is the file in node_modules holding the SHA-256 of the package-lock.json it was installed
// from, so a changed lock file (or an interrupted install) is detected regardless of file mtimes. The
// install.mk fragments write the same stamp, so whichever installs first, the other reuses it.
const stampName = ".scimsync-lock.sha256"

// installTimeout bounds `npm ci`: the registry may be slow, but a hung install must not hang the whole
// test binary until its own timeout.
const installTimeout = 5 * time.Minute

// Program describes one Node.js test program.
type Program struct {
	// Name names the program in errors and in the install lock's file name.
	Name string
	// Dir holds package.json, package-lock.json and server.js.
	Dir string
	// Env is added to the environment of node.
	Env []string
	// StartTimeout bounds the wait for the LISTENING line after node has started.
	StartTimeout time.Duration
	// Output, if set, also receives npm's and node's output, for live debugging.
	Output io.Writer
}

// Process is a running `node server.js`.
type Process struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *tailBuffer
	done    chan struct{}
	waitErr error
	stopCtx chan struct{}
	once    sync.Once
}

// Start installs the packages if needed and starts `node server.js` in p.Dir, returning the URL it
// printed on its "LISTENING <url>" line. node exits when ctx ends, when Close is called, or by itself
// when the test binary dies (its stdin closes).
func Start(ctx context.Context, p Program) (*Process, string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, "", fmt.Errorf("%s needs Node.js and npm on PATH (node not found: %v); on Debian: apt-get install -y nodejs npm", p.Name, err)
	}
	out := &tailBuffer{max: 16 << 10}
	var sink io.Writer = out
	if p.Output != nil {
		sink = &lockedWriter{w: io.MultiWriter(out, p.Output)}
	}
	unlock, err := install(ctx, p.Name, p.Dir, sink)
	if err != nil {
		return nil, "", err
	}
	// The shared install lock is held until node has loaded its modules, so that no other test binary
	// reinstalls node_modules underneath it.
	defer unlock()

	listening := make(chan string, 1)
	cmd := exec.Command(node, "server.js")
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = &lineWatcher{next: sink, found: listening}
	cmd.Stderr = sink
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", fmt.Errorf("%s: stdin pipe: %w", p.Name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("%s: starting node server.js in %s: %w", p.Name, p.Dir, err)
	}
	proc := &Process{cmd: cmd, stdin: stdin, out: out, done: make(chan struct{}), stopCtx: make(chan struct{})}
	go func() {
		proc.waitErr = cmd.Wait()
		close(proc.done)
	}()

	timer := time.NewTimer(p.StartTimeout)
	defer timer.Stop()
	var url string
	select {
	case url = <-listening:
	case <-proc.done:
		return nil, "", fmt.Errorf("%s (node server.js in %s) exited before listening: %v\n%s", p.Name, p.Dir, proc.waitErr, out.String())
	case <-timer.C:
		proc.Close()
		return nil, "", fmt.Errorf("%s (node server.js in %s) did not print LISTENING within %v\n%s", p.Name, p.Dir, p.StartTimeout, out.String())
	case <-ctx.Done():
		proc.Close()
		return nil, "", fmt.Errorf("%s: starting: %w", p.Name, ctx.Err())
	}
	go func() {
		select {
		case <-ctx.Done():
			proc.Close()
		case <-proc.stopCtx:
		case <-proc.done:
		}
	}()
	return proc, url, nil
}

// PID is node's process id, which is also its process group id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when node has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Output returns the last few KiB of npm's and node's output, for failure messages.
func (p *Process) Output() string { return p.out.String() }

// Close stops node: SIGTERM to its process group, SIGKILL after a grace period, and waits for it, so
// no node process outlives the test. It is safe to call more than once.
func (p *Process) Close() {
	p.once.Do(func() {
		close(p.stopCtx)
		_ = p.stdin.Close()
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		// Anything else left in the group (there should be nothing) goes too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
}

// install runs `npm ci` in dir when node_modules is missing or was installed from a different
// package-lock.json. It holds an exclusive file lock while checking and installing, then keeps a
// shared lock, released by the returned func.
func install(ctx context.Context, name, dir string, out io.Writer) (unlock func(), err error) {
	lockFile, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return nil, fmt.Errorf("%s: package-lock.json: %w", name, err)
	}
	sum := sha256.Sum256(lockFile)
	want := hex.EncodeToString(sum[:])
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	dirSum := sha256.Sum256([]byte(abs))
	lockPath := filepath.Join(os.TempDir(), "scimsync-"+name+"-"+hex.EncodeToString(dirSum[:8])+".lock")
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("%s: install lock: %w", name, err)
	}
	release := func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
	if err := flock(ctx, name, f, syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	stamp := filepath.Join(dir, "node_modules", stampName)
	if got, err := os.ReadFile(stamp); err != nil || strings.TrimSpace(string(got)) != want {
		if err := npmCI(ctx, name, dir, out); err != nil {
			release()
			return nil, err
		}
		if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
			release()
			return nil, fmt.Errorf("%s: writing %s: %w", name, stamp, err)
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		release()
		return nil, fmt.Errorf("%s: install lock: %w", name, err)
	}
	return release, nil
}

// flock takes a flock, polling so that a cancelled ctx is honoured while another test binary is busy
// installing.
func flock(ctx context.Context, name string, f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("%s: install lock: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for the install lock: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func npmCI(ctx context.Context, name, dir string, out io.Writer) error {
	npmPath, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("%s needs npm on PATH to install its packages (npm not found: %v); on Debian: apt-get install -y npm", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
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
		return fmt.Errorf("%s: npm ci in %s failed: %w\n%s", name, dir, err, buf.String())
	}
	return nil
}

// lineWatcher passes node's stdout on to next and reports the URL of the first "LISTENING <url>"
// line on found.
type lineWatcher struct {
	next  io.Writer
	found chan<- string
	buf   []byte
	seen  bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	if w.seen {
		_, _ = w.next.Write(p)
		return len(p), nil
	}
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

// lockedWriter serialises writes from node's stdout and stderr copiers, as a caller's writer need not
// be safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use because node's stdout
// and stderr are copied by separate goroutines.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
