package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/internal/testenv/pgserver"
	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/store"
)

// The PostgreSQL server of this test process, started by the first test that needs one and stopped by
// TestMain.
var (
	pgOnce sync.Once
	pgSrv  *pgserver.Server
	pgErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgSrv != nil {
		_ = pgSrv.Stop()
	}
	os.Exit(code)
}

// newPostgresEnv is newAdminEnv with the job's state in a fresh database of the test server.
func newPostgresEnv(t *testing.T) *adminEnv {
	t.Helper()
	pgOnce.Do(func() { pgSrv, pgErr = pgserver.Start() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	db, err := pgSrv.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := newAdminEnv(t, "http://127.0.0.1:1/scim")
	pw := filepath.Join(e.dir, "db-password")
	if err := os.WriteFile(pw, []byte(pgSrv.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?m)^state: .*$`).ReplaceAllString(string(raw),
		fmt.Sprintf("state: %s\nstatePasswordFile: %s", pgSrv.URL(db), pw))
	if err := os.WriteFile(e.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	e.state = pgSrv.URL(db)
	return e
}

// TestStateExportImportRoundTrip moves a job's state from its bbolt file to PostgreSQL and back into
// another file: each export reads back the same document.
func TestStateExportImportRoundTrip(t *testing.T) {
	file := newAdminEnv(t, "http://127.0.0.1:1/scim")
	file.prepare(t, func(st *store.Store) { failedJob(t, st, adminT0.Add(2*time.Hour)) })
	dump, err := file.cli(t, "state", "export")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump, `"job": "admin"`) || !strings.Contains(dump, `"anchors"`) {
		t.Fatalf("export lacks the job or its links:\n%s", dump)
	}

	db := newPostgresEnv(t)
	out, err := db.cliIn(t, dump, "state", "import")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, out, "imported the state of job admin into postgres://127.0.0.1:")
	if strings.Contains(out, pgSrv.Password) {
		t.Fatal("the output shows the database password")
	}
	fromDB, err := db.cli(t, "state", "export")
	if err != nil {
		t.Fatal(err)
	}
	if fromDB != dump {
		t.Fatalf("export from PostgreSQL differs from the file's:\n%s\nwant\n%s", fromDB, dump)
	}
	// The imported job reads as it did from the file.
	status, err := db.cli(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, status, "TooManyDeletes")

	// A second import would overwrite: refused without --replace, nothing changed.
	_, err = db.cliIn(t, dump, "state", "import")
	if !errors.Is(err, job.ErrStateNotEmpty) || exitCodeOf(err) != exitAborted {
		t.Fatalf("import over existing state: %v (code %d), want job.ErrStateNotEmpty, exit %d", err, exitCodeOf(err), exitAborted)
	}
	if _, err := db.cliIn(t, dump, "state", "import", "--replace"); err != nil {
		t.Fatalf("--replace: %v", err)
	}

	back := newAdminEnv(t, "http://127.0.0.1:1/scim")
	if _, err := back.cliIn(t, fromDB, "state", "import"); err != nil {
		t.Fatal(err)
	}
	again, err := back.cli(t, "state", "export")
	if err != nil {
		t.Fatal(err)
	}
	if again != dump {
		t.Fatalf("export after the round trip differs:\n%s\nwant\n%s", again, dump)
	}
}

func TestStateImportRefusals(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:1/scim")
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		"not JSON":      {"hello", nil, exitConfig, "read the export from standard input"},
		"unknown field": {`{"job":"admin","format":1,"surprise":true}`, nil, exitConfig, "unknown field"},
		"no state":      {`{"job":"admin"}`, nil, exitConfig, "no state in it"},
		"other job":     {`{"job":"other","format":1}`, nil, exitConfig, "add --from-job other"},
		"newer format":  {`{"job":"admin","format":2}`, nil, exitAborted, "format 2"},
		"bad record": {`{"job":"admin","format":1,"anchors":[{"kind":"user","sourceId":"u","record":"CQk="}]}`, nil,
			exitAborted, "anchor user/u"},
	} {
		_, err := e.cliIn(t, tc.stdin, append([]string{"state", "import"}, tc.args...)...)
		if err == nil || exitCodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (code %d), want code %d and %q", name, err, exitCodeOf(err), tc.code, tc.want)
		}
	}
	if _, err := e.cliIn(t, `{"job":"other","format":1}`, "state", "import", "--from-job", "other"); err != nil {
		t.Errorf("--from-job: %v", err)
	}
}

// TestDatabaseStateLease: a command that writes takes the job's lease; while another replica holds it,
// the command fails like beside a running daemon (exit 3) and names the holder.
func TestDatabaseStateLease(t *testing.T) {
	e, _, db := postgresJob(t)
	l, err := db.Acquire(context.Background(), "admin", "replica-7", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.cli(t, "restart")
	if !errors.Is(err, store.ErrLocked) || exitCodeOf(err) != exitAborted || !strings.Contains(err.Error(), "replica-7") {
		t.Fatalf("restart beside a holder: %v (code %d)", err, exitCodeOf(err))
	}
	// Reading needs no lease.
	if _, err := e.cli(t, "state", "export"); err != nil {
		t.Errorf("export beside a holder: %v", err)
	}
	if err := db.Release(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli(t, "restart"); err != nil {
		t.Fatalf("restart after release: %v", err)
	}
	// The command released the lease when it ended.
	if _, err := db.Acquire(context.Background(), "admin", "replica-8", time.Hour); err != nil {
		t.Errorf("after the command: %v", err)
	}
	if _, err := e.cli(t, "restart", "--rebuild"); exitCodeOf(err) != exitConfig {
		t.Errorf("--rebuild on a database: %v", err)
	}
}

func exitCodeOf(err error) int {
	if code, _, ok := codeOf(err); ok {
		return code
	}
	return -1
}
