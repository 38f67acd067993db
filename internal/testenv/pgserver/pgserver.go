// Package pgserver starts a real, throwaway PostgreSQL server for tests: initdb into a temporary folder,
// pg_ctl start on a free 127.0.0.1 port (unix sockets in the folder too), stopped and removed by Stop.
// It needs Debian's postgresql package (`make postgres` installs it). Run as root, the server runs as
// the postgres user, since PostgreSQL refuses to run as root.
package pgserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// User is the server's superuser, who needs a password over TCP (scram-sha-256), so that tests exercise
// the password path.
const User = "scimsync"

// ErrNotInstalled matches a machine without the PostgreSQL server binaries.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql package (make postgres)")

// Server is a running test server.
type Server struct {
	Port     int
	Password string
	dir      string
	bin      string
	asUser   string // run the binaries as this user ("" = as ourselves)
	dbs      atomic.Int64
}

// findBin returns the folder of initdb and pg_ctl: Debian keeps them in /usr/lib/postgresql/<ver>/bin,
// outside PATH; the newest version wins.
func findBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Start initialises and starts a server. Call Stop when done, also after a failed test.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	reapOrphans(bin)
	s := &Server{bin: bin}
	var b [12]byte
	_, _ = rand.Read(b[:])
	s.Password = hex.EncodeToString(b[:])
	s.dir, err = os.MkdirTemp("", "scimsync-pgserver-")
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		s.asUser = "postgres"
		u, err := user.Lookup(s.asUser)
		if err != nil {
			s.cleanup()
			return nil, fmt.Errorf("running as root needs the postgres user (Debian's postgresql package creates it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			s.cleanup()
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(s.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		s.cleanup()
		return nil, err
	}
	pwfile := filepath.Join(s.dir, "pw")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		s.cleanup()
		return nil, err
	}
	if s.asUser != "" {
		u, _ := user.Lookup(s.asUser)
		uid, _ := strconv.Atoi(u.Uid)
		_ = os.Chown(pwfile, uid, -1)
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", User, "--pwfile="+pwfile, "--auth-host=scram-sha-256",
		"--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		s.Port, err = freePort()
		if err != nil {
			s.cleanup()
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
			s.Port, s.dir)
		out, err := s.run("pg_ctl", "-D", s.data(), "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "120", "start")
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
			s.cleanup()
			return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
		}
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the address of database db, without the password.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.Port, db)
}

// NewDatabase creates an empty database with a fresh name and returns its name.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	cfg, err := pgx.ParseConfig(s.URL("postgres"))
	if err != nil {
		return "", err
	}
	cfg.Password = s.Password
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return name, nil
}

// Stop stops the server at once and removes its folder.
func (s *Server) Stop() error {
	out, err := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
	s.cleanup()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (s *Server) cleanup() { _ = os.RemoveAll(s.dir) }

// ownerFile holds the pid of the test process that started the server in its folder.
const ownerFile = "owner.pid"

// reapOrphans stops and removes the servers of test processes that died without Stop (a panicking test
// ends the process before deferred calls run), so they do not pile up on a shared machine. A server
// whose owner is alive belongs to a concurrent test run and is left alone.
func reapOrphans(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "scimsync-pgserver-*"))
	for _, dir := range dirs {
		raw, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being set up right now, or not ours
		}
		pid, err := strconv.Atoi(string(raw))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		s := &Server{dir: dir, bin: bin}
		if os.Geteuid() == 0 {
			s.asUser = "postgres"
		}
		_, _ = s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
		s.cleanup()
	}
}
