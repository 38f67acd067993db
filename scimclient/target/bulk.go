package target

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/scimclient/internal/body"
	"github.com/scimsync/scimsync/sync/plan"
)

// bulkUse is a target's use of SCIM Bulk (RFC 7644 §3.7): off unless the job allows it, and then only
// when the target's ServiceProviderConfig says bulk.supported, asked once per target.
type bulkUse struct {
	once sync.Once
	lim  scimclient.BulkLimits
	err  error
}

// limits asks the ServiceProviderConfig once; a target that cannot say (an error, no Bulk, no
// limits) gets one request per write, as Entra sends them.
func (b *bulkUse) limits(ctx context.Context, c *scimclient.Client) (scimclient.BulkLimits, bool) {
	if b == nil {
		return scimclient.BulkLimits{}, false
	}
	b.once.Do(func() { b.lim, b.err = c.BulkLimits(ctx) })
	return b.lim, b.err == nil && b.lim.Supported // BulkLimits counts Bulk as supported only with both limits
}

// WithBulk is the client's users and groups whose writes may go in SCIM Bulk requests when the target
// offers Bulk (target.bulk, default on; docs/scim.md#bulk). Both share one look at the target's
// ServiceProviderConfig, made at the first batch: keep them for the job's life, not per cycle.
func WithBulk(c *scimclient.Client) (UserTarget, GroupTarget) {
	b := &bulkUse{}
	return UserTarget{c: c, bulk: b}, GroupTarget{c: c, bulk: b}
}

// Batching reports whether Batch sends Bulk requests: Bulk on and offered by the target.
func (t UserTarget) Batching(ctx context.Context) bool { _, ok := t.bulk.limits(ctx, t.c); return ok }

// Batching reports whether Batch sends Bulk requests: Bulk on and offered by the target.
func (t GroupTarget) Batching(ctx context.Context) bool { _, ok := t.bulk.limits(ctx, t.c); return ok }

// Batch sends writes in Bulk requests within the target's limits; ok is false when Bulk is off or the
// target does not offer it (the engine then sends them one by one). A PATCH the target refuses for
// its value-filtered paths is sent again alone through UpdateUser, which learns the dialect, so Bulk
// and single requests end alike.
func (t UserTarget) Batch(ctx context.Context, ws []plan.Write) ([]plan.WriteResult, bool) {
	lim, ok := t.bulk.limits(ctx, t.c)
	if !ok {
		return nil, false
	}
	learned := t.c.Dialect().ElementAdds
	out, ok := batch(ctx, t.c, lim, "/Users", ws, func(v map[string]any) scimclient.Resource { return scimclient.BuildUser(v) },
		func(ch []scimclient.Change) []scimclient.PatchOp { return body.BuildPatch(t.c.Mode(), learned, ch) })
	if !ok {
		return nil, false
	}
	for i, w := range ws {
		if w.Op == plan.Update && !learned && t.c.Mode() != scimclient.ModeStrict && scimclient.IsPathRejected(out[i].Err) && body.HasFilteredAdd(toChanges(w.Attrs)) {
			out[i].Err = t.c.UpdateUser(ctx, w.TargetID, toChanges(w.Attrs))
		}
	}
	return out, true
}

// Batch sends the groups' writes in Bulk requests; see UserTarget.Batch. Member changes keep their own
// PATCHes (sync/members), which hold the write-ahead escrow per group.
func (t GroupTarget) Batch(ctx context.Context, ws []plan.Write) ([]plan.WriteResult, bool) {
	lim, ok := t.bulk.limits(ctx, t.c)
	if !ok {
		return nil, false
	}
	return batch(ctx, t.c, lim, "/Groups", ws, func(v map[string]any) scimclient.Resource { return scimclient.BuildGroup(v) },
		func(ch []scimclient.Change) []scimclient.PatchOp { return scimclient.GroupPatch(t.c.Mode(), ch) })
}

// errBulkWrite is a write the engine should not have handed over (an unknown op, a missing id).
var errBulkWrite = errors.New("scim bulk: not a create, update or delete with an id")

// batch turns writes into Bulk operations of coll and their results back into the engine's terms.
func batch(ctx context.Context, c *scimclient.Client, lim scimclient.BulkLimits, coll string, ws []plan.Write,
	build func(map[string]any) scimclient.Resource, patch func([]scimclient.Change) []scimclient.PatchOp) ([]plan.WriteResult, bool) {
	out := make([]plan.WriteResult, len(ws))
	ops := make([]scimclient.BulkOp, 0, len(ws))
	idx := make([]int, 0, len(ws))
	for i, w := range ws {
		var op scimclient.BulkOp
		switch {
		case w.Op == plan.Create:
			op = scimclient.BulkOp{Method: http.MethodPost, Path: coll, BulkID: "create-" + strconv.Itoa(i), Data: build(w.Values)}
		case w.Op == plan.Update && w.TargetID != "":
			ops := patch(toChanges(w.Attrs))
			if len(ops) == 0 {
				continue // nothing to send, as a single PATCH sends nothing
			}
			op = scimclient.BulkOp{Method: http.MethodPatch, Path: coll + "/" + url.PathEscape(w.TargetID), Data: scimclient.PatchBody(ops)}
		case w.Op == plan.Delete && w.TargetID != "":
			op = scimclient.BulkOp{Method: http.MethodDelete, Path: coll + "/" + url.PathEscape(w.TargetID)}
		default:
			out[i].Err = errBulkWrite
			continue
		}
		ops = append(ops, op)
		idx = append(idx, i)
	}
	if len(ops) == 0 {
		return out, true
	}
	res, err := c.Bulk(ctx, lim, ops)
	if err != nil {
		return nil, false // a call that cannot be made (an invalid body): one request per write instead
	}
	for j, r := range res {
		i := idx[j]
		out[i].Err = r.Err
		if ws[i].Op == plan.Create && r.Err == nil {
			out[i].TargetID = r.ID
		}
	}
	return out, true
}
