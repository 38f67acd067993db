// Package wire reads what a SCIM target sends back, leniently where targets differ (numbers as
// strings, "resources" in lower case, SCIM 1.1's status objects), and holds the retry policy that
// decides from an answer whether a request may be sent again.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimsync/scimsync/scimclient/internal/body"
	"github.com/scimsync/scimsync/scimclient/internal/jsonmap"
)

// The media types of SCIM (RFC 7644 §8.1) and plain JSON, which many targets answer with.
const (
	MediaTypeSCIM = "application/scim+json"
	MediaTypeJSON = "application/json"
)

// RedirectDetail names where a 3xx pointed, without its query (which may carry a signed token), so the
// admin can fix the tenant URL.
func RedirectDetail(loc string) string {
	const fix = "; redirects are not followed: set target.url to the SCIM base URL itself"
	u, err := url.Parse(loc)
	if loc == "" || err != nil {
		return "redirect without a usable Location" + fix
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return Truncate("redirect to "+u.String(), 300) + fix
}

// JSONContentType reports whether a Content-Type header names SCIM's or plain JSON's media type.
func JSONContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == MediaTypeSCIM || mt == MediaTypeJSON
}

// TransportDetail shortens a transport error to its cause. url.Error would repeat the full URL, which is
// already in Error.Path; it never contains the token, which travels in a header.
func TransportDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// ParseSCIMError reads an RFC 7644 §3.12 error body; status may be a string or a number and detail is
// optional, so anything unparseable just yields a short excerpt as the detail.
func ParseSCIMError(raw []byte) (scimType, detail string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", ""
	}
	var e struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
		Message  string `json:"message"`
	}
	if err := json.Unmarshal(raw, &e); err == nil {
		if e.Detail == "" {
			e.Detail = e.Message
		}
		return e.ScimType, Truncate(e.Detail, 500)
	}
	return "", Truncate(string(raw), 200)
}

// Truncate trims s and cuts it to n bytes, marking the cut.
func Truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Retryable decides whether a failed attempt may be repeated. A POST is retried only when the target
// certainly did not create anything: 429 and 503 (the server refused the work) and a refused connection
// (the request never arrived). After a lost answer or a 500 the user may exist already, and a blind
// retry could create a duplicate; the engine instead matches by userName again in its next step.
// refused reports a connection-refused transport error; status is 0 for transport errors.
func Retryable(method string, status int, transport, refused bool) bool {
	if method == http.MethodPost {
		return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || (transport && refused)
	}
	if transport {
		return true
	}
	switch status {
	case http.StatusTooManyRequests, http.StatusRequestTimeout:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500
}

// ParseRetryAfter reads a Retry-After header: delta-seconds or an HTTP date. Absent or unparseable is 0.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > 24*3600 {
			secs = 24 * 3600
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// ListResponse is a SCIM ListResponse (RFC 7644 §3.4.2), read leniently.
type ListResponse struct {
	Total        FlexInt         `json:"totalResults"`
	StartIndex   FlexInt         `json:"startIndex"`
	ItemsPerPage FlexInt         `json:"itemsPerPage"`
	Resources    []body.Resource `json:"Resources"`
	HasResources bool            `json:"-"` // the answer had a Resources member, even an empty one
}

// UnmarshalJSON matches member names case-insensitively: some targets send "resources".
func (l *ListResponse) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for k, v := range raw {
		var err error
		switch strings.ToLower(k) {
		case "totalresults":
			err = json.Unmarshal(v, &l.Total)
		case "startindex":
			err = json.Unmarshal(v, &l.StartIndex)
		case "itemsperpage":
			err = json.Unmarshal(v, &l.ItemsPerPage)
		case "resources":
			l.HasResources = string(v) != "null"
			l.Resources, err = resources(v)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// resources decodes a page's Resources as json.Unmarshal would into []body.Resource, through
// jsonmap.DecodeObjects (about three times faster): the strings of all of them share one copy of v,
// so whatever keeps a few resources beyond the page should copy them (sync/match does).
func resources(v []byte) ([]body.Resource, error) {
	ms, err := jsonmap.DecodeObjects(v)
	if err != nil || ms == nil {
		return nil, err
	}
	out := make([]body.Resource, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out, nil
}

// FlexInt is an integer a target may send as a number or a string.
type FlexInt int

// UnmarshalJSON accepts 3 and "3".
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	*f = FlexInt(n)
	return nil
}

// FlexBool accepts true and "true" (some targets send strings).
type FlexBool bool

// UnmarshalJSON accepts true, "true" and null.
func (f *FlexBool) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseBool(strings.Trim(string(b), `"`))
	*f = FlexBool(v)
	if string(b) == "null" {
		return nil
	}
	return err
}

// ValidBulkID reports whether s is a bulkId scimclient accepts: letters, digits, '.', '_' and '-'.
func ValidBulkID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// BulkRef prefixes a value that stands for the id of the resource another operation of the same Bulk
// call creates.
const BulkRef = "bulkId:"

// BulkRefs lists the bulkIds data references, in order, each once.
func BulkRefs(data []byte) []string {
	var refs []string
	marker := []byte(`"` + BulkRef)
	for rest := data; ; {
		i := bytes.Index(rest, marker)
		if i < 0 {
			return refs
		}
		rest = rest[i+len(marker):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return refs
		}
		ref := string(rest[:end])
		if !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
		rest = rest[end:]
	}
}

// BulkResponseOp is one entry of a BulkResponse's Operations.
type BulkResponseOp struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId"`
	Location string          `json:"location"`
	Status   BulkStatus      `json:"status"`
	Response json.RawMessage `json:"response"`
}

// BulkStatus accepts "201", 201 and SCIM 1.1's {"code": "201"}.
type BulkStatus int

// UnmarshalJSON reads each of the three forms.
func (s *BulkStatus) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		var v struct {
			Code FlexInt `json:"code"`
		}
		err := json.Unmarshal(b, &v)
		*s = BulkStatus(v.Code)
		return err
	}
	var n FlexInt
	err := n.UnmarshalJSON(b)
	*s = BulkStatus(n)
	return err
}

// CreatedID is the id of a created resource: from its response body when the target sent one, else
// the last segment of its location.
func CreatedID(r BulkResponseOp) string {
	if len(r.Response) > 0 {
		var res struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(r.Response, &res) == nil && res.ID != "" {
			return res.ID
		}
	}
	loc := strings.TrimRight(r.Location, "/")
	if j := strings.LastIndexByte(loc, '/'); j >= 0 && j < len(loc)-1 {
		id, err := url.PathUnescape(loc[j+1:])
		if err == nil {
			return id
		}
	}
	return ""
}
