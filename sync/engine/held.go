package engine

import (
	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/record"
)

// HeldObjects describes the operations the deletion threshold staged (see record.HeldObjects).
func HeldObjects(st store.State, ops []store.StagedOp) []notify.HeldObject {
	return record.HeldObjects(st, ops)
}
