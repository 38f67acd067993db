package job

import (
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
)

// The learned target dialect goes from the state into the client at the start of a cycle and back
// after it; the end-to-end test TestScenarioDefaultModeLearnsElementAdds runs the whole loop.
func TestDialectSeedAndKeep(t *testing.T) {
	const url = "http://127.0.0.1:9/scim"
	learned := time.Date(2026, 3, 2, 9, 6, 0, 0, time.UTC)
	newJob := func(t *testing.T, dryRun bool) (*Job, *store.Store) {
		t.Helper()
		c, err := scimclient.New(scimclient.Options{BaseURL: url + "/"})
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return &Job{log: zaptest.NewLogger(t), target: c, dryRun: dryRun}, st
	}
	get := func(t *testing.T, st *store.Store) *store.TargetDialect {
		t.Helper()
		d, err := st.TargetDialect()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("nothing stored, learned in the cycle", func(t *testing.T) {
		j, st := newJob(t, false)
		stored, err := j.seedDialect(st)
		if err != nil || stored != nil || j.target.Dialect().ElementAdds {
			t.Fatalf("seed: %+v, %v, client %+v", stored, err, j.target.Dialect())
		}
		mustDo(t, j.keepDialect(st, stored)) // nothing learned: nothing written
		if d := get(t, st); d != nil {
			t.Fatalf("recorded %+v although nothing was learned", d)
		}
		j.target.SetDialect(scimclient.Dialect{ElementAdds: true}) // as UpdateUser does on learning
		mustDo(t, j.keepDialect(st, stored))
		if d := get(t, st); d == nil || !d.ElementAdds || d.TargetURL != url || d.LearnedAt.IsZero() {
			t.Fatalf("recorded %+v, want ElementAdds from %s", d, url)
		}
	})
	t.Run("stored for this target", func(t *testing.T) {
		j, st := newJob(t, false)
		mustDo(t, st.SetTargetDialect(store.TargetDialect{TargetURL: url, ElementAdds: true, LearnedAt: learned}))
		stored, err := j.seedDialect(st)
		if err != nil || stored == nil || !j.target.Dialect().ElementAdds {
			t.Fatalf("seed: %+v, %v, client %+v", stored, err, j.target.Dialect())
		}
		mustDo(t, j.keepDialect(st, stored))
		if d := get(t, st); d == nil || !d.LearnedAt.Equal(learned) {
			t.Errorf("a known dialect was rewritten: %+v", d)
		}
	})
	t.Run("stored for another target", func(t *testing.T) {
		j, st := newJob(t, false)
		mustDo(t, st.SetTargetDialect(store.TargetDialect{TargetURL: "https://old.example/scim", ElementAdds: true, LearnedAt: learned}))
		stored, err := j.seedDialect(st)
		if err != nil || stored != nil || j.target.Dialect().ElementAdds {
			t.Fatalf("seed: %+v, %v, client %+v", stored, err, j.target.Dialect())
		}
		if d := get(t, st); d != nil {
			t.Errorf("the other target's dialect was kept: %+v", d)
		}
	})
	t.Run("dry run records and clears nothing", func(t *testing.T) {
		j, st := newJob(t, true)
		old := store.TargetDialect{TargetURL: "https://old.example/scim", ElementAdds: true, LearnedAt: learned}
		mustDo(t, st.SetTargetDialect(old))
		stored, err := j.seedDialect(st)
		if err != nil || stored != nil || j.target.Dialect().ElementAdds {
			t.Fatalf("seed: %+v, %v, client %+v", stored, err, j.target.Dialect())
		}
		j.target.SetDialect(scimclient.Dialect{ElementAdds: true})
		mustDo(t, j.keepDialect(st, stored))
		if d := get(t, st); d == nil || *d != old {
			t.Errorf("dry run changed the stored dialect to %+v", d)
		}
	})
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
