package record

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/plan"
)

// Action is what a provisioning-log entry or a failure did to the target object, as Entra's
// provisioning logs name it.
type Action string

// The provisioning-log actions.
const (
	ActionCreate       Action = "Create"
	ActionUpdate       Action = "Update"
	ActionDisable      Action = "Disable"
	ActionDelete       Action = "Delete"
	ActionStagedDelete Action = "StagedDelete"
	ActionOther        Action = "Other"
)

// Provisioning-log statuses, as Entra's provisioning logs name them.
const (
	StatusSuccess = "Success"
	StatusFailure = "Failure"
	StatusSkipped = "Skipped"
	StatusWarning = "Warning"
)

// redacted is how a Redact()ed value shows in logs.
const redacted = "[Redact]"

// Logged reports whether a change goes to the provisioning log. Unchanged objects and deliberate
// skips of objects scimsync does not manage are not logged: the log is for what happened.
func Logged(c plan.Change, staged bool) bool {
	return c.Op != plan.Unchanged && (c.Op != plan.Skip || c.Failed || staged || c.TargetID != "")
}

// Entry describes one change of a cycle for the provisioning log: which steps ran, what changed, and
// why it failed (err, the write's error). On-demand provisioning shows it for every object, even one
// that needs nothing. staged marks a change the deletion threshold held back.
func Entry(cycleID string, at time.Time, kind store.Kind, c plan.Change, err error, staged bool) store.LogEntry {
	name := string(kind)
	le := store.LogEntry{CycleID: cycleID, Time: at, Kind: kind, SourceID: c.SourceID, TargetID: c.TargetID,
		Identity: c.Identity, Status: StatusSuccess, Steps: make([]store.Step, 0, 4)} // an entry has at most four steps
	le.Steps = append(le.Steps, store.Step{Name: "import", Status: "success", Description: "Received " + name + " " + c.Identity + " from Microsoft Graph"})
	scopeStatus := "success"
	scopeText := "In scope: " + orText(c.ScopeReason, "assigned and passed the scoping filters")
	if !c.InScope && c.Op != plan.Delete {
		scopeStatus, scopeText = "skipped", "Not in scope: "+c.ScopeReason
	}
	if c.ScopeReason != "" || c.InScope {
		le.Steps = append(le.Steps, store.Step{Name: "scoping", Status: scopeStatus, Description: scopeText})
	}
	switch {
	case c.Op == plan.Create:
		le.Steps = append(le.Steps, store.Step{Name: "matching", Status: "success", Description: "No matching " + name + " in the target"})
	case c.Op == plan.Adopt:
		le.Steps = append(le.Steps, store.Step{Name: "matching", Status: "success", Description: "Matched the existing target " + name + " by " + c.MatchedBy})
	case c.TargetID != "":
		le.Steps = append(le.Steps, store.Step{Name: "matching", Status: "success", Description: "Linked to target " + name + " " + c.TargetID})
	}
	le.Action = string(ActionOf(c.Op))
	le.Modified = modified(c)
	switch {
	case staged:
		le.Action, le.Status = string(ActionStagedDelete), StatusSkipped
		le.Steps = append(le.Steps, store.Step{Name: "processing", Status: "skipped", Description: c.Reason})
	case c.Op == plan.Skip && c.Failed:
		le.Status, le.ErrorCode, le.Error = StatusFailure, FailureCode(c.Cause), c.Reason
		le.Steps = append(le.Steps, store.Step{Name: "processing", Status: "failure", Description: c.Reason})
	case c.Op == plan.Skip:
		le.Status = StatusSkipped
		le.Steps = append(le.Steps, store.Step{Name: "processing", Status: "skipped", Description: c.Reason})
	case err != nil:
		le.Status, le.ErrorCode, le.Error = StatusFailure, FailureCode(err), err.Error()
		le.Steps = append(le.Steps, store.Step{Name: "export", Status: "failure", Description: err.Error()})
	case c.Op == plan.Unchanged:
		le.Status = StatusSkipped
		le.Steps = append(le.Steps, store.Step{Name: "processing", Status: "skipped", Description: "The target already holds these values: nothing to send"})
	default:
		le.Steps = append(le.Steps, store.Step{Name: "export", Status: "success", Description: le.Action + " " + name + " in the target"})
	}
	return le
}

// FailureCode names an error the way Entra's provisioning log does (InvalidAnchor, EntryConflict, ...).
func FailureCode(err error) string {
	if err == nil {
		return escrow.InvalidData.String()
	}
	return escrow.Code(err)
}

// modified lists the properties a change sets, honouring Redact.
func modified(c plan.Change) []store.Property {
	show := func(path string, v any) string {
		if v == nil {
			return ""
		}
		if c.Redacted[path] {
			return redacted
		}
		return display(v)
	}
	var out []store.Property
	switch c.Op {
	case plan.Create:
		out = make([]store.Property, 0, len(c.Values))
		for path, v := range c.Values {
			out = append(out, store.Property{Name: path, New: show(path, v)})
		}
	default:
		for _, a := range c.Attrs {
			out = append(out, store.Property{Name: a.Path, Old: show(a.Path, a.Old), New: show(a.Path, a.New)})
		}
	}
	slices.SortFunc(out, func(a, b store.Property) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// display is fmt.Sprint(v), without fmt for the values nearly every property holds: fmt was most
// of what logging a created user cost.
func display(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	}
	return fmt.Sprint(v)
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Reference is a reference's log entry, of a manager link or a group membership change, on the
// object that holds it.
type Reference struct {
	CycleID                      string
	Time                         time.Time
	Kind                         store.Kind
	SourceID, Identity, TargetID string
	// What describes the change ("link the manager", "add 3 members").
	What     string
	Modified []store.Property
}

// Entry describes the reference change for the provisioning log; err is the write's error.
func (r Reference) Entry(err error) store.LogEntry {
	le := store.LogEntry{CycleID: r.CycleID, Time: r.Time, Kind: r.Kind, SourceID: r.SourceID, TargetID: r.TargetID, Identity: r.Identity,
		Action: string(ActionUpdate), Status: StatusSuccess, Modified: r.Modified}
	what := r.What
	st := store.Step{Name: "referenceResolution", Status: "success", Description: what}
	if err != nil {
		le.Status, le.ErrorCode, le.Error = StatusFailure, FailureCode(err), err.Error()
		st.Status, st.Description = "failure", what+": "+err.Error()
	}
	le.Steps = append(le.Steps, st)
	return le
}

// ActionOf names a planned op the way the provisioning log and the emails do.
func ActionOf(op plan.Op) Action {
	switch op {
	case plan.Create:
		return ActionCreate
	case plan.Adopt, plan.Update:
		return ActionUpdate
	case plan.Disable:
		return ActionDisable
	case plan.Delete:
		return ActionDelete
	}
	return ActionOther
}

// NameDeleted names the changes of deleted objects, which arrive as bare ids, by what they were sent
// as (UserName, GroupName), for logs and emails.
func NameDeleted(kind store.Kind, changes []plan.Change, links map[string]store.Link) {
	for i := range changes {
		if c := &changes[i]; c.Identity == c.SourceID {
			if a, ok := links[c.SourceID]; ok {
				if kind == store.KindGroup {
					c.Identity = GroupName(a)
				} else {
					c.Identity = UserName(a)
				}
			}
		}
	}
}

// UserName is how a user shows in the provisioning log: the userName sent, else the source id.
func UserName(a store.Link) string { return linkName(a, "userName") }

// GroupName is how a group shows in the provisioning log.
func GroupName(a store.Link) string { return linkName(a, "displayName") }

// linkName is a's string value at path (store.LinkValue: a link read packed holds it in its record),
// else its source id.
func linkName(a store.Link, path string) string {
	if v, _ := store.LinkValue(a, path); v != nil {
		if n, ok := v.(string); ok && n != "" {
			return n
		}
	}
	return a.SourceID
}
