package engine

import (
	"fmt"
	"sort"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/plan"
)

// Provisioning-log actions and statuses, as Entra's provisioning logs name them.
const (
	ActionCreate       = "Create"
	ActionUpdate       = "Update"
	ActionDisable      = "Disable"
	ActionDelete       = "Delete"
	ActionStagedDelete = "StagedDelete"
	ActionOther        = "Other"

	StatusSuccess = "Success"
	StatusFailure = "Failure"
	StatusSkipped = "Skipped"
	StatusWarning = "Warning"
)

// redacted is how a Redact()ed value shows in logs.
const redacted = "[Redact]"

// logEntry describes one change of a cycle for the provisioning log: which steps ran, what changed, and
// why it failed. Unchanged objects and deliberate skips of objects scimsync does not manage are not
// logged: the log is for what happened.
func (e *Engine) logEntry(rep *Report, k *objectKind, c plan.Change, err error, staged bool) (store.LogEntry, bool) {
	if c.Op == plan.Unchanged || (c.Op == plan.Skip && !c.Failed && !staged && c.TargetID == "") {
		return store.LogEntry{}, false
	}
	return e.entry(rep, k, c, err, staged), true
}

// entry describes any change, logged or not: on-demand provisioning shows every step, even of an
// object that needs nothing.
func (e *Engine) entry(rep *Report, k *objectKind, c plan.Change, err error, staged bool) store.LogEntry {
	le := store.LogEntry{CycleID: rep.CycleID, Time: e.o.Now(), Kind: k.store, SourceID: c.SourceID, TargetID: c.TargetID,
		Identity: c.Identity, Status: StatusSuccess}
	le.Steps = append(le.Steps, store.Step{Name: "import", Status: "success", Description: fmt.Sprintf("Received %s %s from Microsoft Graph", k.name, c.Identity)})
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
		le.Steps = append(le.Steps, store.Step{Name: "matching", Status: "success", Description: "No matching " + k.name + " in the target"})
	case c.Op == plan.Adopt:
		le.Steps = append(le.Steps, store.Step{Name: "matching", Status: "success", Description: "Matched the existing target " + k.name + " by " + c.MatchedBy})
	case c.TargetID != "":
		le.Steps = append(le.Steps, store.Step{Name: "matching", Status: "success", Description: "Linked to target " + k.name + " " + c.TargetID})
	}
	le.Action = actionName(c.Op)
	le.Modified = modified(c)
	switch {
	case staged:
		le.Action, le.Status = ActionStagedDelete, StatusSkipped
		le.Steps = append(le.Steps, store.Step{Name: "processing", Status: "skipped", Description: c.Reason})
	case c.Op == plan.Skip && c.Failed:
		le.Status, le.ErrorCode, le.Error = StatusFailure, failureCode(c.Cause), c.Reason
		le.Steps = append(le.Steps, store.Step{Name: "processing", Status: "failure", Description: c.Reason})
	case c.Op == plan.Skip:
		le.Status = StatusSkipped
		le.Steps = append(le.Steps, store.Step{Name: "processing", Status: "skipped", Description: c.Reason})
	case err != nil:
		le.Status, le.ErrorCode, le.Error = StatusFailure, failureCode(err), err.Error()
		le.Steps = append(le.Steps, store.Step{Name: "export", Status: "failure", Description: err.Error()})
	case c.Op == plan.Unchanged:
		le.Status = StatusSkipped
		le.Steps = append(le.Steps, store.Step{Name: "processing", Status: "skipped", Description: "The target already holds these values: nothing to send"})
	default:
		le.Steps = append(le.Steps, store.Step{Name: "export", Status: "success", Description: fmt.Sprintf("%s %s in the target", le.Action, k.name)})
	}
	return le
}

// failureCode names an error the way Entra's provisioning log does (InvalidAnchor, EntryConflict, ...).
func failureCode(err error) string {
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
		return fmt.Sprint(v)
	}
	var out []store.Property
	switch c.Op {
	case plan.Create:
		for path, v := range c.Values {
			out = append(out, store.Property{Name: path, New: show(path, v)})
		}
	default:
		for _, a := range c.Attrs {
			out = append(out, store.Property{Name: a.Path, Old: show(a.Path, a.Old), New: show(a.Path, a.New)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// referenceEntry logs a manager link or a group membership change.
func (e *Engine) referenceEntry(rep *Report, kind store.Kind, sourceID, identity, targetID, what string, props []store.Property, err error) store.LogEntry {
	le := store.LogEntry{CycleID: rep.CycleID, Time: e.o.Now(), Kind: kind, SourceID: sourceID, TargetID: targetID, Identity: identity,
		Action: ActionUpdate, Status: StatusSuccess, Modified: props}
	st := store.Step{Name: "referenceResolution", Status: "success", Description: what}
	if err != nil {
		le.Status, le.ErrorCode, le.Error = StatusFailure, failureCode(err), err.Error()
		st.Status, st.Description = "failure", what+": "+err.Error()
	}
	le.Steps = append(le.Steps, st)
	return le
}

// actionName names a planned op the way the provisioning log and the emails do.
func actionName(op plan.Op) string {
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
