package daemon

import (
	"html/template"
	"net/http"
	"time"

	"github.com/scimsync/scimsync/daemon/status"
)

// jobsPage is the daemon's /status with --jobs: one line per job, each linking to its own page.
var jobsPage = template.Must(template.New("jobs").Funcs(template.FuncMap{"stamp": func(t *time.Time) string { return status.Stamp(*t) }}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>scimsync</title></head><body>
<h1>scimsync: {{len .}} jobs</h1>
<table><tr><th>job</th><th>state</th><th>phase</th><th>last success</th><th>next cycle</th><th>replica</th></tr>
{{range .}}<tr><td><a href="/jobs/{{.Job}}/status">{{.Job}}</a></td><td>{{.Status}}</td><td>{{.Phase}}</td>
<td>{{with .LastSuccess}}{{stamp .}}{{else}}-{{end}}</td><td>{{with .NextCycle}}{{stamp .}}{{else}}-{{end}}</td>
<td>{{if .Elsewhere}}another replica{{else}}this one{{end}}</td></tr>
{{end}}</table></body></html>
`))

// jobStatus is one job in the daemon's /status.json.
type jobStatus struct {
	*status.Snapshot
	// Elsewhere is true when another replica holds the job.
	Elsewhere bool `json:"elsewhere"`
}

// statusRoutes serves the daemon's status: /jobs/NAME/status(.json) for each job; /status and
// /status.json are the one job's with --config and the list of jobs with --jobs.
func (h *Host) statusRoutes(mux *http.ServeMux) {
	byName := func(r *http.Request) *status.Live {
		h.mu.Lock()
		defer h.mu.Unlock()
		if j := h.jobs[r.PathValue("job")]; j != nil {
			return j.live
		}
		return nil
	}
	mux.HandleFunc("GET /jobs/{job}/status", status.PageHandler(byName))
	mux.HandleFunc("GET /jobs/{job}/status.json", status.JSONHandler(byName))
	if h.single {
		only := func(*http.Request) *status.Live {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, j := range h.jobs {
				return j.live
			}
			return nil
		}
		mux.HandleFunc("GET /status", status.PageHandler(only))
		mux.HandleFunc("GET /status.json", status.JSONHandler(only))
		return
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = jobsPage.Execute(w, h.statuses(0))
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		status.WriteJSON(w, map[string]any{"jobs": h.statuses(status.CyclesParam(r))})
	})
}

// statuses is every job's status with n past cycles, in name order.
func (h *Host) statuses(n int) []jobStatus {
	mine := map[string]bool{}
	for _, s := range h.runner.Jobs() {
		mine[s.Name] = s.Mine
	}
	h.mu.Lock()
	runs := h.jobs
	h.mu.Unlock()
	out := make([]jobStatus, 0, len(runs))
	now := time.Now()
	for _, name := range names(runs) {
		out = append(out, jobStatus{Snapshot: runs[name].live.Snapshot(n, now), Elsewhere: !mine[name]})
	}
	return out
}
