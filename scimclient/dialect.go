package scimclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/logctx"
	"github.com/scimsync/scimsync/scimclient/internal/body"
)

// scimType values of RFC 7644 §3.12 that a target answers to a PATCH path it cannot apply.
const (
	// ScimTypeNoTarget: the path names no existing value. RFC 7644 §3.5.2.1 prescribes it for an add
	// on a value-filtered path that matches nothing, which is what Entra sends for a first work phone.
	ScimTypeNoTarget = "noTarget"
	// ScimTypeInvalidPath: the path is not valid for the operation; some strict servers answer this
	// instead of noTarget for the same add.
	ScimTypeInvalidPath = "invalidPath"
)

// IsPathRejected reports whether err is a 400 whose scimType says the target could not apply a PATCH
// path (noTarget or invalidPath), the answer that makes UpdateUser try the element form.
func IsPathRejected(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
		return false
	}
	return strings.EqualFold(e.ScimType, ScimTypeNoTarget) || strings.EqualFold(e.ScimType, ScimTypeInvalidPath)
}

// Dialect is what a client has learned about its target beyond the configured Mode. Entra's shapes
// come first because most targets were built against them; a target that rejects one of them teaches
// the client once, and the caller keeps the lesson in the job's state (SetDialect seeds it again after
// a restart), so every later PATCH goes out in the accepted shape at the first attempt.
type Dialect struct {
	// ElementAdds: the target rejected an add on a value-filtered path for an element it did not
	// have yet ({"op":"Add","path":"phoneNumbers[type eq \"work\"].value","value":"x"}, 400 noTarget
	// or invalidPath, as RFC 7644 §3.5.2.1 wants) and accepted the same change as a new element of
	// the multi-valued attribute ({"op":"Add","path":"phoneNumbers","value":[{"type":"work",
	// "value":"x"}]}), the shape ModeStrict always sends.
	ElementAdds bool
}

// String describes the dialect for logs and `scimsync status`.
func (d Dialect) String() string {
	if d.ElementAdds {
		return "filtered adds not supported → element form"
	}
	return "as configured"
}

// Dialect returns what the client has learned so far (or was seeded with).
func (c *Client) Dialect() Dialect {
	return Dialect{ElementAdds: c.elementAdds.Load()}
}

// SetDialect seeds what an earlier process learned about the same target, so a restart does not pay
// a failing request per object again.
func (c *Client) SetDialect(d Dialect) {
	c.elementAdds.Store(d.ElementAdds)
}

// UpdateUser sends a user's changes as one PATCH, in the client's Mode and learned Dialect. When the
// target answers 400 noTarget or invalidPath to a PATCH that adds on a value-filtered path, the same
// changes are sent once more with those adds as new elements (see Dialect.ElementAdds); if that
// succeeds, the client keeps the element form for every later PATCH and logs the lesson once. If the
// second PATCH fails too, the error wraps both failures, the second first (its kind is the one that
// decides what happens to the object).
func (c *Client) UpdateUser(ctx context.Context, id string, changes []Change) error {
	learned := c.elementAdds.Load()
	err := c.PatchUser(ctx, id, body.BuildPatch(c.mode, learned, changes))
	if err == nil || learned || c.mode == ModeStrict || !IsPathRejected(err) || !body.HasFilteredAdd(changes) {
		return err
	}
	if err2 := c.PatchUser(ctx, id, body.BuildPatch(c.mode, true, changes)); err2 != nil {
		return fmt.Errorf("%w (sent again with new elements after the filtered-path form failed: %w)", err2, err)
	}
	if c.elementAdds.CompareAndSwap(false, true) {
		logctx.Logger(ctx, c.log).Info("the target rejects adds on value-filtered paths; new multi-value elements are sent whole from now on",
			zap.String("dialect", Dialect{ElementAdds: true}.String()), zap.String("path", "/Users/"+id),
			zap.String("rejected", err.Error()))
	}
	return nil
}
