package scimclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/scimsync/scimsync/scimclient/internal/body"
	"github.com/scimsync/scimsync/scimclient/internal/jsonmap"
	"github.com/scimsync/scimsync/scimclient/internal/wire"
)

// Resource is a SCIM resource as decoded JSON: a map, so attributes and extensions we do not know
// about survive a round trip.
type Resource = body.Resource

// PatchOp is one operation of a PATCH request (RFC 7644 §3.5.2).
type PatchOp = body.PatchOp

// PatchBody wraps ops in the PatchOp message; exported so tests and golden files use the same shape.
func PatchBody(ops []PatchOp) map[string]any { return body.PatchBody(ops) }

const (
	usersPath  = "/Users"
	groupsPath = "/Groups"
)

// FindUsers looks users up by one matching attribute, as Entra does before creating: GET
// /Users?filter=<attrPath> eq "<value>". A path with a value filter is sent in the RFC-valid form
// emails[type eq "work" and value eq "x"]. All pages are followed, so the engine can report
// DuplicateTargetEntries when more than one comes back.
func (c *Client) FindUsers(ctx context.Context, attrPath, value string) ([]Resource, error) {
	f, err := FilterEq(attrPath, value)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	return c.find(ctx, usersPath, url.Values{"filter": {f}})
}

// FindGroups looks groups up by displayName, the only group matching attribute Entra uses, without members
// (a target that returned them would make the answer huge, and Entra treats it as an error).
func (c *Client) FindGroups(ctx context.Context, displayName string) ([]Resource, error) {
	f, _ := FilterEq("displayName", displayName)
	return c.find(ctx, groupsPath, url.Values{"excludedAttributes": {"members"}, "filter": {f}})
}

// HasMember asks whether a group contains a user, with the query Entra sends before membership changes:
// GET /Groups?excludedAttributes=members&filter=id eq "g" and members[value eq "u"].
func (c *Client) HasMember(ctx context.Context, groupID, userID string) (bool, error) {
	f := "id eq " + Quote(groupID) + " and members[value eq " + Quote(userID) + "]"
	rs, err := c.find(ctx, groupsPath, url.Values{"excludedAttributes": {"members"}, "filter": {f}})
	if err != nil {
		return false, err
	}
	return len(rs) > 0, nil
}

// TestConnection is Entra's Test Connection: it queries for a user that cannot exist (a random GUID as the
// matching attribute) and expects 200 with an empty ListResponse. This checks URL, token and filtering in
// one request without touching data. A 404 is ErrCompliance, as in Entra's quarantine reason.
func (c *Client) TestConnection(ctx context.Context, matchAttr string) error {
	if matchAttr == "" {
		matchAttr = "userName"
	}
	rs, err := c.FindUsers(ctx, matchAttr, uuid.NewString())
	if err != nil {
		return fmt.Errorf("test connection: %w", err)
	}
	if len(rs) > 0 {
		return fmt.Errorf("test connection: %w", &Error{Kind: ErrCompliance, Status: http.StatusOK, Method: http.MethodGet,
			Path: usersPath, Detail: fmt.Sprintf("filter on a random %s returned %d resources", matchAttr, len(rs))})
	}
	return nil
}

// GetUser reads one user by its target id.
func (c *Client) GetUser(ctx context.Context, id string) (Resource, error) {
	return c.get(ctx, usersPath, id, nil)
}

// GetGroup reads one group by its target id, without members (as Entra does).
func (c *Client) GetGroup(ctx context.Context, id string) (Resource, error) {
	return c.get(ctx, groupsPath, id, url.Values{"excludedAttributes": {"members"}})
}

// GroupMembers reads the member ids a group holds, one entry per occurrence (a target that accepted the
// same member twice lists it twice), with GET /Groups/{id}. returned is false when the target left the
// members attribute out of its answer: Entra does not require targets to return members, so the caller
// must then ask member by member (HasMember) instead of reading an absence as an empty group.
func (c *Client) GroupMembers(ctx context.Context, id string) (ids []string, returned bool, err error) {
	r, err := c.get(ctx, groupsPath, id, nil)
	if err != nil {
		return nil, false, err
	}
	raw, ok := r["members"]
	if !ok || raw == nil {
		return nil, false, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, false, fmt.Errorf("read members of group %s: %w", id, &Error{Kind: ErrCompliance, Status: http.StatusOK,
			Method: http.MethodGet, Path: groupsPath + "/" + id, Detail: fmt.Sprintf("members is a %T, not a list", raw)})
	}
	for _, m := range list {
		obj, ok := m.(map[string]any)
		if !ok {
			continue
		}
		if v, ok := obj["value"].(string); ok && v != "" {
			ids = append(ids, v)
		}
	}
	return ids, true, nil
}

// CreateUser posts a user (see BuildUser) and returns the created resource, whose id the engine caches as
// the anchor. A 409 means the user exists already: match it instead.
func (c *Client) CreateUser(ctx context.Context, r Resource) (Resource, error) {
	return c.create(ctx, usersPath, r)
}

// CreateUserID is CreateUser for a caller that needs only the new user's id: it spares decoding the
// rest of the answer.
func (c *Client) CreateUserID(ctx context.Context, r Resource) (string, error) {
	return c.createID(ctx, usersPath, r)
}

// CreateUserValues is CreateUserID(ctx, BuildUser(values)), with the body encoded straight from the
// values (the same bytes, without BuildUser's maps) where body.AppendUser takes them.
func (c *Client) CreateUserValues(ctx context.Context, values map[string]any) (string, error) {
	if b, ok := body.AppendUser(make([]byte, 0, 1024), values); ok {
		return c.createID(ctx, usersPath, json.RawMessage(b))
	}
	return c.createID(ctx, usersPath, BuildUser(values))
}

// CreateGroupID is CreateGroup returning only the new group's id.
func (c *Client) CreateGroupID(ctx context.Context, r Resource) (string, error) {
	return c.createID(ctx, groupsPath, r)
}

// CreateGroup posts a group (see BuildGroup); members are added afterwards by PATCH, as Entra does.
func (c *Client) CreateGroup(ctx context.Context, r Resource) (Resource, error) {
	return c.create(ctx, groupsPath, r)
}

// PatchUser applies ops (see UserPatch) to a user. 200 with a body and 204 are both success; the body is
// not needed because the engine already knows what it sent.
func (c *Client) PatchUser(ctx context.Context, id string, ops []PatchOp) error {
	return c.patch(ctx, usersPath, id, ops)
}

// PatchGroup applies ops (see GroupPatch, MembersAdd, MembersRemove) to a group.
func (c *Client) PatchGroup(ctx context.Context, id string, ops []PatchOp) error {
	return c.patch(ctx, groupsPath, id, ops)
}

// DeleteUser hard-deletes a user. Entra disables (active=false) by default and deletes only when told, so
// the engine calls this only for a delete action.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.delete(ctx, usersPath, id)
}

// DeleteGroup deletes a group.
func (c *Client) DeleteGroup(ctx context.Context, id string) error {
	return c.delete(ctx, groupsPath, id)
}

// ListUsers walks all users with startIndex/count paging, for an initial cycle where one listing is cheaper
// than one filter query per object. fn's error stops the walk and is returned as is.
func (c *Client) ListUsers(ctx context.Context, pageSize int, fn func(Resource) error) error {
	return c.list(ctx, usersPath, nil, pageSize, fn)
}

// ListGroups walks all groups, without members.
func (c *Client) ListGroups(ctx context.Context, pageSize int, fn func(Resource) error) error {
	return c.list(ctx, groupsPath, url.Values{"excludedAttributes": {"members"}}, pageSize, fn)
}

func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, "/?#") {
		return fmt.Errorf("invalid resource id %q", id)
	}
	return nil
}

func (c *Client) get(ctx context.Context, coll, id string, q url.Values) (Resource, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("GET %s: %w", coll, err)
	}
	rq := &request{method: http.MethodGet, path: coll + "/" + url.PathEscape(id), query: q}
	res, err := c.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	return c.decodeResource(rq, res, "resource")
}

func (c *Client) create(ctx context.Context, coll string, r Resource) (Resource, error) {
	rq := &request{method: http.MethodPost, path: coll, body: r}
	res, err := c.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	return c.decodeResource(rq, res, "created resource")
}

func (c *Client) patch(ctx context.Context, coll, id string, ops []PatchOp) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("PATCH %s: %w", coll, err)
	}
	if len(ops) == 0 {
		return nil // nothing to send: an unchanged object costs no request
	}
	rq := &request{method: http.MethodPatch, path: coll + "/" + url.PathEscape(id), body: PatchBody(ops)}
	_, err := c.do(ctx, rq)
	return err
}

func (c *Client) delete(ctx context.Context, coll, id string) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("DELETE %s: %w", coll, err)
	}
	_, err := c.do(ctx, &request{method: http.MethodDelete, path: coll + "/" + url.PathEscape(id)})
	return err
}

// createID posts r and returns only the created object's id, with the checks of decodeResource:
// the engine keeps nothing else of the answer, and reading only the id spares building the map.
func (c *Client) createID(ctx context.Context, coll string, r any) (string, error) {
	const what = "created resource"
	rq := &request{method: http.MethodPost, path: coll, body: r}
	res, err := c.do(ctx, rq)
	if err != nil {
		return "", err
	}
	defer res.free()
	if res.body == nil {
		return "", resourceError(rq, res, what+" missing from the response")
	}
	id, isObject, err := jsonmap.Field(res.body, "id")
	switch {
	case err != nil || !isObject:
		return "", resourceError(rq, res, "unparseable "+what+": "+jsonErr(err))
	case id == "":
		return "", resourceError(rq, res, what+" has no id")
	}
	return id, nil
}

func (c *Client) decodeResource(rq *request, res *response, what string) (Resource, error) {
	if res.body == nil {
		return nil, resourceError(rq, res, what+" missing from the response")
	}
	m, err := jsonmap.Decode(res.body) // json.Unmarshal's result, faster; its strings are copies
	res.free()
	r := Resource(m)
	if err != nil || r == nil {
		return nil, resourceError(rq, res, "unparseable "+what+": "+jsonErr(err))
	}
	if r.ID() == "" {
		return nil, resourceError(rq, res, what+" has no id")
	}
	return r, nil
}

// resourceError is the ErrCompliance of a successful answer that holds no usable resource.
func resourceError(rq *request, res *response, detail string) *Error {
	return &Error{Kind: ErrCompliance, Status: res.status, Method: rq.method, Path: rq.display(), Detail: detail}
}

func jsonErr(err error) string {
	if err == nil {
		return "not an object"
	}
	return err.Error()
}

// wire.ListResponse is RFC 7644 §3.4.2. Numbers are decoded leniently because some targets send them as strings.
func (c *Client) fetchPage(ctx context.Context, rq *request) (*wire.ListResponse, error) {
	res, err := c.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	var l wire.ListResponse
	if res.body == nil {
		return nil, &Error{Kind: ErrCompliance, Status: res.status, Method: rq.method, Path: rq.display(),
			Detail: "empty body where a ListResponse was expected"}
	}
	// Straight to its UnmarshalJSON, which checks the page as it reads it: json.Unmarshal would scan
	// the whole page once more first, a third of the decoding of a listing of 100,000 accounts.
	if err := l.UnmarshalJSON(res.body); err != nil {
		return nil, &Error{Kind: ErrCompliance, Status: res.status, Method: rq.method, Path: rq.display(),
			Detail: "unparseable ListResponse: " + err.Error()}
	}
	// RFC 7644 makes Resources required only when totalResults is non-zero; a server that leaves it out of
	// an empty answer is compliant and must pass Test Connection.
	if !l.HasResources && l.Total > 0 {
		return nil, &Error{Kind: ErrCompliance, Status: res.status, Method: rq.method, Path: rq.display(),
			Detail: fmt.Sprintf("ListResponse with totalResults %d has no Resources", l.Total)}
	}
	return &l, nil
}

// find runs a filter query and follows paging until totalResults are in hand.
func (c *Client) find(ctx context.Context, coll string, q url.Values) ([]Resource, error) {
	var out []Resource
	err := c.walk(ctx, coll, q, 0, true, func(r Resource) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

func (c *Client) list(ctx context.Context, coll string, q url.Values, pageSize int, fn func(Resource) error) error {
	if pageSize <= 0 {
		pageSize = 100
	}
	return c.walk(ctx, coll, q, pageSize, false, fn)
}

// walk pages through a collection with startIndex/count (RFC 7644 §3.4.2.4) and refuses to follow a
// server that makes no progress, because the engine matches against the listing: a listing cut short
// silently would look like missing accounts, and one that never ends stalls the cycle. Limits:
//   - a page with no resources while its own totalResults says more remain (itemsPerPage 0 included);
//   - a page whose resources were all seen on earlier pages (a server ignoring startIndex); single
//     repeats are skipped, as an account created during the walk shifts index-based pages by one;
//   - a page whose startIndex does not advance past the previous page's;
//   - more pages than the first page promised: ceil(totalResults / its resource count), doubled plus
//     listPageSlack for accounts created during the walk, and never more than maxPages.
func (c *Client) walk(ctx context.Context, coll string, base url.Values, pageSize int, filter bool, fn func(Resource) error) error {
	start, seen := 1, map[string]bool{}
	limit, prevStart := 1, 0
	for page := 1; page <= limit; page++ {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		if start > 1 || pageSize > 0 {
			q.Set("startIndex", strconv.Itoa(start))
		}
		if pageSize > 0 {
			q.Set("count", strconv.Itoa(pageSize))
		}
		rq := &request{method: http.MethodGet, path: coll, query: q, filterQuery: filter}
		l, err := c.fetchPage(ctx, rq)
		if err != nil {
			return err
		}
		stuck := func(why string) error {
			return &Error{Kind: ErrCompliance, Status: http.StatusOK, Method: rq.method, Path: rq.display(),
				Detail: fmt.Sprintf("paging %s of %s stopped at page %d (startIndex %d): %s", coll, redactURL(c.base), page, start, why)}
		}
		n := len(l.Resources)
		if n == 0 {
			if start-1 < int(l.Total) {
				return stuck(fmt.Sprintf("no resources (itemsPerPage %d) although totalResults is %d", l.ItemsPerPage, l.Total))
			}
			return nil
		}
		if page > 1 && l.StartIndex != 0 && int(l.StartIndex) <= prevStart {
			return stuck(fmt.Sprintf("the answer's startIndex %d does not advance past the previous page's %d", l.StartIndex, prevStart))
		}
		prevStart = max(int(l.StartIndex), start)
		fresh := 0
		for _, r := range l.Resources {
			id := r.ID()
			if id == "" {
				return &Error{Kind: ErrCompliance, Status: http.StatusOK, Method: rq.method, Path: rq.display(),
					Detail: "a listed resource has no id"}
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			fresh++
			if err := fn(r); err != nil {
				return err
			}
		}
		if fresh == 0 {
			return stuck(fmt.Sprintf("all %d resources were on earlier pages", n))
		}
		if start-1+n >= int(l.Total) {
			return nil
		}
		if page == 1 {
			need := (int(l.Total) + n - 1) / n
			if need > maxPages {
				return stuck(fmt.Sprintf("totalResults %d at %d resources a page needs %d pages, more than the %d allowed", l.Total, n, need, maxPages))
			}
			limit = min(2*need+listPageSlack, maxPages)
		}
		start += n
	}
	return &Error{Kind: ErrCompliance, Status: http.StatusOK, Method: http.MethodGet, Path: coll,
		Detail: fmt.Sprintf("paging %s of %s stopped after %d pages: more than its first page's totalResults allow", coll, redactURL(c.base), limit)}
}
