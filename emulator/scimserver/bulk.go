package scimserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/scimsync/scimsync/emulator/scimserver/filter"
	"github.com/scimsync/scimsync/scimclient"
)

// SCIM Bulk (RFC 7644 §3.7, https://www.rfc-editor.org/rfc/rfc7644#section-3.7). Entra never sends
// Bulk; the target supports it so that scimsync's Bulk client can be tested and measured against RFC
// semantics: bulkId references, failOnErrors, the advertised limits answered with 413, and one status
// per operation.

// SchemaBulkResponse is the message schema of a Bulk answer (the request's is scimclient.SchemaBulkRequest).
const SchemaBulkResponse = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"

// Bulk switches /Bulk on and sets the limits ServiceProviderConfig advertises and the server enforces.
type Bulk struct {
	// MaxOperations is the most operations one request may hold (default 1000).
	MaxOperations int
	// MaxPayloadSize is the most bytes one request body may hold (default 1 MiB).
	MaxPayloadSize int
}

func (b *Bulk) limits() (ops, payload int) {
	ops, payload = 1000, 1<<20
	if b.MaxOperations > 0 {
		ops = b.MaxOperations
	}
	if b.MaxPayloadSize > 0 {
		payload = b.MaxPayloadSize
	}
	return ops, payload
}

// bulkOp is one operation of a request; Data stays raw until its bulkId references are resolved.
type bulkOp struct {
	Method string          `json:"method"`
	BulkID string          `json:"bulkId,omitempty"`
	Path   string          `json:"path"`
	Data   json.RawMessage `json:"data,omitempty"`
}

type bulkRequest struct {
	Schemas      []string `json:"schemas"`
	FailOnErrors int      `json:"failOnErrors"`
	Operations   []bulkOp `json:"Operations"`
}

// bulkResult is one entry of the answer's Operations.
type bulkResult struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId,omitempty"`
	Location string          `json:"location,omitempty"`
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response,omitempty"`
}

func (s *Server) serveBulk(w http.ResponseWriter, r *http.Request, base string) {
	if s.opts.Bulk == nil {
		writeError(w, errf(http.StatusNotImplemented, "", "Bulk is not supported"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, errf(http.StatusMethodNotAllowed, "", "%s not allowed on /Bulk", r.Method))
		return
	}
	maxOps, maxBytes := s.opts.Bulk.limits()
	raw, err := io.ReadAll(io.LimitReader(r.Body, int64(maxBytes)+1))
	if err != nil {
		writeError(w, errf(http.StatusBadRequest, "invalidSyntax", "read body: %v", err))
		return
	}
	if len(raw) > maxBytes {
		writeError(w, errf(http.StatusRequestEntityTooLarge, "",
			"The size of the bulk operation exceeds the maxPayloadSize (%d).", maxBytes))
		return
	}
	var req bulkRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		writeError(w, errf(http.StatusBadRequest, "invalidSyntax", "body is not a BulkRequest: %v", err))
		return
	}
	if !filter.ContainsFold(req.Schemas, scimclient.SchemaBulkRequest) {
		writeError(w, errf(http.StatusBadRequest, "invalidSyntax", "schemas must name %s", scimclient.SchemaBulkRequest))
		return
	}
	if len(req.Operations) > maxOps {
		writeError(w, errf(http.StatusRequestEntityTooLarge, "",
			"The number of operations (%d) exceeds the maxOperations (%d).", len(req.Operations), maxOps))
		return
	}
	seen := map[string]bool{}
	for i, op := range req.Operations {
		if op.BulkID == "" {
			continue
		}
		if seen[op.BulkID] {
			writeError(w, errf(http.StatusBadRequest, "invalidValue", "Operations[%d]: bulkId %q is not unique", i, op.BulkID))
			return
		}
		seen[op.BulkID] = true
	}
	results := s.runBulk(r, req, base)
	writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{SchemaBulkResponse}, "Operations": results})
}

// runBulk applies the operations in order. An operation that references the bulkId of one not yet
// run waits for it (the RFC lets references point forward); references that never resolve, because
// they are circular or their operation failed, answer 409. Processing stops once failOnErrors
// operations have failed; the rest get no result.
func (s *Server) runBulk(r *http.Request, req bulkRequest, base string) []bulkResult {
	ids := map[string]string{}  // bulkId -> created id
	failed := map[string]bool{} // bulkId -> its operation failed
	pending := make([]int, 0, len(req.Operations))
	for i := range req.Operations {
		pending = append(pending, i)
	}
	results := make([]bulkResult, 0, len(req.Operations))
	errorsSeen := 0
	for len(pending) > 0 {
		var wait []int
		for _, i := range pending {
			if req.FailOnErrors > 0 && errorsSeen >= req.FailOnErrors {
				return results
			}
			op := req.Operations[i]
			data, missing, dead := resolveRefs(op.Data, ids, failed)
			if missing != "" && !dead {
				wait = append(wait, i)
				continue
			}
			var res bulkResult
			if missing != "" {
				res = bulkError(op, errf(http.StatusConflict, "invalidValue",
					"bulkId %q cannot be resolved: its operation failed", missing))
			} else {
				res = s.bulkOne(r, op, data, base)
			}
			if code, _ := strconv.Atoi(res.Status); code >= 400 {
				errorsSeen++
				if op.BulkID != "" {
					failed[op.BulkID] = true
				}
			} else if op.BulkID != "" && op.Method == http.MethodPost {
				ids[op.BulkID] = res.Location[strings.LastIndexByte(res.Location, '/')+1:]
			}
			results = append(results, res)
		}
		if len(wait) == len(pending) {
			// No operation could run: the remaining references are circular or point at nothing.
			for _, i := range wait {
				op := req.Operations[i]
				_, missing, _ := resolveRefs(op.Data, ids, failed)
				results = append(results, bulkError(op, errf(http.StatusConflict, "invalidValue",
					"bulkId %q cannot be resolved", missing)))
				if op.BulkID != "" {
					failed[op.BulkID] = true
				}
			}
			return results
		}
		pending = wait
	}
	return results
}

// resolveRefs replaces "bulkId:X" strings in data by the ids created so far. missing is the first
// reference not resolved; dead tells that its operation failed (or does not exist), so it never will be.
func resolveRefs(data json.RawMessage, ids map[string]string, failed map[string]bool) (out json.RawMessage, missing string, dead bool) {
	out = data
	rest := data
	for {
		i := bytes.Index(rest, []byte(`"`+scimclient.BulkRef))
		if i < 0 {
			return out, "", false
		}
		rest = rest[i+1+len(scimclient.BulkRef):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return out, "", false
		}
		ref := string(rest[:end])
		id, ok := ids[ref]
		if !ok {
			return nil, ref, failed[ref]
		}
		out = bytes.ReplaceAll(out, []byte(`"`+scimclient.BulkRef+ref+`"`), []byte(strconv.Quote(id)))
	}
}

// bulkOne runs one operation through the ordinary handlers, so it behaves exactly as the single
// request would, and turns the answer into its result.
func (s *Server) bulkOne(r *http.Request, op bulkOp, data json.RawMessage, base string) bulkResult {
	switch op.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return bulkError(op, errf(http.StatusBadRequest, "invalidValue", "method %q is not allowed in Bulk", op.Method))
	}
	segs := strings.Split(strings.Trim(op.Path, "/"), "/")
	if (segs[0] != "Users" && segs[0] != "Groups") || len(segs) > 2 {
		return bulkError(op, errf(http.StatusBadRequest, "invalidValue", "path %q is not a resource path", op.Path))
	}
	id := ""
	if len(segs) == 2 {
		id = segs[1]
	}
	if (op.Method == http.MethodPost) != (id == "") {
		return bulkError(op, errf(http.StatusBadRequest, "invalidValue", "%s needs %s", op.Method,
			map[bool]string{true: "a resource type endpoint", false: "a resource path"}[op.Method == http.MethodPost]))
	}
	if op.Method == http.MethodPost && op.BulkID == "" {
		return bulkError(op, errf(http.StatusBadRequest, "invalidValue", "POST needs a bulkId"))
	}
	var body io.Reader
	if len(data) > 0 {
		body = bytes.NewReader(data)
	}
	sub := httptest.NewRequestWithContext(r.Context(), op.Method, base+"/"+strings.Join(segs, "/"), body)
	sub.Header.Set("Content-Type", "application/scim+json")
	rec := httptest.NewRecorder()
	s.route(rec, sub, segs[0], id, base)
	res := bulkResult{Method: op.Method, BulkID: op.BulkID, Status: strconv.Itoa(rec.Code)}
	switch {
	case rec.Code >= 400:
		res.Response = rec.Body.Bytes()
	case op.Method == http.MethodPost:
		res.Location = rec.Header().Get("Location")
	default:
		res.Location = base + "/" + segs[0] + "/" + id
	}
	return res
}

func bulkError(op bulkOp, e *apiError) bulkResult {
	rec := httptest.NewRecorder()
	writeError(rec, e)
	return bulkResult{Method: op.Method, BulkID: op.BulkID, Status: strconv.Itoa(e.status), Response: rec.Body.Bytes()}
}
