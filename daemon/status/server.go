package status

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/sync/engine"
)

//go:embed status.html
var statusHTML string

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"stamp": Stamp,
	"at": func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return Stamp(*t)
	},
	"label": PhaseLabel,
	"phases": func(s *Snapshot) []PhaseStatus {
		out := make([]PhaseStatus, 0, len(engine.Phases))
		for _, p := range engine.Phases {
			if ps, ok := s.Phases[p]; ok {
				ps.ID = p
				out = append(out, ps)
			}
		}
		return out
	},
	"took":  cycleTook,
	"note":  cycleNote,
	"count": phaseCount,
}).Parse(statusHTML))

// Routes serves the status page and its JSON on mux: the job's status socket.
func (l *Live) Routes(mux *http.ServeMux) {
	one := func(*http.Request) *Live { return l }
	mux.HandleFunc("GET /status", PageHandler(one))
	mux.HandleFunc("GET /status.json", JSONHandler(one))
}

// PageHandler serves the HTML status of the job live picks (404 when none).
func PageHandler(live func(*http.Request) *Live) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := live(r)
		if l == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := statusPage.Execute(w, l.Snapshot(CyclesParam(r), time.Now())); err != nil {
			fmt.Fprintf(w, "<p>rendering failed: %s</p>", template.HTMLEscapeString(err.Error()))
		}
	}
}

// JSONHandler serves the JSON status of the job live picks (404 when none).
func JSONHandler(live func(*http.Request) *Live) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := live(r)
		if l == nil {
			http.NotFound(w, r)
			return
		}
		WriteJSON(w, l.Snapshot(CyclesParam(r), time.Now()))
	}
}

func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// CyclesParam is ?cycles=N (default 10, at most StoredCycles).
func CyclesParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("cycles"))
	if err != nil || n < 0 {
		return 10
	}
	return min(n, StoredCycles)
}

// Socket is where the daemon answers `scimsync status`: next to the state file, which only the
// service account (and root) can reach.
func Socket(cfg *config.Config) string { return cfg.StatePath + ".sock" }

// ServeSocket answers status requests on the local socket until ctx ends. A socket left by a
// daemon that died is replaced; one that answers belongs to a running daemon and is left alone.
func (l *Live) ServeSocket(ctx context.Context, path string, log *zap.Logger, running *sync.WaitGroup) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		log.Warn("another scimsync answers on the status socket; not serving it", zap.String("socket", path))
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("cannot replace the status socket; `scimsync status` falls back to the metrics listener or the state file",
			zap.String("socket", path), zap.Error(err))
		return
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("cannot listen on the status socket; `scimsync status` falls back to the metrics listener or the state file",
			zap.String("socket", path), zap.Error(err))
		return
	}
	_ = os.Chmod(path, 0o660)
	mux := http.NewServeMux()
	l.Routes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	running.Add(1)
	go func() {
		defer running.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // closes the listener, which removes the socket file
	}()
}

// ErrNoDaemon means no daemon answered: neither the status socket nor the metrics listener is there.
var ErrNoDaemon = errors.New("no scimsync daemon answers for this job")

// Ask fetches the running daemon's status: through the local socket, else the metrics listener.
func Ask(ctx context.Context, cfg *config.Config, n int) (*Snapshot, error) {
	sock := Socket(cfg)
	unix := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	s, err := getStatus(ctx, unix, "http://scimsync/status.json?cycles="+strconv.Itoa(n))
	if err == nil || !noListener(err) {
		return s, annotate(err, "status socket "+sock)
	}
	if cfg.Metrics == nil {
		return nil, ErrNoDaemon
	}
	addr := loopbackAddr(cfg.Metrics.Listen)
	s, err = getStatus(ctx, &http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/status.json?cycles="+strconv.Itoa(n))
	if err != nil && noListener(err) {
		return nil, ErrNoDaemon
	}
	return s, annotate(err, "metrics listener "+addr)
}

func annotate(err error, where string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("asking the daemon through the %s: %w", where, err)
}

// noListener reports a dial error that means nobody listens (no socket file, connection refused).
func noListener(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" &&
		(errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT))
}

// loopbackAddr turns a listen address into one to dial: an unspecified host is this machine.
func loopbackAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func getStatus(ctx context.Context, c *http.Client, url string) (*Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, OneLine(string(b), 200))
	}
	var s Snapshot
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if s.From != FromDaemon || s.Phases == nil {
		return nil, fmt.Errorf("the answer is not a scimsync status")
	}
	return &s, nil
}

// Stamp is how the status writes a time: UTC, RFC 3339, "-" for none.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// OneLine squeezes s onto one line of at most n characters.
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
