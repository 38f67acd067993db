package job

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/graph"
	"github.com/scimsync/scimsync/store"
)

// fileJob is the configuration of a job whose state is a bbolt file in a fresh folder.
func fileJob(t *testing.T, name string) *config.Config {
	t.Helper()
	return &config.Config{Name: name, StatePath: filepath.Join(t.TempDir(), name+".db"), File: "/etc/scimsync/" + name + ".yaml"}
}

// TestOpenStateRefusals: a state another process holds, or one no cycle has written yet, is an
// aborted job (exit 3) whose message says what to do, and the cause stays visible to errors.Is.
func TestOpenStateRefusals(t *testing.T) {
	cfg := fileJob(t, "hr")
	if _, err := OpenState(cfg, true); !isKind(err, KindAborted) || !strings.Contains(err.Error(), "no state yet at "+cfg.StatePath) {
		t.Errorf("read-only before any cycle: %v, want an aborted error naming the file", err)
	}
	held, err := store.Open(cfg.StatePath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = OpenState(cfg, false)
	if !errors.Is(err, store.ErrLocked) || !isKind(err, KindAborted) || !strings.Contains(err.Error(), "a cycle is running") {
		t.Errorf("a state file in use: %v, want ErrLocked, aborted, saying a cycle runs", err)
	}
}

// TestOpenNeedsItsCABundle: a source.caFile that cannot be read is a configuration error (exit 2)
// naming the setting, found before anything is sent.
func TestOpenNeedsItsCABundle(t *testing.T) {
	cfg := fileJob(t, "hr")
	cfg.Source.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	_, err := Open(cfg, Options{})
	if !isKind(err, KindConfig) || !strings.Contains(err.Error(), "source.caFile") {
		t.Errorf("Open with a missing CA bundle: %v, want a configuration error naming source.caFile", err)
	}
}

// TestStateExportImport: an export read back into another job (named with fromJob) gives it the same
// state; the refusals are configuration errors for a bad document and an aborted one for a job that
// already has state, until replace says so.
func TestStateExportImport(t *testing.T) {
	src := fileJob(t, "hr")
	st, err := OpenState(src, false)
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, st.SetWatermark("users", "delta-1"))
	mustDo(t, st.Close())
	var dump bytes.Buffer
	mustDo(t, ExportState(src, &dump))

	dst := fileJob(t, "sales")
	for _, c := range []struct{ name, doc, fromJob, want string }{
		{"not JSON", "{", "", "read the export"},
		{"no state", `{"job":"hr"}`, "", "no state in it"},
		{"another job", dump.String(), "", "--from-job hr"},
	} {
		if _, err := ImportState(dst, strings.NewReader(c.doc), c.fromJob, false); !isKind(err, KindConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a configuration error containing %q", c.name, err, c.want)
		}
	}
	summary, err := ImportState(dst, bytes.NewReader(dump.Bytes()), "hr", false)
	if err != nil || !strings.Contains(summary, "imported the state of job hr") {
		t.Fatalf("import: %q, %v", summary, err)
	}
	if w := watermark(t, dst); w != "delta-1" {
		t.Errorf("imported watermark %q, want delta-1", w)
	}
	_, err = ImportState(dst, bytes.NewReader(dump.Bytes()), "hr", false)
	if !errors.Is(err, ErrStateNotEmpty) || !isKind(err, KindAborted) || !strings.Contains(err.Error(), "users watermark") {
		t.Errorf("import over state: %v, want ErrStateNotEmpty naming what is there", err)
	}
	if _, err := ImportState(dst, bytes.NewReader(dump.Bytes()), "hr", true); err != nil {
		t.Errorf("import with replace: %v", err)
	}
}

func watermark(t *testing.T, cfg *config.Config) string {
	t.Helper()
	st, err := OpenState(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := st.Watermark("users")
	mustDo(t, err)
	return w
}

// TestDamagedMessage: however deeply a damaged state file is wrapped, the message names the file and
// the command that rebuilds it, quoted so it can be pasted.
func TestDamagedMessage(t *testing.T) {
	err := fmt.Errorf("cycle: %w", &store.CorruptError{Path: "/var/lib/scimsync/hr.db", Err: errors.New("bad page")})
	msg, ok := DamagedMessage(err, "/etc/scimsync/my jobs/hr.yaml")
	if !ok || !strings.Contains(msg, "/var/lib/scimsync/hr.db") || !strings.HasSuffix(msg, "`scimsync restart --rebuild --config '/etc/scimsync/my jobs/hr.yaml'` to rebuild it from the target") {
		t.Errorf("DamagedMessage = %q, %v", msg, ok)
	}
	if _, ok := DamagedMessage(errors.New("timeout"), "x.yaml"); ok {
		t.Error("an error that is no damage got a damage message")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/scimsync/hr.yaml": "/etc/scimsync/hr.yaml",
		"my jobs/hr.yaml":       "'my jobs/hr.yaml'",
		"it's.yaml":             `'it'\''s.yaml'`,
		"":                      "''",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestSourceCredentialFailure: Graph refusing the app (401, 403) is a sign-in failure keyed by status
// and code; other Graph errors and plain errors are not.
func TestSourceCredentialFailure(t *testing.T) {
	cases := []struct {
		err    error
		reason string
		ok     bool
	}{
		{fmt.Errorf("read users: %w", &graph.Error{Status: 403, Code: "Authorization_RequestDenied"}), "Graph403:Authorization_RequestDenied", true},
		{&graph.Error{Status: 401}, "Graph401", true},
		{&graph.Error{Status: 503, Code: "serviceNotAvailable"}, "", false},
		{errors.New("connection refused"), "", false},
		{nil, "", false},
	}
	for _, c := range cases {
		reason, _, ok := sourceCredentialFailure(c.err)
		if reason != c.reason || ok != c.ok {
			t.Errorf("%v: %q %v, want %q %v", c.err, reason, ok, c.reason, c.ok)
		}
	}
}
