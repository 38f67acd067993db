package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/kiota-abstractions-go/store"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
)

// maxPages stops a server that keeps sending nextLinks; 100,000 pages is far beyond any tenant.
const maxPages = 100_000

// Users runs one users delta round. deltaLink "" starts a full round that $selects exactly what attrs
// (Entra attribute names) need, plus the manager relationship when "manager" is among them; otherwise
// the round resumes from deltaLink, whose token carries the original $select.
//
// Records of the same user within the round are merged (later wins). Attributes are keyed by the
// canonical Entra name from the directory table; objectId and accountEnabled are always filled,
// computed attributes (IsSoftDeleted, appRoleAssignments) never. When manager is requested, a full
// round sets ManagerKnown on every user (Graph sends manager@delta for each user that has one), an
// incremental round only on users whose manager changed.
//
// On errors.Is(err, ErrResyncRequired) the caller should drop its watermark and call Users again
// with "".
func (r *Reader) Users(ctx context.Context, attrs []string, deltaLink string) (*directory.UserRound, error) {
	start := time.Now()
	round := &directory.UserRound{Full: deltaLink == ""}
	want := userAttrs(attrs)
	sel := directory.UserSelect(attrs)
	m := newMerger[directory.User]()
	var page users.DeltaGetResponseable
	err := r.call(ctx, "users delta", func(ctx context.Context) (err error) {
		if deltaLink == "" {
			page, err = r.users.Delta().GetAsDeltaGetResponse(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
				Headers:         throttleHeaders(),
				QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: sel},
			})
			return err
		}
		if err := r.checkLink(deltaLink); err != nil {
			return err
		}
		page, err = r.users.Delta().WithUrl(deltaLink).GetAsDeltaGetResponse(ctx,
			&users.DeltaRequestBuilderGetRequestConfiguration{Headers: throttleHeaders()})
		return err
	})
	for pages := 1; ; pages++ {
		if err != nil {
			return nil, err
		}
		if page == nil {
			return nil, errors.New("graph: users delta: empty response")
		}
		for _, u := range page.GetValue() {
			if u == nil {
				continue
			}
			if err := m.add(userFrom(u, want)); err != nil {
				return nil, fmt.Errorf("graph: users delta: %w", err)
			}
		}
		next, done, lerr := r.nextLink("users delta", page.GetOdataNextLink(), page.GetOdataDeltaLink(), pages)
		if lerr != nil {
			return nil, lerr
		}
		if done != "" {
			round.DeltaLink = done
			round.Users = m.items
			if round.Full && slices.ContainsFunc(want, func(a directory.SourceAttribute) bool { return a.Name == "manager" }) {
				// An initial round carries manager@delta for every user that has a manager, so
				// absence means "no manager" rather than "unknown".
				for i := range round.Users {
					if round.Users[i].Removed == directory.NotRemoved {
						round.Users[i].ManagerKnown = true
					}
				}
			}
			r.log.Info("graph users round", zap.Bool("full", round.Full), zap.Int("users", len(round.Users)),
				zap.Int("pages", pages), zap.Duration("took", time.Since(start)))
			return round, nil
		}
		err = r.call(ctx, "users delta page", func(ctx context.Context) (err error) {
			page, err = r.users.Delta().WithUrl(next).GetAsDeltaGetResponse(ctx,
				&users.DeltaRequestBuilderGetRequestConfiguration{Headers: throttleHeaders()})
			return err
		})
	}
}

// Groups runs one groups delta round; members@delta is always selected. A large group arriving in
// several records (each with a slice of its members) is merged into one Group.
func (r *Reader) Groups(ctx context.Context, attrs []string, deltaLink string) (*directory.GroupRound, error) {
	start := time.Now()
	round := &directory.GroupRound{Full: deltaLink == ""}
	want := groupAttrs(attrs)
	sel := directory.GroupSelect(attrs)
	m := newMerger[directory.Group]()
	var page groups.DeltaGetResponseable
	err := r.call(ctx, "groups delta", func(ctx context.Context) (err error) {
		if deltaLink == "" {
			page, err = r.groups.Delta().GetAsDeltaGetResponse(ctx, &groups.DeltaRequestBuilderGetRequestConfiguration{
				Headers:         throttleHeaders(),
				QueryParameters: &groups.DeltaRequestBuilderGetQueryParameters{Select: sel},
			})
			return err
		}
		if err := r.checkLink(deltaLink); err != nil {
			return err
		}
		page, err = r.groups.Delta().WithUrl(deltaLink).GetAsDeltaGetResponse(ctx,
			&groups.DeltaRequestBuilderGetRequestConfiguration{Headers: throttleHeaders()})
		return err
	})
	for pages := 1; ; pages++ {
		if err != nil {
			return nil, err
		}
		if page == nil {
			return nil, errors.New("graph: groups delta: empty response")
		}
		for _, g := range page.GetValue() {
			if g == nil {
				continue
			}
			if err := m.add(groupFrom(g, want)); err != nil {
				return nil, fmt.Errorf("graph: groups delta: %w", err)
			}
		}
		next, done, lerr := r.nextLink("groups delta", page.GetOdataNextLink(), page.GetOdataDeltaLink(), pages)
		if lerr != nil {
			return nil, lerr
		}
		if done != "" {
			round.DeltaLink = done
			round.Groups = m.items
			r.log.Info("graph groups round", zap.Bool("full", round.Full), zap.Int("groups", len(round.Groups)),
				zap.Int("pages", pages), zap.Duration("took", time.Since(start)))
			return round, nil
		}
		err = r.call(ctx, "groups delta page", func(ctx context.Context) (err error) {
			page, err = r.groups.Delta().WithUrl(next).GetAsDeltaGetResponse(ctx,
				&groups.DeltaRequestBuilderGetRequestConfiguration{Headers: throttleHeaders()})
			return err
		})
	}
}

// UsersByID reads specific users in full (the engine needs this for users who entered or left the
// assignment scope without changing themselves, so no delta round mentions them). Ids Graph does not
// know (404) are left out; any other error aborts. The manager, when requested, comes from
// $expand=manager and ManagerKnown is then always true.
func (r *Reader) UsersByID(ctx context.Context, attrs []string, ids []string) ([]directory.User, error) {
	want := userAttrs(attrs)
	var sel []string
	withManager := false
	for _, p := range directory.UserSelect(attrs) {
		if p == "manager" {
			withManager = true // a navigation property: $expand, not $select, on a plain GET
			continue
		}
		sel = append(sel, p)
	}
	q := &users.UserItemRequestBuilderGetQueryParameters{Select: sel}
	if withManager {
		q.Expand = []string{"manager($select=id)"}
	}
	out := make([]directory.User, 0, len(ids))
	for _, id := range ids {
		var u models.Userable
		err := r.call(ctx, "user "+id, func(ctx context.Context) (err error) {
			u, err = r.users.ByUserId(id).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
				Headers: throttleHeaders(), QueryParameters: q})
			return err
		})
		var ge *Error
		if errors.As(err, &ge) && ge.Status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if u == nil {
			return nil, fmt.Errorf("graph: user %s: empty response", id)
		}
		du := userFrom(u, want)
		if withManager {
			du.ManagerKnown = true
			if m := u.GetManager(); m != nil && deref(m.GetId()) != "" {
				du.Attributes["manager"] = mapping.Str(deref(m.GetId()))
			}
		}
		out = append(out, du)
	}
	return out, nil
}

// nextLink applies Graph's paging rule: a nextLink means more pages (even after an empty one), a
// deltaLink ends the round, and a page with neither is an incomplete round, never a finished one.
func (r *Reader) nextLink(what string, next, delta *string, pages int) (string, string, error) {
	switch {
	case next != nil && *next != "":
		if pages >= maxPages {
			return "", "", fmt.Errorf("graph: %s: more than %d pages, giving up", what, maxPages)
		}
		if err := r.checkLink(*next); err != nil {
			return "", "", fmt.Errorf("graph: %s: %w", what, err)
		}
		return *next, "", nil
	case delta != nil && *delta != "":
		return "", *delta, nil
	}
	return "", "", fmt.Errorf("graph: %s: page %d has neither @odata.nextLink nor @odata.deltaLink", what, pages)
}

// AppRoleAssignedTo lists every app role assignment of the app's service principal (its object id,
// not the appId). Graph has no delta for this relationship, so it is re-read each cycle; like a delta
// round it is all-or-nothing.
func (r *Reader) AppRoleAssignedTo(ctx context.Context, servicePrincipalID string) ([]directory.Assignment, error) {
	if servicePrincipalID == "" {
		return nil, errors.New("graph: appRoleAssignedTo: no service principal id")
	}
	b := r.sps.ByServicePrincipalId(servicePrincipalID).AppRoleAssignedTo()
	top := int32(999)
	var page models.AppRoleAssignmentCollectionResponseable
	err := r.call(ctx, "appRoleAssignedTo", func(ctx context.Context) (err error) {
		page, err = b.Get(ctx, &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
			Headers: throttleHeaders(),
			QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{
				Top: &top, Select: []string{"id", "principalId", "principalType", "appRoleId"},
			},
		})
		return err
	})
	var out []directory.Assignment
	for pages := 1; ; pages++ {
		if err != nil {
			return nil, err
		}
		if page == nil {
			return nil, errors.New("graph: appRoleAssignedTo: empty response")
		}
		for _, a := range page.GetValue() {
			if a == nil {
				continue
			}
			out = append(out, directory.Assignment{
				PrincipalID:   uuidString(a.GetPrincipalId()),
				PrincipalType: deref(a.GetPrincipalType()),
				AppRoleID:     uuidString(a.GetAppRoleId()),
			})
		}
		next := page.GetOdataNextLink()
		if next == nil || *next == "" {
			return out, nil
		}
		if pages >= maxPages {
			return nil, fmt.Errorf("graph: appRoleAssignedTo: more than %d pages, giving up", maxPages)
		}
		if err := r.checkLink(*next); err != nil {
			return nil, fmt.Errorf("graph: appRoleAssignedTo: %w", err)
		}
		err = r.call(ctx, "appRoleAssignedTo page", func(ctx context.Context) (err error) {
			page, err = b.WithUrl(*next).Get(ctx, &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
				Headers: throttleHeaders()})
			return err
		})
	}
}

func uuidString(u *uuid.UUID) string {
	if u == nil {
		return ""
	}
	return u.String()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// --- merging records of one round ---

// merger keeps one item per id in first-seen order; Graph may send an object several times per round.
type merger[T any] struct {
	items []T
	index map[string]int
}

func newMerger[T any]() *merger[T] { return &merger[T]{index: map[string]int{}} }

func (m *merger[T]) add(item T) error {
	id := itemID(item)
	if id == "" {
		return errors.New("record without id")
	}
	if i, ok := m.index[id]; ok {
		m.items[i] = mergeItems(m.items[i], item)
		return nil
	}
	m.index[id] = len(m.items)
	m.items = append(m.items, item)
	return nil
}

func itemID(v any) string {
	switch x := v.(type) {
	case directory.User:
		return x.ID
	case directory.Group:
		return x.ID
	}
	return ""
}

func mergeItems[T any](earlier, later T) T {
	switch e := any(earlier).(type) {
	case directory.User:
		return any(mergeUser(e, any(later).(directory.User))).(T)
	case directory.Group:
		return any(mergeGroup(e, any(later).(directory.Group))).(T)
	}
	return later
}

// mergeUser folds a later record into an earlier one: later attributes win, a later removal or
// un-removal (restore) wins, and the manager is taken from the last record that mentioned it.
func mergeUser(e, l directory.User) directory.User {
	out := directory.User{ID: e.ID, Attributes: mapping.AttributeMap{}, Removed: l.Removed}
	for k, v := range e.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range l.Attributes {
		out.Attributes[k] = v
	}
	out.ManagerKnown = e.ManagerKnown || l.ManagerKnown
	if l.ManagerKnown {
		delete(out.Attributes, "manager")
		if v, ok := l.Attributes["manager"]; ok {
			out.Attributes["manager"] = v
		}
	}
	return out
}

// mergeGroup folds a later record of the same group: attributes as for users, member entries
// concatenated with the later state of a member winning.
func mergeGroup(e, l directory.Group) directory.Group {
	out := directory.Group{ID: e.ID, Attributes: mapping.AttributeMap{}, Removed: l.Removed,
		MembersKnown: e.MembersKnown || l.MembersKnown}
	for k, v := range e.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range l.Attributes {
		out.Attributes[k] = v
	}
	out.Members = mergeMembers(e.Members, l.Members)
	return out
}

func mergeMembers(e, l []directory.Member) []directory.Member {
	if len(l) == 0 {
		return e
	}
	out := append([]directory.Member(nil), e...)
	idx := make(map[string]int, len(out))
	for i, m := range out {
		idx[m.ID] = i
	}
	for _, m := range l {
		if i, ok := idx[m.ID]; ok {
			out[i] = m
			continue
		}
		idx[m.ID] = len(out)
		out = append(out, m)
	}
	return out
}

// --- translation from SDK models to directory types ---

type backed interface {
	GetBackingStore() store.BackingStore
}

type additional interface {
	GetAdditionalData() map[string]any
}

// property reads a Graph property by its JSON name. msgraph-sdk-go keeps model values in a backing
// store keyed by those names, so the Entra->Graph table drives the translation without one getter
// per attribute; properties the model does not know land in the additional data.
func property(m any, name string) any {
	if b, ok := m.(backed); ok {
		if bs := b.GetBackingStore(); bs != nil {
			if v, err := bs.Get(name); err == nil && v != nil {
				return v
			}
		}
	}
	if a, ok := m.(additional); ok {
		if v, ok := a.GetAdditionalData()[name]; ok {
			return v
		}
	}
	return nil
}

func userAttrs(attrs []string) []directory.SourceAttribute {
	var out []directory.SourceAttribute
	seen := map[string]bool{}
	for _, n := range append([]string{"objectId", "accountEnabled"}, attrs...) {
		a, ok := directory.UserAttribute(n)
		if !ok || a.Kind == directory.AttrComputed || seen[a.Name] {
			continue
		}
		seen[a.Name] = true
		out = append(out, a)
	}
	return out
}

func groupAttrs(attrs []string) []directory.SourceAttribute {
	var out []directory.SourceAttribute
	seen := map[string]bool{}
	for _, n := range append([]string{"objectId", "displayName"}, attrs...) {
		a, ok := directory.GroupAttribute(n)
		if !ok || a.Kind == directory.AttrComputed || a.Kind == directory.AttrReference || seen[a.Name] {
			continue
		}
		seen[a.Name] = true
		out = append(out, a)
	}
	return out
}

// removal reads the @removed annotation.
func removal(ad map[string]any) (directory.Removal, bool) {
	v, ok := ad["@removed"]
	if !ok {
		return directory.NotRemoved, false
	}
	reason := strings.ToLower(str(asMap(v)["reason"]))
	if reason == string(directory.HardDeleted) {
		return directory.HardDeleted, true
	}
	// "changed", or anything unexpected: treat as restorable, which disables rather than deletes.
	return directory.SoftDeleted, true
}

func userFrom(u models.Userable, want []directory.SourceAttribute) directory.User {
	id := deref(u.GetId())
	out := directory.User{ID: id, Attributes: mapping.AttributeMap{}}
	ad := u.GetAdditionalData()
	if r, ok := removal(ad); ok {
		out.Removed = r
		out.Attributes["objectId"] = mapping.Str(id)
		return out
	}
	for _, a := range want {
		if a.Kind == directory.AttrReference {
			continue
		}
		v, ok := attributeValue(u, a)
		if !ok {
			continue
		}
		switch a.Name {
		case "userPrincipalName":
			v = mapping.Str(directory.StripGuestUPN(v.String()))
		}
		out.Attributes[a.Name] = v
	}
	if md, ok := ad["manager@delta"]; ok {
		out.ManagerKnown = true
		// The last entry without @removed is the manager; only removed entries (or none) clear it.
		mgr := ""
		for _, e := range asList(md) {
			em := asMap(e)
			if _, removed := em["@removed"]; removed {
				if str(em["id"]) == mgr {
					mgr = ""
				}
				continue
			}
			if id := str(em["id"]); id != "" {
				mgr = id
			}
		}
		if mgr != "" {
			out.Attributes["manager"] = mapping.Str(mgr)
		}
	}
	return out
}

func groupFrom(g models.Groupable, want []directory.SourceAttribute) directory.Group {
	id := deref(g.GetId())
	out := directory.Group{ID: id, Attributes: mapping.AttributeMap{}}
	ad := g.GetAdditionalData()
	if r, ok := removal(ad); ok {
		out.Removed = r
		out.Attributes["objectId"] = mapping.Str(id)
		return out
	}
	for _, a := range want {
		if v, ok := attributeValue(g, a); ok {
			out.Attributes[a.Name] = v
		}
	}
	if md, ok := ad["members@delta"]; ok {
		out.MembersKnown = true
		for _, e := range asList(md) {
			em := asMap(e)
			mid := str(em["id"])
			if mid == "" {
				continue
			}
			_, removed := em["@removed"]
			out.Members = append(out.Members, directory.Member{ID: mid,
				Type: strings.TrimPrefix(str(em["@odata.type"]), "#microsoft.graph."), Removed: removed})
		}
		out.Members = mergeMembers(nil, out.Members)
	}
	return out
}

// attributeValue reads one Entra attribute from a model following the directory table: objectId is
// the id, Index picks one item of a collection (businessPhones[0]), Sub a field of a complex value
// (onPremisesExtensionAttributes.extensionAttributeN).
func attributeValue(m any, a directory.SourceAttribute) (mapping.Value, bool) {
	v := property(m, a.Property)
	if a.Sub != "" {
		if v == nil {
			return mapping.Null(), false
		}
		if mm, ok := v.(map[string]any); ok {
			v = mm[a.Sub]
		} else {
			v = property(v, a.Sub)
		}
	}
	if a.Kind == directory.AttrMulti {
		items, ok := strs(v)
		if !ok {
			return mapping.Null(), false
		}
		return mapping.Multi(items), true
	}
	if a.Index >= 0 {
		items, ok := strs(v)
		if !ok || a.Index >= len(items) {
			return mapping.Null(), false
		}
		return mapping.Str(items[a.Index]), true
	}
	switch x := v.(type) {
	case nil:
		return mapping.Null(), false
	case *string:
		if x == nil {
			return mapping.Null(), false
		}
		if a.Kind == directory.AttrDate {
			if t, err := time.Parse(time.RFC3339, *x); err == nil {
				return mapping.Date(t), true
			}
		}
		return mapping.Str(*x), true
	case string:
		return mapping.Str(x), true
	case *bool:
		if x == nil {
			return mapping.Null(), false
		}
		return mapping.Bool(*x), true
	case bool:
		return mapping.Bool(x), true
	case *time.Time:
		if x == nil {
			return mapping.Null(), false
		}
		return mapping.Date(*x), true
	case *int32:
		if x == nil {
			return mapping.Null(), false
		}
		return mapping.Int(int64(*x)), true
	case *int64:
		if x == nil {
			return mapping.Null(), false
		}
		return mapping.Int(*x), true
	case *float64:
		if x == nil {
			return mapping.Null(), false
		}
		return mapping.Int(int64(*x)), true
	case fmt.Stringer:
		return mapping.Str(x.String()), true
	}
	return mapping.Str(fmt.Sprint(v)), true
}

func strs(v any) ([]string, bool) {
	switch x := v.(type) {
	case []string:
		return append([]string{}, x...), true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s := str(e); s != "" {
				out = append(out, s)
			}
		}
		return out, true
	case *string:
		if x == nil {
			return nil, false
		}
		return []string{*x}, true
	}
	return nil, false
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	switch x := v.(type) {
	case *string:
		if x != nil {
			return *x
		}
	case string:
		return x
	}
	return ""
}
