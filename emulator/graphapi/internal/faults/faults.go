// Package faults holds the failures a test injects into the emulated Graph: throttling, outages,
// malformed bodies, stalls and dropped connections, each for the Nth matching request.
package faults

import (
	"cmp"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi/internal/reply"
)

// Fault is one injected failure: the next Count requests whose path or query contains PathContains
// (after the first Skip of them) get Status (and Retry-After) instead of their normal answer, so tests
// can provoke throttling, outages and malformed bodies at a chosen page.
type Fault struct {
	// PathContains is matched against the request path plus "?" plus the raw query ("$" literal, as
	// the SDK sends it), so it can also select a query parameter such as "$deltatoken="; "" matches all.
	PathContains string
	// Skip lets the first Skip matching requests through untouched, so a fault can hit the Nth page
	// of a round whose tokens the test cannot know in advance.
	Skip int
	// Status defaults to 200 when Body is set, else 503.
	Status int
	// Code and Message fill the Graph error body; defaults depend on Status.
	Code, Message string
	// RetryAfter is sent as the Retry-After header when not empty.
	RetryAfter string
	// Body replaces the response body verbatim (e.g. malformed JSON); ContentType defaults to
	// application/json.
	Body, ContentType string
	// Count is how many requests the fault answers (default 1).
	Count int
	// Delay stalls the answer, to test client timeouts.
	Delay time.Duration
	// Drop loses the connection mid-answer: a 200 header announcing a longer body than is sent, then
	// the connection is closed, which the client sees as an unexpected EOF (a plain close before any
	// answer would be replayed by net/http itself, never reaching the client's own retries). Status,
	// Body and RetryAfter are ignored. Such requests are recorded with Status 0.
	Drop bool
}

// Queue holds the faults not yet consumed; it is safe for concurrent use.
type Queue struct {
	mu     sync.Mutex
	faults []Fault
}

// Add queues faults; they are consumed in order of matching.
func (q *Queue) Add(f ...Fault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, x := range f {
		if x.Count <= 0 {
			x.Count = 1
		}
		q.faults = append(q.faults, x)
	}
}

// Clear drops any fault not yet consumed.
func (q *Queue) Clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.faults = nil
}

// Take returns the fault that answers r, if any, and consumes one of its Count.
func (q *Queue) Take(r *http.Request) (Fault, bool) {
	target := r.URL.Path + "?" + r.URL.RawQuery
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.faults {
		f := &q.faults[i]
		if !strings.Contains(target, f.PathContains) {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			continue
		}
		out := *f
		f.Count--
		if f.Count <= 0 {
			q.faults = append(q.faults[:i], q.faults[i+1:]...)
		}
		return out, true
	}
	return Fault{}, false
}

// Write answers with f instead of the normal answer.
func Write(w http.ResponseWriter, f Fault) {
	if f.Delay > 0 {
		time.Sleep(f.Delay)
	}
	if f.Drop {
		drop(w)
		return
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
		if f.Body != "" {
			status = http.StatusOK
		}
	}
	if f.Body != "" {
		w.Header().Set("Content-Type", cmp.Or(f.ContentType, "application/json"))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	code, msg := f.Code, f.Message
	if code == "" {
		code = map[int]string{
			400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Authorization_RequestDenied",
			404: "Request_ResourceNotFound", 410: "syncStateNotFound", 429: "TooManyRequests",
			500: "generalException", 502: "badGateway", 503: "serviceNotAvailable", 504: "gatewayTimeout",
		}[status]
		if code == "" {
			code = "UnknownError"
		}
	}
	if msg == "" {
		msg = "graphapi: injected " + http.StatusText(status)
	}
	reply.GraphError(w, status, code, msg)
}

// drop answers a 200 whose body stops short and aborts the handler, which closes the connection
// (or resets the stream) without net/http logging it.
func drop(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "1000")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"value":[`))
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}
