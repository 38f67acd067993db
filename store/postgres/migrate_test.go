package postgres

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scimsync/scimsync/internal/testenv/pgserver"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/postgres/internal/migrate"
	"github.com/scimsync/scimsync/store/statetest"
)

// TestMigrateConcurrently: replicas starting together against an empty database migrate it once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	name, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Connect(ctx, Config{URL: srv.URL(name), Password: srv.Password})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var rows, max int
	if err := dbs[0].pool.QueryRow(ctx, `SELECT count(*), max(version) FROM scimsync.schema_migrations`).Scan(&rows, &max); err != nil {
		t.Fatal(err)
	}
	ms, _ := migrate.Load()
	if rows != len(ms) || max != SchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", rows, max, len(ms), SchemaVersion())
	}
	// Every replica sees the same, working schema.
	st, _ := dbs[n-1].Open("j", Options{})
	if err := st.SetWatermark("users", "w"); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	db, err := connectNew(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.pool.Exec(ctx, `INSERT INTO scimsync.schema_migrations (version, name) VALUES ($1, 'from the future')`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	var url string
	_ = db.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&url)
	_, err = Connect(ctx, Config{URL: srv.URL(url), Password: srv.Password})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrationFiles(t *testing.T) {
	ms, err := migrate.Load()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s: version %d at position %d; versions must be 1, 2, 3, ...", m.Name, m.Version, i+1)
		}
		if filepath.Ext(m.Name) != ".sql" {
			t.Errorf("migration %s is not a .sql file", m.Name)
		}
	}
}

// TestConnectSecrets: the password never shows in an error, and a URL carrying one is refused.
func TestConnectSecrets(t *testing.T) {
	ctx := context.Background()
	const secret = "s3cret-Pa55word"
	for name, c := range map[string]Config{
		"password in URL": {URL: "postgres://u:" + secret + "@127.0.0.1:1/db"},
		"wrong password":  {URL: srv.URL("postgres"), Password: secret},
		"bad URL":         {URL: "postgres://u@127.0.0.1:1/db?sslmode=nonsense", Password: secret},
		"not postgres":    {URL: "mysql://u@127.0.0.1/db", Password: secret},
		"refused":         {URL: "postgres://u@127.0.0.1:1/db?connect_timeout=5", Password: secret},
	} {
		db, err := Connect(ctx, c)
		if err == nil {
			db.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
		if name == "password in URL" && !errors.Is(err, ErrPasswordInURL) {
			t.Errorf("%s: %v, want ErrPasswordInURL", name, err)
		}
	}
}

// TestJobsAreSeparate: two jobs in one database see only their own rows.
func TestJobsAreSeparate(t *testing.T) {
	a, _ := shared.Open(newJob(), Options{})
	b, _ := shared.Open(newJob(), Options{})
	statetest.Fill(t, a)
	if snap, err := b.Snapshot(); err != nil || len(snap.Links)+len(snap.Log)+len(snap.Cycles)+len(snap.Watermarks) != 0 {
		t.Fatalf("job b sees job a's state: %+v %v", snap, err)
	}
	if err := b.ClearLinks(); err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(&store.Snapshot{Format: store.SnapshotFormat}); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.CountLinks(store.KindUser); n != 2 {
		t.Errorf("clearing job b removed job a's anchors: %d left", n)
	}
}

// TestSnapshotAcrossBackends moves a job from a bbolt file to PostgreSQL and back, unchanged.
func TestSnapshotAcrossBackends(t *testing.T) {
	bolt, err := store.Open(filepath.Join(t.TempDir(), "job.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	statetest.Fill(t, bolt)
	fromBolt, err := bolt.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	pg, _ := shared.Open(newJob(), Options{})
	if err := pg.Restore(fromBolt); err != nil {
		t.Fatal(err)
	}
	fromPG, err := pg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	statetest.Equal(t, fromBolt, fromPG)

	back, err := store.Open(filepath.Join(t.TempDir(), "back.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := back.Restore(fromPG); err != nil {
		t.Fatal(err)
	}
	again, err := back.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	statetest.Equal(t, fromBolt, again)
}

// TestLeastPrivilegedRole: a role that may not create schemas works in a schema a DBA created for it.
func TestLeastPrivilegedRole(t *testing.T) {
	ctx := context.Background()
	name, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := Connect(ctx, Config{URL: srv.URL("postgres"), Password: srv.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	role := "app_" + name
	if _, err := admin.pool.Exec(ctx, `CREATE ROLE `+role+` LOGIN PASSWORD 'app-pw'`); err != nil {
		t.Fatal(err)
	}
	dba, err := pgxConnect(ctx, srv.URL(name), srv.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close(ctx)
	// Without the schema the role cannot start, and says what the DBA must do.
	u := strings.Replace(srv.URL(name), pgserver.User+"@", role+"@", 1)
	if _, err := Connect(ctx, Config{URL: u, Password: "app-pw"}); err == nil || !strings.Contains(err.Error(), "CREATE SCHEMA scimsync AUTHORIZATION") {
		t.Fatalf("role without a schema: %v", err)
	}
	if _, err := dba.Exec(ctx, `CREATE SCHEMA scimsync AUTHORIZATION `+role); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second start finds everything in place
		db, err := Connect(ctx, Config{URL: u, Password: "app-pw"})
		if err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		st, _ := db.Open("j", Options{})
		if err := st.SetWatermark("users", "w"); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}

func pgxConnect(ctx context.Context, url, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.Password = password
	return pgx.ConnectConfig(ctx, cfg)
}
