package record

import (
	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/store"
)

// LinkReader reads one stored link.
type LinkReader interface {
	Link(kind store.Kind, sourceID string) (store.Link, bool, error)
}

// HeldObjects describes the operations the deletion threshold staged, by the names the target knows
// them by, so that the email and `allow-deletes` show an admin what releasing them would do. An
// operation whose link is gone (the object was deleted meanwhile) is shown by its source id.
func HeldObjects(st LinkReader, ops []store.StagedOp) []notify.HeldObject {
	out := make([]notify.HeldObject, 0, len(ops))
	for _, op := range ops {
		h := notify.HeldObject{Kind: "user", SourceID: op.SourceID, Op: op.Op, Unmanage: op.Unmanage, Identity: op.SourceID}
		if op.Kind == store.KindGroup {
			h.Kind = "group"
		}
		if a, ok, err := st.Link(op.Kind, op.SourceID); err == nil && ok {
			if op.Kind == store.KindGroup {
				h.Identity = GroupName(a)
			} else {
				h.Identity = UserName(a)
			}
		}
		out = append(out, h)
	}
	return out
}
