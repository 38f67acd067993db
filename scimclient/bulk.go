package scimclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/scimsync/scimsync/scimclient/internal/wire"
)

// SCIM Bulk (RFC 7644 §3.7, https://www.rfc-editor.org/rfc/rfc7644#section-3.7): many writes in one
// request. Entra never sends Bulk; a target that advertises it in ServiceProviderConfig takes far
// fewer round trips. Each operation's outcome is reported as the single request would have been, so
// a caller escrows, re-matches or quarantines a failed operation exactly as it does a failed request.

// Message schemas of a Bulk request.
const (
	SchemaBulkRequest = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	// BulkRef prefixes a value that stands for the id of the resource another operation of the same
	// Bulk call creates, e.g. a member "bulkId:u1" added to a group in the call that creates user u1.
	BulkRef = wire.BulkRef
)

// ErrBulkReference is wrapped (beside the kind) by the error of an operation that was not sent
// because a bulkId it references belongs to an operation that failed or comes later.
var ErrBulkReference = errors.New("scim: unresolvable bulkId reference")

// BulkLimits is what the target's ServiceProviderConfig says about Bulk.
type BulkLimits struct {
	Supported      bool
	MaxOperations  int
	MaxPayloadSize int // bytes
}

// BulkOp is one write of a Bulk call.
type BulkOp struct {
	Method string // POST, PUT, PATCH or DELETE
	Path   string // "/Users" for a POST, "/Users/{id}" or "/Groups/{id}" otherwise
	// BulkID is required for a POST (RFC 7644) and lets later operations reference the new resource
	// as BulkRef+BulkID; letters, digits, '.', '_' and '-' only, unique within the call.
	BulkID string
	// Data is the body: a Resource for POST and PUT, PatchBody(ops) for PATCH, nil for DELETE.
	Data any
}

// BulkResult is the outcome of the operation at the same index.
type BulkResult struct {
	Status int    // HTTP status of the operation; 0 when it got none
	ID     string // the resource's id: the created one for a POST
	// Err is nil on success, otherwise an *Error of the kind the single request would have given
	// (ErrConflict for a duplicate userName, ErrThrottled with RetryAfter when the whole request was
	// throttled, ErrTransient when the answer was lost).
	Err error
}

// internalBulkID prefixes the bulkIds the client gives operations the caller left without one, so
// every result can be mapped back by bulkId.
const internalBulkID = "scimsync.op."

// bulkEnvelope is the request body around the operations; failOnErrors is left out on purpose, so
// the target runs every operation (RFC 7644 §3.7.3) and each gets its own result.
var (
	bulkHead = []byte(`{"schemas":["` + SchemaBulkRequest + `"],"Operations":[`)
	bulkTail = []byte(`]}`)
)

// BulkLimits reads the target's Bulk support from /ServiceProviderConfig (RFC 7643 §5).
func (c *Client) BulkLimits(ctx context.Context) (BulkLimits, error) {
	rq := &request{method: http.MethodGet, path: "/ServiceProviderConfig"}
	res, err := c.do(ctx, rq)
	if err != nil {
		return BulkLimits{}, err
	}
	var spc struct {
		Bulk struct {
			Supported      wire.FlexBool `json:"supported"`
			MaxOperations  wire.FlexInt  `json:"maxOperations"`
			MaxPayloadSize wire.FlexInt  `json:"maxPayloadSize"`
		} `json:"bulk"`
	}
	if err := json.Unmarshal(res.body, &spc); err != nil {
		return BulkLimits{}, &Error{Kind: ErrCompliance, Status: res.status, Method: rq.method, Path: rq.path,
			Detail: "unparseable ServiceProviderConfig: " + err.Error()}
	}
	b := spc.Bulk
	return BulkLimits{Supported: bool(b.Supported) && b.MaxOperations > 0 && b.MaxPayloadSize > 0,
		MaxOperations: int(b.MaxOperations), MaxPayloadSize: int(b.MaxPayloadSize)}, nil
}

// Bulk sends ops in as few Bulk requests as lim allows (at most MaxOperations operations and
// MaxPayloadSize bytes each), in order, and returns one result per operation. A reference to the
// bulkId of an operation sent in an earlier request is replaced by the id it created. The error is
// only for a call that cannot be made (Bulk unsupported, an invalid operation); failures of the
// target are in the results.
func (c *Client) Bulk(ctx context.Context, lim BulkLimits, ops []BulkOp) ([]BulkResult, error) {
	if !lim.Supported || lim.MaxOperations <= 0 || lim.MaxPayloadSize <= 0 {
		return nil, fmt.Errorf("scim bulk: the target does not support Bulk (%+v)", lim)
	}
	run := &bulkRun{c: c, lim: lim, ops: ops, results: make([]BulkResult, len(ops)), bulkIDs: make([]string, len(ops)),
		created: map[string]string{}, failed: map[string]bool{}, maxOps: lim.MaxOperations}
	if err := run.prepare(); err != nil {
		return nil, err
	}
	for i := 0; i < len(ops); {
		n := run.send(ctx, i)
		i += n
	}
	return run.results, nil
}

// bulkRun is the state of one Bulk call across its requests.
type bulkRun struct {
	c       *Client
	lim     BulkLimits
	ops     []BulkOp
	results []BulkResult
	bulkIDs []string          // as sent, per operation
	created map[string]string // bulkId -> id, for operations already answered
	failed  map[string]bool   // bulkId -> its operation failed
	maxOps  int               // lowered when the target answers 413 despite the advertised limits
}

// prepare checks the operations and gives every one a bulkId.
func (b *bulkRun) prepare() error {
	seen := map[string]bool{}
	for i, op := range b.ops {
		switch op.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			return fmt.Errorf("scim bulk: operation %d: method %q is not POST, PUT, PATCH or DELETE", i, op.Method)
		}
		if !strings.HasPrefix(op.Path, "/") || strings.ContainsAny(op.Path, "\"\\?#") {
			return fmt.Errorf("scim bulk: operation %d: path %q is not a resource path", i, op.Path)
		}
		id := op.BulkID
		switch {
		case id == "" && op.Method == http.MethodPost:
			return fmt.Errorf("scim bulk: operation %d: a POST needs a bulkId", i)
		case id == "":
			id = internalBulkID + strconv.Itoa(i)
		case !wire.ValidBulkID(id) || strings.HasPrefix(id, internalBulkID):
			return fmt.Errorf("scim bulk: operation %d: bulkId %q must be letters, digits, '.', '_' or '-' and not start with %q",
				i, id, internalBulkID)
		}
		if seen[id] {
			return fmt.Errorf("scim bulk: operation %d: bulkId %q is not unique", i, id)
		}
		seen[id] = true
		b.bulkIDs[i] = id
	}
	return nil
}

// send builds one request from the operations from start on, sends it and records the results; it
// returns how many operations it consumed.
func (b *bulkRun) send(ctx context.Context, start int) int {
	for {
		body, idx, consumed := b.build(start)
		if len(idx) == 0 {
			return consumed
		}
		rq := &request{method: http.MethodPost, path: "/Bulk", body: json.RawMessage(body)}
		res, err := b.c.do(ctx, rq)
		var se *Error
		if errors.As(err, &se) && se.Status == http.StatusRequestEntityTooLarge && len(idx) > 1 {
			// The target took less than it advertised: halve and send again.
			b.maxOps = max(1, len(idx)/2)
			continue
		}
		if err != nil {
			for _, i := range idx {
				b.fail(i, requestError(b.ops[i], err))
			}
			return consumed
		}
		b.record(rq, res, idx)
		return consumed
	}
}

// build encodes the next request: operations from start while both limits hold. Operations that
// cannot be sent (a reference to a failed operation, too big alone) get their result here and are
// consumed without being in idx.
func (b *bulkRun) build(start int) (body []byte, idx []int, consumed int) {
	body = append(body, bulkHead...)
	inRequest := map[string]bool{}
	for i := start; i < len(b.ops) && len(idx) < b.maxOps; i++ {
		op, err := b.encode(i, inRequest)
		if err != nil {
			b.fail(i, err)
			consumed = i - start + 1
			continue
		}
		size := len(body) + len(op) + len(bulkTail)
		if len(idx) > 0 {
			size++ // the comma
		}
		if size > b.lim.MaxPayloadSize {
			if len(idx) > 0 {
				break
			}
			b.fail(i, &Error{Kind: ErrInvalid, Status: http.StatusRequestEntityTooLarge, Method: b.ops[i].Method, Path: b.ops[i].Path,
				Detail: fmt.Sprintf("operation of %d bytes does not fit the target's maxPayloadSize of %d", len(op), b.lim.MaxPayloadSize)})
			consumed = i - start + 1
			continue
		}
		if len(idx) > 0 {
			body = append(body, ',')
		}
		body = append(body, op...)
		idx = append(idx, i)
		inRequest[b.bulkIDs[i]] = true
		consumed = i - start + 1
	}
	return append(body, bulkTail...), idx, consumed
}

// encode renders operation i, replacing references to operations answered in earlier requests by
// their ids; a reference to one in the same request is left for the target to resolve.
func (b *bulkRun) encode(i int, inRequest map[string]bool) ([]byte, error) {
	op := b.ops[i]
	var data []byte
	if op.Data != nil {
		var err error
		if data, err = encodeValue(op.Data); err != nil {
			return nil, &Error{Kind: ErrInvalid, Method: op.Method, Path: op.Path, Detail: "encode body: " + err.Error()}
		}
		for _, ref := range wire.BulkRefs(data) {
			switch {
			case b.created[ref] != "":
				data = bytes.ReplaceAll(data, []byte(strconv.Quote(BulkRef+ref)), []byte(strconv.Quote(b.created[ref])))
			case inRequest[ref]:
			case b.failed[ref]:
				return nil, &Error{Kind: ErrConflict, Status: http.StatusConflict, ScimType: "invalidValue", Method: op.Method,
					Path: op.Path, Detail: "bulkId " + ref + " cannot be resolved: its operation failed", cause: ErrBulkReference}
			default:
				return nil, &Error{Kind: ErrInvalid, Method: op.Method, Path: op.Path,
					Detail: "bulkId " + ref + " is not created by an earlier operation", cause: ErrBulkReference}
			}
		}
	}
	out := make([]byte, 0, len(data)+len(op.Path)+len(b.bulkIDs[i])+48)
	out = append(out, `{"method":"`...)
	out = append(out, op.Method...)
	out = append(out, `","bulkId":"`...)
	out = append(out, b.bulkIDs[i]...)
	out = append(out, `","path":`...)
	out = strconv.AppendQuote(out, op.Path) // checked in prepare: no quote or backslash to escape
	if data != nil {
		out = append(out, `,"data":`...)
		out = append(out, data...)
	}
	return append(out, '}'), nil
}

// record maps the answer's results back to the operations sent (idx), by bulkId, else by method and
// order; an operation without a result is reported like a lost answer.
func (b *bulkRun) record(rq *request, res *response, idx []int) {
	var answer struct {
		Operations []wire.BulkResponseOp `json:"Operations"`
	}
	if res.body == nil || json.Unmarshal(res.body, &answer) != nil {
		detail := "the Bulk response is not a BulkResponse"
		for _, i := range idx {
			b.fail(i, &Error{Kind: ErrCompliance, Status: res.status, Method: b.ops[i].Method, Path: b.ops[i].Path, Detail: detail})
		}
		return
	}
	done := make(map[int]bool, len(idx))
	byID := make(map[string]int, len(idx))
	for _, i := range idx {
		byID[b.bulkIDs[i]] = i
	}
	var unmatched []wire.BulkResponseOp
	for _, r := range answer.Operations {
		if i, ok := byID[r.BulkID]; ok && !done[i] {
			done[i] = true
			b.result(i, r)
			continue
		}
		unmatched = append(unmatched, r)
	}
	for _, r := range unmatched {
		for _, i := range idx {
			if !done[i] && strings.EqualFold(b.ops[i].Method, r.Method) {
				done[i] = true
				b.result(i, r)
				break
			}
		}
	}
	for _, i := range idx {
		if !done[i] {
			b.fail(i, &Error{Kind: ErrTransient, Method: b.ops[i].Method, Path: b.ops[i].Path,
				Detail: "the Bulk response holds no result for this operation"})
		}
	}
}

// result records one operation's answer.
func (b *bulkRun) result(i int, r wire.BulkResponseOp) {
	op := b.ops[i]
	status := int(r.Status)
	if status < 200 || status >= 300 {
		e := &Error{Kind: kindForStatus(status), Status: status, Method: op.Method, Path: op.Path}
		if e.Kind == nil {
			e.Kind = ErrCompliance
		}
		e.ScimType, e.Detail = wire.ParseSCIMError(r.Response)
		b.fail(i, e)
		return
	}
	id := ""
	if op.Method == http.MethodPost {
		id = strings.Clone(wire.CreatedID(r)) // kept for the cycle; the response is not
		if id == "" {
			b.fail(i, &Error{Kind: ErrCompliance, Status: status, Method: op.Method, Path: op.Path,
				Detail: "created resource has neither location nor id in the Bulk response"})
			return
		}
		b.created[b.bulkIDs[i]] = id
	} else if j := strings.LastIndexByte(op.Path, '/'); j > 0 {
		id, _ = url.PathUnescape(op.Path[j+1:])
	}
	b.results[i] = BulkResult{Status: status, ID: id}
}

func (b *bulkRun) fail(i int, err error) {
	status := 0
	var se *Error
	if errors.As(err, &se) {
		status = se.Status
	}
	b.results[i] = BulkResult{Status: status, Err: err}
	b.failed[b.bulkIDs[i]] = true
}

// requestError is an operation's share of a failed Bulk request: the request's kind, status and
// Retry-After under the operation's own method and path, so a 429 or a lost answer reads as it would
// for the single request.
func requestError(op BulkOp, err error) error {
	var se *Error
	if !errors.As(err, &se) {
		return fmt.Errorf("%s %s (in a Bulk request): %w", op.Method, op.Path, err)
	}
	e := *se
	e.Method, e.Path = op.Method, op.Path
	e.Detail = strings.TrimSpace("Bulk request: " + se.Detail)
	return &e
}
