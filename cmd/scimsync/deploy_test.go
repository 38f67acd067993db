package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployUnitsVerify runs `systemd-analyze verify` on the shipped units, with ExecStart pointing at
// the binary under test (verify checks that it exists). Warnings fail the test too: verify reports an
// unknown or misspelt key as a warning and exits 0.
func TestDeployUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd; `make test` installs it)")
	}
	bin := binary(t)
	dir := t.TempDir()
	for src, name := range map[string]string{"scimsync.service": "scimsync.service", "scimsync@.service": "scimsync@gong.service",
		"scimsync-jobs.service": "scimsync-jobs.service"} {
		unit, err := os.ReadFile(filepath.Join("..", "..", "deploy", src))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(unit, []byte("/usr/local/bin/scimsync")) {
			t.Fatalf("%s: ExecStart no longer runs /usr/local/bin/scimsync; update this test", src)
		}
		unit = bytes.ReplaceAll(unit, []byte("/usr/local/bin/scimsync"), []byte(bin))
		// The template is verified through an instance, as systemd would load it.
		if err := os.WriteFile(filepath.Join(dir, src), unit, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, name))
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", src, err, out)
		}
		for _, key := range []string{"WatchdogSec=", "RestartPreventExitStatus=2 4", "ConfigurationDirectoryMode=0750",
			"SystemCallFilter=@system-service", "ProtectClock=yes", "ProtectKernelLogs=yes", "ProtectHostname=yes",
			"RestrictSUIDSGID=yes", "RestrictRealtime=yes", "ProtectProc=invisible", "Type=notify"} {
			if !strings.Contains(string(unit), "\n"+key) {
				t.Errorf("%s lacks %s", src, key)
			}
		}
	}
}

// TestDeploySysusersTmpfiles applies deploy/scimsync.sysusers and deploy/scimsync.tmpfiles to an
// empty root directory, as the install steps of docs/operations.md do to /, and checks the result: the user
// exists and owns /var/lib/scimsync, mode 0700.
func TestDeploySysusersTmpfiles(t *testing.T) {
	sysusers, err1 := exec.LookPath("systemd-sysusers")
	tmpfiles, err2 := exec.LookPath("systemd-tmpfiles")
	if err1 != nil || err2 != nil {
		t.Skip("systemd-sysusers or systemd-tmpfiles is not installed (Debian package systemd)")
	}
	if os.Geteuid() != 0 {
		t.Skip("systemd-tmpfiles --root needs root to give the directory to the scimsync user")
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	deploy, _ := filepath.Abs(filepath.Join("..", "..", "deploy"))
	for _, c := range [][]string{{sysusers, "--root=" + root, filepath.Join(deploy, "scimsync.sysusers")},
		{tmpfiles, "--create", "--root=" + root, filepath.Join(deploy, "scimsync.tmpfiles")}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	var uid string
	for _, l := range strings.Split(string(passwd), "\n") {
		if f := strings.Split(l, ":"); len(f) == 7 && f[0] == "scimsync" {
			uid = f[2]
			if f[5] != "/var/lib/scimsync" || f[6] != "/usr/sbin/nologin" {
				t.Errorf("passwd entry %q: want home /var/lib/scimsync and shell /usr/sbin/nologin", l)
			}
		}
	}
	if uid == "" {
		t.Fatalf("no scimsync user in %s", passwd)
	}
	out, err := exec.Command("stat", "-c", "%a %u", filepath.Join(root, "var", "lib", "scimsync")).CombinedOutput()
	if err != nil {
		t.Fatalf("stat: %v %s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "700 "+uid; got != want {
		t.Errorf("/var/lib/scimsync: mode and owner %q, want %q", got, want)
	}
}
