package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/scimsync/scimsync/emulator/scimserver"
)

// TestEndToEndDamagedStateFile syncs users and groups into a SCIM target, damages the state file three
// ways (cut short, a flipped byte in a stored link, garbage meta pages), and checks with the built binary
// that every command fails with the damaged-file message and exit 4 (no SIGBUS, no goroutine dump), that
// a plain restart refuses, and that `restart --rebuild` plus one sync converges: every user and group
// exists exactly once in the target, with the same target ids as before (adopted, not re-created).
func TestEndToEndDamagedStateFile(t *testing.T) {
	l := newLocalTarget(t, scimserver.Options{Token: "damage-token"})
	state := filepath.Join(l.dir, "state.db")
	cfg := filepath.Join(l.dir, "job.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`name: damage
%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN, concurrency: 2}
users: {preset: gong}
state: %s
logging: {level: warn, format: json}
`, l.source, l.url, state)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=damage-token")
	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, l.bin, append(args, "--config", cfg)...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("run %v: %v", args, err)
		}
		return out.String(), errb.String(), code
	}
	// target returns userName -> id and displayName -> id, failing on a duplicate.
	target := func(what string) (map[string]string, map[string]string) {
		t.Helper()
		users, groups := map[string]string{}, map[string]string{}
		for _, u := range l.target.Users() {
			name := strings.ToLower(fmt.Sprint(u["userName"]))
			if _, dup := users[name]; dup {
				t.Errorf("%s: user %s exists twice in the target", what, name)
			}
			users[name] = fmt.Sprint(u["id"])
		}
		for _, g := range l.target.Groups() {
			name := fmt.Sprint(g["displayName"])
			if _, dup := groups[name]; dup {
				t.Errorf("%s: group %s exists twice in the target", what, name)
			}
			groups[name] = fmt.Sprint(g["id"])
		}
		return users, groups
	}

	if _, errOut, code := run("sync"); code != 0 {
		t.Fatalf("first sync: exit %d\n%s", code, lastLines(errOut, 10))
	}
	users, groups := target("first sync")
	if want := len(expectedUsers(l.tenant)); len(users) != want || len(groups) == 0 {
		t.Fatalf("first sync: %d users (want %d) and %d groups in the target", len(users), want, len(groups))
	}
	good, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	var used int64 // bytes bbolt uses; it grows the file ahead of use
	db, err := bolt.Open(state, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	db.Close()

	var anyUserID string
	for _, id := range users {
		anyUserID = id
		break
	}
	damages := []struct {
		name string
		// readable: the log itself is intact, so `logs` still works (an admin investigating needs it).
		readable bool
		damage   func([]byte) []byte
	}{
		{"cut short", false, func(d []byte) []byte { return d[:used-4096] }},
		{"flipped byte in a stored link", true, func(d []byte) []byte {
			// A link record starts with its version (2), then the target id, a UUID in its 16
			// bytes after the tag 2 (store/compact.go). Freed pages may hold older copies, so
			// every copy is damaged.
			id := uuid.MustParse(anyUserID)
			rec := append([]byte{2, 2}, id[:]...)
			if bytes.Count(d, rec) == 0 {
				t.Fatalf("the link to %s is not in the state file", anyUserID)
			}
			return bytes.ReplaceAll(d, rec, append([]byte{9}, rec[1:]...))
		}},
		{"garbage meta pages", false, func(d []byte) []byte {
			for _, off := range []int{0, 4096} {
				for i := off + 16; i < off+80; i++ {
					d[i] ^= 0xa5
				}
			}
			return d
		}},
	}
	for _, dm := range damages {
		if err := os.WriteFile(state, dm.damage(bytes.Clone(good)), 0o600); err != nil {
			t.Fatal(err)
		}
		// A quiet incremental cycle reads no link, so it cannot notice a damaged one; an initial cycle reads all.
		for _, args := range [][]string{{"status"}, {"logs"}, {"sync"}, {"sync", "--initial"}, {"restart"}} {
			if dm.readable && len(args) == 1 && args[0] == "sync" {
				continue
			}
			_, errOut, code := run(args...)
			if dm.readable && args[0] == "logs" {
				if code != 0 {
					t.Errorf("%s: logs: exit %d, want 0 (the log is intact)\n%s", dm.name, code, lastLines(errOut, 10))
				}
				continue
			}
			if code != exitDamaged {
				t.Errorf("%s: %s: exit %d, want %d\n%s", dm.name, args[0], code, exitDamaged, lastLines(errOut, 10))
			}
			for _, bad := range []string{"SIGBUS", "goroutine ", "panic"} {
				if strings.Contains(errOut, bad) {
					t.Errorf("%s: %s: the output contains %q:\n%s", dm.name, args[0], bad, lastLines(errOut, 10))
				}
			}
			want := []string{"state file " + state + " is damaged: ", "; run `scimsync restart --rebuild --config " + cfg + "` to rebuild it from the target"}
			for _, w := range want {
				if !strings.Contains(errOut, w) {
					t.Errorf("%s: %s: stderr lacks %q:\n%s", dm.name, args[0], w, lastLines(errOut, 10))
				}
			}
		}
		out, errOut, code := run("restart", "--rebuild")
		if code != 0 {
			t.Fatalf("%s: restart --rebuild: exit %d\n%s", dm.name, code, errOut)
		}
		kept, _ := filepath.Glob(state + ".damaged-*")
		if len(kept) == 0 || !strings.Contains(out, kept[len(kept)-1]) {
			t.Errorf("%s: the damaged file was not kept (%v) or not named:\n%s", dm.name, kept, out)
		}
		for _, k := range kept {
			_ = os.Remove(k) // the next case's rebuild happens within the same second
		}
		if _, errOut, code := run("sync"); code != 0 {
			t.Fatalf("%s: sync after the rebuild: exit %d\n%s", dm.name, code, lastLines(errOut, 10))
		}
		u2, g2 := target(dm.name + ": sync after the rebuild")
		if fmt.Sprint(u2) != fmt.Sprint(users) || fmt.Sprint(g2) != fmt.Sprint(groups) {
			t.Errorf("%s: the target changed after the rebuild:\nusers  %v\nbefore %v\ngroups %v\nbefore %v", dm.name, u2, users, g2, groups)
		}
		if _, errOut, code := run("status"); code != 0 {
			t.Errorf("%s: status after the rebuild: exit %d\n%s", dm.name, code, errOut)
		}
	}
}
