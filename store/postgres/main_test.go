package postgres

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/scimsync/scimsync/internal/testenv/pgserver"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/statetest"
)

// srv is the one PostgreSQL server of this test process; shared is one database every test uses
// (each under its own job names, which tests the job separation as a side effect).
var (
	srv    *pgserver.Server
	shared *DB
	jobs   atomic.Int64
)

func TestMain(m *testing.M) {
	var err error
	srv, err = pgserver.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start PostgreSQL:", err)
		os.Exit(1)
	}
	code := func() int {
		defer srv.Stop()
		shared, err = connectNew(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer shared.Close()
		return m.Run()
	}()
	os.Exit(code)
}

// connectNew connects to a fresh database of the test server.
func connectNew(ctx context.Context) (*DB, error) {
	name, err := srv.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	return Connect(ctx, Config{URL: srv.URL(name), Password: srv.Password})
}

func newJob() string { return fmt.Sprintf("job-%d", jobs.Add(1)) }

// pgBackend runs the shared suite on the test server.
type pgBackend struct{}

func (pgBackend) Open(t testing.TB) store.State {
	t.Helper()
	s, err := shared.Open(newJob(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (pgBackend) Reopen(t testing.TB, st store.State, readOnly bool) store.State {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := shared.Open(st.(*State).job, Options{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (pgBackend) Raw(t testing.TB, st store.State) []byte {
	t.Helper()
	var raw []byte
	err := shared.pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(value, '\x00'::bytea), '') FROM scimsync.kv WHERE job = $1`,
		st.(*State).job).Scan(&raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestStatePostgres(t *testing.T) { statetest.Run(t, pgBackend{}) }
