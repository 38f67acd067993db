// Package plan decides, for every source object, what the target needs: create, update, disable,
// delete or nothing. It is a pure function from typed inputs to a typed change set, so every rule of
// the provisioning service is tested with tables and no network.
//
// The decision table for one object (first matching row wins):
//
//	 source state          | link (anchor)        | target lookup    | change
//	-----------------------+----------------------+------------------+-------------------------------------------
//	 mapping failed        | any                  | any              | Skip, failure (escrowed, retried later)
//	 hard-deleted          | managed              | -                | Delete (Delete action on) / Skip
//	 hard-deleted          | none or unmanaged    | -                | Skip
//	 out of scope          | managed, active      | -                | Disable: update with IsSoftDeleted=true
//	                       |                      |                  |   (Skip when skipOutOfScopeDeletions)
//	 out of scope          | managed, disabled    | -                | Unchanged
//	 out of scope, create  | none                 | 1 account        | as if linked: Disable (users, then
//	   pending             |                      |                  |   unmanaged) or Delete (groups)
//	 out of scope          | none or unmanaged    | -                | Skip (not effectively entitled)
//	 out of scope (group)  | managed              | -                | Delete (DeleteOutOfScope; Delete action
//	                       |                      |                  |   on and skipOutOfScopeDeletions off)
//	 in scope              | managed              | -                | Update with the minimal diff against the
//	                       |                      |                  |   last exported values, or Unchanged
//	 in scope, disabled    | none                 | 1 account        | Adopt with the diff (which deactivates it):
//	                       |                      |                  |   an account that exists, e.g. created by a
//	                       |                      |                  |   cycle whose answer was lost, is not left
//	                       |                      |                  |   active for a disabled user
//	 in scope, disabled    | none                 | none, 2+, failed | Skip (disabled users are never provisioned)
//	 in scope              | none                 | lookup failed    | Skip, failure
//	 in scope              | none                 | 2+ accounts      | Skip, failure (DuplicateTargetEntries)
//	 in scope              | none                 | 1 account        | Adopt: link, update with the diff against
//	                       |                      |                  |   the live account (never a second create)
//	 in scope              | none                 | no account       | Create (Create action on) / Skip
//
// Update and Disable need the Update action; a Disable is an Update whose diff sets active=false.
// Null values never flow: an attribute that became empty in the source is left alone in the target,
// as the service does.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Op is what the plan wants done with one object.
type Op uint8

// The operations a plan can hold.
const (
	// Unchanged: the target already holds what the source says; no request.
	Unchanged Op = iota
	// Create: POST a new account.
	Create
	// Adopt: link a pre-existing target account found by the matching attributes and update it.
	Adopt
	// Update: PATCH the changed attributes of a linked account.
	Update
	// Disable: PATCH that takes access away (active=false), for an object that left the scope.
	Disable
	// Delete: DELETE a linked account whose source object was hard-deleted.
	Delete
	// Skip: nothing is sent; Reason says why, and Failed tells whether it counts as a failure.
	Skip
)

// Adopt shows as "match": the README, the summaries, the logs and the status page call such an object
// matched, and a person reads one word for it.
var opNames = [...]string{"unchanged", "create", "match", "update", "disable", "delete", "skip"}

// Sends reports whether a change of this op goes to the target (Adopt may send a PATCH); the
// others are settled without a request.
func (o Op) Sends() bool {
	switch o {
	case Create, Adopt, Update, Disable, Delete:
		return true
	}
	return false
}

// String names the op for summaries and logs.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// Object is one source object after scoping and mapping.
type Object struct {
	SourceID string
	// Identity is how admins recognise the object in logs (userPrincipalName, displayName).
	Identity string
	// InScope is the outcome of assignment scope and scoping filters; ScopeReason explains it.
	InScope     bool
	ScopeReason string
	// Enabled is false for a user with accountEnabled=false or soft-deleted in the source.
	Enabled bool
	// HardDeleted is true when the source object is permanently gone.
	HardDeleted bool
	// Pending is true when a create of this object was sent but its answer never recorded (a crash or
	// a lost answer): an account found by the matching attributes is then taken as the one created.
	Pending bool
	// Values are the attributes to export on update, by flat SCIM path (string, bool, int64, []string).
	// For an object out of scope they are computed with IsSoftDeleted=true, which is how the mapping
	// Not([IsSoftDeleted]) -> active turns an update into a disable.
	Values map[string]any
	// CreateValues are the attributes for a create: Values plus OnCreate mappings and defaults.
	CreateValues map[string]any
	// Packed and PackedCreate are Values and CreateValues in a compact form (sync/pack) while the
	// object waits to be planned, the maps nil then; PackedCreate nil means CreateValues is Values.
	Packed, PackedCreate []byte
	// MatchKeys are Values' strings at the matching paths (match.Keys) while Values are packed, so
	// that a listing of the target keeps only what the objects may match.
	MatchKeys []string
	// Err is set when evaluating the mappings failed for this object.
	Err error
	// Redacted marks the target paths whose values logs must show as "[Redact]".
	Redacted map[string]bool
}

// Link is what the state store knows about an object from earlier cycles.
type Link struct {
	TargetID string
	// Managed is true for accounts scimsync created or matched; only those are ever changed.
	Managed bool
	// Values are the attribute values last exported.
	Values map[string]any
	// Hash is ValuesHash of Values; equal hashes skip the diff.
	Hash string
}

// Lookup is the result of querying the target by the matching attributes for an unlinked object.
type Lookup struct {
	// Candidates are the accounts found by the first matching attribute that found any.
	Candidates []Candidate
	// By names the matching attribute that found them.
	By string
	// Err is set when the lookup itself failed.
	Err error
}

// Candidate is a pre-existing target account, with its values at the paths the mappings export.
type Candidate struct {
	TargetID string
	Values   map[string]any
}

// Policy holds the job's switches that change what may be sent.
type Policy struct {
	// Create, Update, Delete are the target object actions.
	Create, Update, Delete bool
	// SkipOutOfScopeDeletions stops disables of objects that left the scope.
	SkipOutOfScopeDeletions bool
	// CaseExact reports, per target path, whether a case-only difference is a change.
	CaseExact func(path string) bool
	// Active is the path that carries the account's active flag (usually "active"), used to tell a
	// Disable from an Update; empty when the mappings do not map IsSoftDeleted.
	Active string
	// DeleteOutOfScope deletes linked objects that leave the scope instead of disabling them: groups,
	// which have no active flag. The Delete action and SkipOutOfScopeDeletions still apply.
	DeleteOutOfScope bool
}

// Change is one planned operation.
type Change struct {
	Op       Op
	SourceID string
	Identity string
	TargetID string
	// Values is the create body (Create) or the full set of exported values after the change
	// (Adopt, Update, Disable), to be recorded once the request succeeds.
	Values map[string]any
	// Packed is Values in a compact form (store.PackValues) while the change waits to be sent, Values
	// nil then: the engine packs the changes it holds for a whole cycle and unpacks each before sending.
	Packed []byte
	// Attrs are the attribute changes to send as PATCH operations (Adopt, Update, Disable).
	Attrs []AttrChange
	// Hash is ValuesHash(Values), to be recorded with the link.
	Hash string
	// Reason explains a Skip or an Unchanged, for the provisioning log.
	Reason string
	// Failed marks a Skip that is a failure (to escrow and count), not a deliberate no-op.
	Failed bool
	// Cause is the error behind a failed Skip, when there is one (mapping or lookup errors).
	Cause error
	// MatchedBy names the matching attribute an Adopt used.
	MatchedBy string
	// Unmanage is set on the Disable of an object that left the scope (unassigned, or failing the
	// scoping filters): as in Entra, the service stops managing it then, so a later delete in the
	// source sends no DELETE. Reassignment matches the account again and re-activates it.
	Unmanage bool
	// Held is the Disable or Delete the deletion threshold turned into this Skip (see Guard); Unchanged
	// when nothing was held.
	Held Op
	// InScope and ScopeReason repeat the object's scoping outcome, and Redacted its redacted paths,
	// for the provisioning log.
	InScope     bool
	ScopeReason string
	Redacted    map[string]bool
}

// Staged reports whether the deletion threshold held this change back (see Guard).
func (c Change) Staged() bool { return c.Held != Unchanged }

// AttrChange is one attribute to change in the target.
type AttrChange struct {
	Path string
	Old  any
	New  any
	// Add is true when the target had no value, so the service sends "Add" rather than "Replace".
	Add bool
}

// Input is everything Plan needs.
type Input struct {
	Objects []Object
	Links   map[string]Link
	Lookups map[string]Lookup
	Policy  Policy
}

// Plan computes the change for every object, in the order of in.Objects.
func Plan(in Input) []Change {
	out := make([]Change, 0, len(in.Objects))
	for i := range in.Objects {
		out = append(out, planOne(&in.Objects[i], in))
	}
	return out
}

// planOne decides one object's change.
//
// long: one case per row of the object decision table, in precedence order; split up, the order that
// makes the table right (errors, deletions, scope, links) would be spread over several functions.
func planOne(o *Object, in Input) Change {
	c := Change{SourceID: o.SourceID, Identity: o.Identity, InScope: o.InScope, ScopeReason: o.ScopeReason, Redacted: o.Redacted}
	link, linked := in.Links[o.SourceID]
	managed := linked && link.Managed
	if managed {
		c.TargetID = link.TargetID
	}
	skip := func(reason string, failed bool) Change {
		c.Op, c.Reason, c.Failed = Skip, reason, failed
		return c
	}
	switch {
	case o.Err != nil:
		c.Cause = o.Err
		return skip(o.Err.Error(), true)
	case o.HardDeleted:
		if !managed {
			return skip("deleted in the source; not managed by scimsync", false)
		}
		if !in.Policy.Delete {
			return skip("deleted in the source; the Delete action is off", false)
		}
		c.Op, c.Reason = Delete, "deleted in the source"
		return c
	case !o.InScope:
		if !managed {
			lk := in.Lookups[o.SourceID]
			if !o.Pending || lk.Err != nil || len(lk.Candidates) != 1 {
				return skip("not in scope: "+o.ScopeReason, false)
			}
			// A create of ours may have reached the target without its answer: the account found is
			// ours, and leaves the scope like any linked one.
			cd := lk.Candidates[0]
			link = Link{TargetID: cd.TargetID, Managed: true, Values: cd.Values, Hash: ValuesHash(cd.Values)}
			c.TargetID, c.MatchedBy = cd.TargetID, lk.By
		}
		if in.Policy.DeleteOutOfScope {
			switch {
			case in.Policy.SkipOutOfScopeDeletions:
				return skip("not in scope ("+o.ScopeReason+"); skipOutOfScopeDeletions is on", false)
			case !in.Policy.Delete:
				return skip("not in scope ("+o.ScopeReason+"); the Delete action is off", false)
			}
			c.Op, c.Reason = Delete, "not in scope: "+o.ScopeReason
			return c
		}
		return planUpdate(c, o, link, in.Policy, true)
	case managed:
		return planUpdate(c, o, link, in.Policy, false)
	}
	lk := in.Lookups[o.SourceID]
	if !o.Enabled && (lk.Err != nil || len(lk.Candidates) != 1) {
		return skip("disabled in the source; disabled users are never provisioned", false)
	}
	switch {
	case lk.Err != nil:
		c.Cause = lk.Err
		return skip("matching lookup failed: "+lk.Err.Error(), true)
	case len(lk.Candidates) > 1:
		ids := make([]string, len(lk.Candidates))
		for i, cd := range lk.Candidates {
			ids[i] = cd.TargetID
		}
		return skip(fmt.Sprintf("DuplicateTargetEntries: %d target accounts match on %s (%s)", len(ids), lk.By, strings.Join(ids, ", ")), true)
	case len(lk.Candidates) == 1:
		if !in.Policy.Update {
			// Linking without writing is safe: the account already holds the user.
			cd := lk.Candidates[0]
			c.Op, c.TargetID, c.MatchedBy = Adopt, cd.TargetID, lk.By
			c.Values = cd.Values
			c.Hash = ValuesHash(c.Values)
			return c
		}
		cd := lk.Candidates[0]
		c.Op, c.TargetID, c.MatchedBy = Adopt, cd.TargetID, lk.By
		c.Attrs = Diff(o.Values, cd.Values, in.Policy.CaseExact)
		c.Values = Merged(cd.Values, o.Values)
		c.Hash = ValuesHash(c.Values)
		return c
	}
	if !in.Policy.Create {
		return skip("no matching target account; the Create action is off", false)
	}
	c.Op = Create
	c.Values = o.CreateValues
	c.Hash = ValuesHash(c.Values)
	return c
}

func planUpdate(c Change, o *Object, link Link, p Policy, outOfScope bool) Change {
	values := Merged(link.Values, o.Values)
	h := ValuesHash(values)
	var attrs []AttrChange
	if h != link.Hash {
		attrs = Diff(o.Values, link.Values, p.CaseExact)
	}
	if len(attrs) == 0 {
		c.Op, c.Reason = Unchanged, "target already up to date"
		if outOfScope {
			c.Reason = "not in scope (" + o.ScopeReason + "); target already disabled or nothing to disable"
		}
		c.Values, c.Hash = values, h
		return c
	}
	disable := deactivates(attrs, p.Active)
	switch {
	case outOfScope && !disable:
		// An object that left the scope only ever gets the disable; other changes no longer flow.
		c.Op, c.Reason = Skip, "not in scope: "+o.ScopeReason
		return c
	case outOfScope && p.SkipOutOfScopeDeletions:
		c.Op, c.Reason = Skip, "not in scope ("+o.ScopeReason+"); skipOutOfScopeDeletions is on"
		return c
	case !p.Update:
		c.Op, c.Reason = Skip, "the Update action is off"
		return c
	}
	c.Op = Update
	if disable {
		c.Op = Disable
		if outOfScope {
			c.Reason = "not in scope: " + o.ScopeReason
			c.Unmanage = true
		} else {
			c.Reason = "disabled in the source"
		}
	}
	c.Attrs, c.Values, c.Hash = attrs, values, h
	return c
}

// deactivates reports whether the diff sets the active flag to false.
func deactivates(attrs []AttrChange, active string) bool {
	if active == "" {
		return false
	}
	for _, a := range attrs {
		if strings.EqualFold(a.Path, active) {
			if b, ok := a.New.(bool); ok && !b {
				return true
			}
		}
	}
	return false
}

// Merged returns base overlaid with over; neither map is modified. The engine uses it too, to keep
// what a target object holds beside what it just sent.
func Merged(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Diff lists the attributes of desired whose value differs from current, sorted by path. Attributes
// absent from desired are never removed: the service does not provision null values.
func Diff(desired, current map[string]any, caseExact func(string) bool) []AttrChange {
	var out []AttrChange
	for path, want := range desired {
		have, ok := current[path]
		if ok && Equal(want, have, caseExact != nil && caseExact(path)) {
			continue
		}
		out = append(out, AttrChange{Path: path, Old: have, New: want, Add: !ok || isEmpty(have)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []string:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// Equal compares two exported values the way the service's diff does: strings case-insensitively
// unless caseExact, numbers by value whatever their Go type, booleans also against "True"/"False"
// strings (targets echo either), multi-valued as ordered lists.
func Equal(a, b any, caseExact bool) bool {
	switch x := a.(type) {
	case string:
		switch y := b.(type) {
		case string:
			if caseExact {
				return x == y
			}
			return x == y || strings.EqualFold(x, y)
		case bool:
			return strings.EqualFold(x, boolString(y))
		}
		return false
	case bool:
		switch y := b.(type) {
		case bool:
			return x == y
		case string:
			return strings.EqualFold(y, boolString(x))
		}
		return false
	case []string:
		ys, ok := toStrings(b)
		if !ok || len(ys) != len(x) {
			return false
		}
		for i := range x {
			if !Equal(x[i], ys[i], caseExact) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	}
	if xf, ok := toFloat(a); ok {
		yf, ok := toFloat(b)
		return ok && xf == yf
	}
	return false
}

func boolString(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func toStrings(v any) ([]string, bool) {
	switch x := v.(type) {
	case []string:
		return x, true
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// ValuesHash is a stable digest of exported values, so an unchanged object is recognised without
// comparing attribute by attribute. Numbers hash by value whatever their Go type, so values that
// went through the state store's JSON hash the same as fresh ones.
func ValuesHash(values map[string]any) string {
	// The keys of a usual object fit on the stack (slices.Sort keeps them there, sort.Strings would not).
	var room [32]string
	keys := room[:0]
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// One buffer and one hash call: the bytes are those the stored hashes were made of (key, NUL,
	// canonical value, NUL, for each key in order), so existing links keep matching. The buffer is
	// pooled: a fresh one for every hash was about 1 KB a user in an initial cycle.
	bp := hashBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, k := range keys {
		buf = append(buf, k...)
		buf = append(buf, 0)
		buf = appendCanonical(buf, values[k])
		buf = append(buf, 0)
	}
	sum := sha256.Sum256(buf)
	if cap(buf) <= maxPooledHashBuf {
		*bp = buf
		hashBufs.Put(bp)
	}
	return hex.EncodeToString(sum[:16])
}

// hashBufs holds ValuesHash's buffers; one that grew past maxPooledHashBuf (an object with huge
// values) is left to the collector rather than kept.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledHashBuf = 64 << 10

// appendCanonical appends v's canonical form: "n:" and the shortest %g of a number, "l:" and each
// string quoted and followed by a comma for a list, "s:" and the quoted string, "b:" and true or
// false, "z" for nil, else its JSON.
func appendCanonical(buf []byte, v any) []byte {
	if f, ok := toFloat(v); ok {
		return strconv.AppendFloat(append(buf, "n:"...), f, 'g', -1, 64)
	}
	if ss, ok := toStrings(v); ok {
		buf = append(buf, "l:"...)
		for _, s := range ss {
			buf = append(strconv.AppendQuote(buf, s), ',')
		}
		return buf
	}
	switch x := v.(type) {
	case string:
		return strconv.AppendQuote(append(buf, "s:"...), x)
	case bool:
		return strconv.AppendBool(append(buf, "b:"...), x)
	case nil:
		return append(buf, 'z')
	default:
		b, _ := json.Marshal(x)
		return append(buf, b...)
	}
}
