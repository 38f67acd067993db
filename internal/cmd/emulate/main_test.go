package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/emulator/rawload"
)

// TestSCIMRecordsCreates runs the SCIM emulator as the harness does: a ready line, writes, a stats
// line asked for, more writes, standard input closed, a stats line; the recording holds each create with the id it got.
func TestSCIMRecordsCreates(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "creates.jsonl")
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"scim", "-token", "tok", "-record", rec}, stdinR, stdoutW)
		stdoutW.Close()
	}()
	lines := bufio.NewScanner(stdoutR)
	if !lines.Scan() {
		t.Fatal("no ready line")
	}
	var ready Ready
	if err := json.Unmarshal(lines.Bytes(), &ready); err != nil || !strings.HasPrefix(ready.URL, "http://127.0.0.1:") {
		t.Fatalf("ready %q: %v", lines.Text(), err)
	}
	post := func(name string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ready.URL+"/Users", bytes.NewBufferString(
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+`"}`))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	post("a@x")
	// A "stats" line gets the figures so far, and the emulator goes on.
	if _, err := io.WriteString(stdinW, "stats\n"); err != nil {
		t.Fatal(err)
	}
	var mid Stats
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &mid) != nil || mid.Creates != 1 || mid.Requests != 1 {
		t.Fatalf("stats so far %q, want 1 create of 1 request", lines.Text())
	}
	for _, name := range []string{"b@x", "a@x"} {
		post(name)
	}
	stdinW.Close()
	if !lines.Scan() {
		t.Fatal("no stats line")
	}
	var st Stats
	if err := json.Unmarshal(lines.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st.Creates != 2 || st.Endpoints["POST /Users"] != 3 || st.FirstCreate == 0 || st.LastCreate < st.FirstCreate {
		t.Fatalf("stats %+v, want 2 creates of 3 POSTs", st)
	}
	f, err := os.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := rawload.ReadRecorded(f)
	if err != nil || len(recs) != 2 || recs[0].ID == "" || !strings.Contains(string(recs[1].Body), "b@x") {
		t.Fatalf("recording %+v %v", recs, err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"graph"}, {"scim", "-bogus"}} {
		if err := run(args, strings.NewReader(""), io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// A "retitle" line changes every user of the generated tenant, and the answer counts them.
func TestGraphRetitle(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"graph", "-users", "50", "-dir", t.TempDir()}, stdinR, stdoutW)
		stdoutW.Close()
	}()
	lines := bufio.NewScanner(stdoutR)
	if !lines.Scan() {
		t.Fatal("no ready line")
	}
	if _, err := io.WriteString(stdinW, "retitle\n"); err != nil {
		t.Fatal(err)
	}
	var ch Changed
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &ch) != nil || ch.Users != 50 {
		t.Fatalf("retitle answered %q, want 50 users", lines.Text())
	}
	// A stats line answers with the CPU so far (the harness's measure of a round), and serving goes on.
	if _, err := io.WriteString(stdinW, "stats\n"); err != nil {
		t.Fatal(err)
	}
	var st Stats
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &st) != nil || (runtime.GOOS == "linux" && st.CPU <= 0) {
		t.Fatalf("stats answered %q, want the CPU so far", lines.Text())
	}
	stdinW.Close()
	if !lines.Scan() {
		t.Fatal("no stats line")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
