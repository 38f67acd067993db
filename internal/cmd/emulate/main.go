// Command emulate runs one emulator as a process of its own, for the scale harness (make scale): the
// emulated Microsoft Graph with a generated tenant, or the in-process SCIM target. Run outside the
// scimsync process, neither its memory nor its CPU counts in scimsync's figures. It is built by the
// harness only and never linked into scimsync.
//
//	emulate graph -users N [-seed S] [-page P] [-groups G [-members M]] -dir DIR
//	emulate scim -token T [-record FILE] [-bulk-ops N -bulk-bytes B]
//	emulate exec -pidfile FILE -usage FILE -- command [args]
//
// exec runs a command (scimsync) as its child and writes the command's own peak RSS and CPU once it
// exited (see runExec): the harness's children report its memory as theirs.
//
// It prints one JSON line when it serves (its URLs), then serves until its standard input closes, and
// prints a second JSON line with what it counted (requests per endpoint; for the SCIM target the
// creates and when the first and the last arrived, so the harness can time the write phase at the
// target, alike for scimsync and the raw load client).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/rawload"
	"github.com/scimsync/scimsync/emulator/scimserver"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "exec" {
		fs := flag.NewFlagSet("exec", flag.ExitOnError)
		pid := fs.String("pidfile", "", "write the command's pid here once it started")
		usage := fs.String("usage", "", "write the command's peak RSS and CPU here (JSON, Usage) once it exited")
		_ = fs.Parse(os.Args[2:])
		code, err := runExec(*pid, *usage, fs.Args())
		if err != nil {
			fmt.Fprintln(os.Stderr, "emulate exec:", err)
		}
		os.Exit(code)
	}
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "emulate:", err)
		os.Exit(1)
	}
}

// Ready is the first line emulate prints.
type Ready struct {
	URL           string `json:"url"`
	GraphURL      string `json:"graphUrl,omitempty"`
	AuthorityHost string `json:"authorityHost,omitempty"`
	TenantID      string `json:"tenantId,omitempty"`
	SPID          string `json:"servicePrincipalId,omitempty"`
	CAFile        string `json:"caFile,omitempty"`
	Users         int    `json:"users,omitempty"`
}

// Stats is the last line emulate prints, and what a "stats" line on standard input asks for (scim).
type Stats struct {
	Requests  int64            `json:"requests"`
	Endpoints map[string]int64 `json:"endpoints"`
	// Creates counts POST /Users answered 201; FirstCreate and LastCreate are when the first one
	// arrived and the last one was answered (Unix nanoseconds).
	Creates     int64 `json:"creates"`
	FirstCreate int64 `json:"firstCreate"`
	LastCreate  int64 `json:"lastCreate"`
	// CPU is the process's user and system CPU time so far (nanoseconds; 0 where not measured): the
	// target shares the machine's cores with its client, so what a client costs it counts too.
	CPU int64 `json:"cpu"`
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: emulate graph|scim [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	users := fs.Int("users", 10000, "graph: generated users")
	seed := fs.Int64("seed", 1, "graph: generator seed (with -groups, always 1)")
	page := fs.Int("page", 200, "graph: users per delta page")
	dir := fs.String("dir", "", "graph: folder for the CA file")
	groups := fs.Int("groups", 0, "graph: security groups of -members enabled users each, instead of the generated groups and assignments")
	members := fs.Int("members", 100, "graph: members of each of -groups")
	token := fs.String("token", "", "scim: the accepted bearer token")
	record := fs.String("record", "", "scim: write each created user as a JSON line {id, body} to this file")
	bulkOps := fs.Int("bulk-ops", 0, "scim: serve /Bulk with this maxOperations (0: no Bulk)")
	bulkBytes := fs.Int("bulk-bytes", 0, "scim: /Bulk maxPayloadSize")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	out := json.NewEncoder(stdout)
	switch args[0] {
	case "graph":
		var tenant *graphapi.Tenant
		if *groups > 0 {
			tenant = graphapi.GenerateGroupTenant(*users, *groups, *members) // seed 1
		} else {
			tenant = graphapi.GenerateTenant(*users, *seed)
		}
		return runGraph(stdin, out, tenant, *page, *dir)
	case "scim":
		return runSCIM(stdin, out, *token, *record, *bulkOps, *bulkBytes)
	}
	return fmt.Errorf("unknown emulator %q (graph or scim)", args[0])
}

// runGraph serves a generated tenant until standard input ends (see run).
func runGraph(stdin io.Reader, out *json.Encoder, tenant *graphapi.Tenant, page int, dir string) error {
	if dir == "" {
		return errors.New("graph needs -dir")
	}
	g := graphapi.NewServer(tenant, graphapi.Options{PageSize: page})
	g.Start()
	defer g.Close()
	ca := filepath.Join(dir, "graph-ca.pem")
	if err := g.WriteCA(ca); err != nil {
		return err
	}
	if err := out.Encode(Ready{URL: g.URL(), GraphURL: g.GraphURL(), AuthorityHost: g.AuthorityHost(),
		TenantID: g.TenantID(), SPID: tenant.ServicePrincipal.ID, CAFile: ca, Users: len(tenant.Users)}); err != nil {
		return err
	}
	stats := func() Stats { return Stats{Requests: int64(len(g.Requests())), CPU: int64(cpuTime())} }
	// A "retitle" line changes every user's jobTitle, so that the next delta round returns them
	// all (the harness's mass-change cycle); the answer is a line with the count. A "stats" line asks
	// for the figures so far: the harness reads the CPU a round cost the emulated Graph, which shares
	// the machine's cores with scimsync.
	lines := bufio.NewScanner(stdin)
	for round := 1; lines.Scan(); {
		var answer any
		switch strings.TrimSpace(lines.Text()) {
		case "stats":
			answer = stats()
		case "retitle":
			round++
			n, err := retitle(g, tenant, round)
			if err != nil {
				return err
			}
			answer = Changed{Users: n}
		default:
			continue
		}
		if err := out.Encode(answer); err != nil {
			return err
		}
	}
	return out.Encode(stats())
}

// runSCIM serves a fresh SCIM target until standard input ends (see run).
func runSCIM(stdin io.Reader, out *json.Encoder, token, record string, bulkOps, bulkBytes int) error {
	opts := scimserver.Options{Token: token}
	if bulkOps > 0 {
		opts.Bulk = &scimserver.Bulk{MaxOperations: bulkOps, MaxPayloadSize: bulkBytes}
	}
	srv := scimserver.New(opts)
	rec, err := newRecorder(srv, record)
	if err != nil {
		return err
	}
	ts := httptest.NewUnstartedServer(rec)
	ts.Start()
	defer ts.Close()
	if err := out.Encode(Ready{URL: ts.URL + "/scim/v2"}); err != nil {
		return err
	}
	stats := func() Stats {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return Stats{Requests: srv.TotalRequests(), Endpoints: srv.Requests(), Creates: rec.creates,
			FirstCreate: rec.first, LastCreate: rec.last, CPU: int64(cpuTime())}
	}
	// A "stats" line asks for the figures so far (the harness, between two runs on one target).
	lines := bufio.NewScanner(stdin)
	for lines.Scan() {
		if strings.TrimSpace(lines.Text()) == "stats" {
			if err := out.Encode(stats()); err != nil {
				return err
			}
		}
	}
	ts.Close()
	if err := rec.close(); err != nil {
		return err
	}
	return out.Encode(stats())
}

// Changed answers a "retitle" line: how many users were changed.
type Changed struct {
	Users int `json:"users"`
}

// retitle gives every user of the tenant the jobTitle "<its title> (round n)".
func retitle(g *graphapi.Server, t *graphapi.Tenant, round int) (int, error) {
	for _, u := range t.Users {
		id, _ := u["id"].(string)
		title, _ := u["jobTitle"].(string)
		if err := g.UpdateUser(id, map[string]any{"jobTitle": fmt.Sprintf("%s (round %d)", title, round)}); err != nil {
			return 0, fmt.Errorf("retitle %s: %w", id, err)
		}
	}
	return len(t.Users), nil
}

// recorder times the creates at the target and, with a file, records them for the raw load client.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	file *os.File
	w    *bufio.Writer
	// creates, first and last: see Stats.
	creates, first, last int64
}

func newRecorder(next http.Handler, path string) (*recorder, error) {
	r := &recorder{next: next}
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		r.file, r.w = f, bufio.NewWriterSize(f, 1<<20)
	}
	return r, nil
}

// captureWriter sees a create's status and, when recording, keeps its answer to read the id.
type captureWriter struct {
	http.ResponseWriter
	status int
	keep   bool
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(s int) { c.status = s; c.ResponseWriter.WriteHeader(s) }
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.keep {
		c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/Users") {
		r.next.ServeHTTP(w, req)
		return
	}
	start := time.Now().UnixNano()
	var body []byte
	if r.w != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	cw := &captureWriter{ResponseWriter: w, status: http.StatusOK, keep: r.w != nil}
	r.next.ServeHTTP(cw, req)
	if cw.status != http.StatusCreated {
		return
	}
	end := time.Now().UnixNano()
	// The line is made before the lock: the answer waits for this handler, so work under the lock
	// would queue every create behind the others.
	var line []byte
	if r.w != nil {
		var created struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(cw.body.Bytes(), &created)
		line, _ = json.Marshal(rawload.Recorded{ID: created.ID, Body: body})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.creates++
	if r.first == 0 || start < r.first {
		r.first = start
	}
	r.last = max(r.last, end)
	if r.w != nil {
		r.w.Write(line)
		r.w.WriteByte('\n')
	}
}

func (r *recorder) close() error {
	if r.file == nil {
		return nil
	}
	if err := r.w.Flush(); err != nil {
		return err
	}
	return r.file.Close()
}
