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
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/graph/internal/merge"
	"github.com/scimsync/scimsync/logctx"
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
	fields := userFields(want)
	sel := directory.UserSelect(attrs)
	// The round's users are kept packed (directory.UserList), merged by id as they come.
	at := map[string]int{}
	add := func(u directory.User) error {
		if u.ID == "" {
			return errors.New("record without id")
		}
		if i, ok := at[u.ID]; ok {
			round.Users.Set(i, merge.User(round.Users.At(i), u))
			return nil
		}
		at[u.ID] = round.Users.Len()
		round.Users.Append(u)
		return nil
	}
	link, err := r.firstLink("users delta", deltaLink, func() (string, error) {
		return requestURL(r.users.Delta().ToGetRequestInformation(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: sel}}))
	})
	if err != nil {
		return nil, err
	}
	// Each record is read into one reused map: add packs it (or a merged copy) before the next.
	scratch := mapping.AttributeMap{}
	done, pages, err := walkDelta(r, ctx, "users delta", link, func(records []*userRecord) error {
		for _, u := range records {
			if u == nil {
				continue
			}
			if err := add(userFrom(u, fields, scratch)); err != nil {
				return fmt.Errorf("graph: users delta: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	round.DeltaLink = done
	if round.Full && slices.ContainsFunc(want, func(a directory.SourceAttribute) bool { return a.Name == "manager" }) {
		// An initial round carries manager@delta for every user that has a manager, so absence means
		// "no manager" rather than "unknown".
		for i := range round.Users.Len() {
			if round.Users.Removed(i) == directory.NotRemoved {
				round.Users.SetManagerKnown(i)
			}
		}
	}
	logctx.Logger(ctx, r.log).Info("graph users round", zap.Bool("full", round.Full), zap.Int("users", round.Users.Len()),
		zap.Int("pages", pages), zap.Duration("took", time.Since(start)))
	return round, nil
}

// Groups runs one groups delta round; members@delta is always selected. A large group arriving in
// several records (each with a slice of its members) is merged into one Group.
func (r *Reader) Groups(ctx context.Context, attrs []string, deltaLink string) (*directory.GroupRound, error) {
	start := time.Now()
	round := &directory.GroupRound{Full: deltaLink == ""}
	fields := groupFields(groupAttrs(attrs))
	sel := directory.GroupSelect(attrs)
	m := merge.New[directory.Group]()
	link, err := r.firstLink("groups delta", deltaLink, func() (string, error) {
		return requestURL(r.groups.Delta().ToGetRequestInformation(ctx, &groups.DeltaRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.DeltaRequestBuilderGetQueryParameters{Select: sel}}))
	})
	if err != nil {
		return nil, err
	}
	done, pages, err := walkDelta(r, ctx, "groups delta", link, func(records []*groupRecord) error {
		for _, g := range records {
			if g == nil {
				continue
			}
			if err := m.Add(groupFrom(g, fields)); err != nil {
				return fmt.Errorf("graph: groups delta: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	round.DeltaLink = done
	round.Groups = m.Items
	logctx.Logger(ctx, r.log).Info("graph groups round", zap.Bool("full", round.Full), zap.Int("groups", len(round.Groups)),
		zap.Int("pages", pages), zap.Duration("took", time.Since(start)))
	return round, nil
}

// UsersByID reads specific users in full (the engine needs this for users who entered or left the
// assignment scope without changing themselves, so no delta round mentions them). Ids Graph does not
// know (404) are left out; any other error aborts. The manager, when requested, comes from
// $expand=manager and ManagerKnown is then always true.
func (r *Reader) UsersByID(ctx context.Context, attrs []string, ids []string) ([]directory.User, error) {
	fields := userFields(userAttrs(attrs))
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
		link, err := requestURL(r.users.ByUserId(id).ToGetRequestInformation(ctx,
			&users.UserItemRequestBuilderGetRequestConfiguration{QueryParameters: q}))
		if err != nil {
			return nil, fmt.Errorf("graph: user %s: %w", id, err)
		}
		u, err := getPage[userRecord](r, ctx, "user "+id, link)
		var ge *Error
		if errors.As(err, &ge) && ge.Status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		du := userFrom(u, fields, nil)
		if withManager {
			du.ManagerKnown = true
			if u.Manager != nil && u.Manager.ID != "" {
				du.Attributes["manager"] = mapping.Str(u.Manager.ID)
			}
		}
		out = append(out, du)
	}
	return out, nil
}

// firstLink is the URL of a delta round's first page: the stored deltaLink, which must stay on the
// Graph origin and carry its token (else the round would silently be a full one), or for a full
// round the URL full builds.
func (r *Reader) firstLink(what, deltaLink string, full func() (string, error)) (string, error) {
	if deltaLink == "" {
		link, err := full()
		if err != nil {
			return "", fmt.Errorf("graph: %s: %w", what, err)
		}
		return link, nil
	}
	if err := r.checkLink(deltaLink); err != nil {
		return "", fmt.Errorf("graph: %s: %w", what, err)
	}
	if !hasToken(deltaLink) {
		// An unusable watermark is like an expired one: the engine runs a full round it knows is full
		// and reconciles, which is safe; only a full read taken for a delta would not be.
		return "", fmt.Errorf("graph: %s: %w: %w: the stored deltaLink has no $deltatoken or $skiptoken", what, directory.ErrResyncRequired, ErrTokenLost)
	}
	return deltaLink, nil
}

// pageName names page n of a round in errors and logs.
func pageName(what string, n int) string {
	if n == 1 {
		return what
	}
	return what + " page"
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
		if !hasToken(*next) {
			return "", "", fmt.Errorf("graph: %s: %w: page %d's nextLink has no $skiptoken", what, ErrTokenLost, pages)
		}
		return *next, "", nil
	case delta != nil && *delta != "":
		if !hasToken(*delta) {
			// Stored and resumed, it would start the next round over as a full read.
			return "", "", fmt.Errorf("graph: %s: %w: the deltaLink has no $deltatoken", what, ErrTokenLost)
		}
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
	roles, err := r.appRoles(ctx, servicePrincipalID)
	if err != nil {
		return nil, err
	}
	top := int32(999)
	link, err := requestURL(r.sps.ByServicePrincipalId(servicePrincipalID).AppRoleAssignedTo().ToGetRequestInformation(ctx,
		&serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{
				Top: &top, Select: []string{"id", "principalId", "principalType", "appRoleId"},
			},
		}))
	if err != nil {
		return nil, fmt.Errorf("graph: appRoleAssignedTo: %w", err)
	}
	var out []directory.Assignment
	for pages := 1; ; pages++ {
		page, err := getPage[assignmentPage](r, ctx, pageName("appRoleAssignedTo", pages), link)
		if err != nil {
			return nil, err
		}
		for _, a := range page.Value {
			if a == nil {
				continue
			}
			principal, err := canonicalUUID(a.PrincipalID)
			if err != nil {
				return nil, fmt.Errorf("graph: appRoleAssignedTo: principalId: %w", err)
			}
			role, err := canonicalUUID(a.AppRoleID)
			if err != nil {
				return nil, fmt.Errorf("graph: appRoleAssignedTo: appRoleId: %w", err)
			}
			out = append(out, directory.Assignment{
				PrincipalID:   principal,
				PrincipalType: deref(a.PrincipalType),
				AppRoleID:     role,
				AppRole:       roles[role],
			})
		}
		next := page.NextLink
		if next == nil || *next == "" {
			return out, nil
		}
		if pages >= maxPages {
			return nil, fmt.Errorf("graph: appRoleAssignedTo: more than %d pages, giving up", maxPages)
		}
		if err := r.checkLink(*next); err != nil {
			return nil, fmt.Errorf("graph: appRoleAssignedTo: %w", err)
		}
		link = *next
	}
}

// canonicalUUID renders a GUID the way the SDK's uuid-typed properties did (lower case, hyphenated);
// absent is "", and a value that is not a GUID makes the page malformed.
func canonicalUUID(s *string) (string, error) {
	if s == nil {
		return "", nil
	}
	u, err := uuid.Parse(*s)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// --- translation from page records to directory types ---

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

// field is one wanted attribute with the accessor of the record property it is read from, resolved
// once per round instead of once per object.
type field[R any] struct {
	attr directory.SourceAttribute
	get  func(*R) any
}

// userFields resolves the wanted user attributes to record accessors. References (manager) come from
// annotations, not properties.
func userFields(want []directory.SourceAttribute) []field[userRecord] {
	out := make([]field[userRecord], 0, len(want))
	for _, a := range want {
		if get, ok := userProperties[a.Property]; ok && a.Kind != directory.AttrReference {
			out = append(out, field[userRecord]{a, get})
		}
	}
	return out
}

func groupFields(want []directory.SourceAttribute) []field[groupRecord] {
	out := make([]field[groupRecord], 0, len(want))
	for _, a := range want {
		if get, ok := groupProperties[a.Property]; ok {
			out = append(out, field[groupRecord]{a, get})
		}
	}
	return out
}

// removal reads the @removed annotation.
func removal(m mark) (directory.Removal, bool) {
	if !m.present {
		return directory.NotRemoved, false
	}
	if strings.EqualFold(m.reason, string(directory.HardDeleted)) {
		return directory.HardDeleted, true
	}
	// "changed", or anything unexpected: treat as restorable, which disables rather than deletes.
	return directory.SoftDeleted, true
}

// into, when not nil, is cleared and becomes the user's Attributes (a caller that is done with each
// user before the next: at 100,000 users a map of each was 190 MB of allocations); nil: a fresh map.
func userFrom(u *userRecord, fields []field[userRecord], into mapping.AttributeMap) directory.User {
	out := directory.User{ID: u.ID}
	if into == nil {
		into = make(mapping.AttributeMap, len(fields)+1)
	}
	clear(into)
	out.Attributes = into
	if r, ok := removal(u.Removed); ok {
		out.Removed = r
		out.Attributes["objectId"] = mapping.Str(u.ID)
		return out
	}
	for _, f := range fields {
		v, ok := attributeValue(f.get(u), f.attr)
		if !ok {
			continue
		}
		if f.attr.Name == "userPrincipalName" {
			v = mapping.Str(directory.StripGuestUPN(v.String()))
		}
		out.Attributes[f.attr.Name] = v
	}
	if u.ManagerDelta.present {
		out.ManagerKnown = true
		// The last entry without @removed is the manager; only removed entries (or none) clear it.
		mgr := ""
		for _, e := range u.ManagerDelta.items {
			if e.Removed.present {
				if e.ID == mgr {
					mgr = ""
				}
				continue
			}
			if e.ID != "" {
				mgr = e.ID
			}
		}
		if mgr != "" {
			out.Attributes["manager"] = mapping.Str(mgr)
		}
	}
	return out
}

func groupFrom(g *groupRecord, fields []field[groupRecord]) directory.Group {
	out := directory.Group{ID: g.ID}
	if r, ok := removal(g.Removed); ok {
		out.Removed = r
		out.Attributes = mapping.AttributeMap{"objectId": mapping.Str(g.ID)}
		return out
	}
	out.Attributes = make(mapping.AttributeMap, len(fields))
	for _, f := range fields {
		if v, ok := attributeValue(f.get(g), f.attr); ok {
			out.Attributes[f.attr.Name] = v
		}
	}
	if g.MembersDelta.present {
		out.MembersKnown = true
		for _, e := range g.MembersDelta.items {
			if e.ID == "" {
				continue
			}
			out.Members = append(out.Members, directory.Member{ID: e.ID,
				Type: strings.TrimPrefix(e.Type, "#microsoft.graph."), Removed: e.Removed.present})
		}
		out.Members = merge.Members(nil, out.Members)
	}
	return out
}

// attributeValue converts one record property (as returned by the userProperties/groupProperties
// accessors) following the directory table: Index picks one item of a collection
// (businessPhones[0]), Sub a field of a complex value (onPremisesExtensionAttributes.extensionAttributeN).
// An absent or null property gives false.
func attributeValue(v any, a directory.SourceAttribute) (mapping.Value, bool) {
	if a.Sub != "" {
		ext, _ := v.(*extensionAttributes)
		v = ext.get(a.Sub)
	}
	if a.Kind == directory.AttrMulti || a.Index >= 0 {
		var items []string
		switch x := v.(type) {
		case []string:
			items = x
		case *string:
			if x != nil {
				items = []string{*x}
			}
		}
		if items == nil {
			return mapping.Null(), false
		}
		if a.Kind == directory.AttrMulti {
			return mapping.Multi(items), true
		}
		if a.Index >= len(items) {
			return mapping.Null(), false
		}
		return mapping.Str(items[a.Index]), true
	}
	switch x := v.(type) {
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
	case *bool:
		if x == nil {
			return mapping.Null(), false
		}
		return mapping.Bool(*x), true
	}
	return mapping.Null(), false
}

// appRoles reads the app's role definitions: role id -> value (or display name when it has none).
func (r *Reader) appRoles(ctx context.Context, servicePrincipalID string) (map[string]string, error) {
	link, err := requestURL(r.sps.ByServicePrincipalId(servicePrincipalID).ToGetRequestInformation(ctx,
		&serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: []string{"id", "appRoles"}},
		}))
	if err != nil {
		return nil, fmt.Errorf("graph: servicePrincipal: %w", err)
	}
	sp, err := getPage[servicePrincipalPage](r, ctx, "servicePrincipal", link)
	if err != nil {
		return nil, err
	}
	roles := map[string]string{}
	for _, ar := range sp.AppRoles {
		if ar == nil || ar.ID == nil {
			continue
		}
		id, err := canonicalUUID(ar.ID)
		if err != nil {
			return nil, fmt.Errorf("graph: servicePrincipal appRoles: id: %w", err)
		}
		name := deref(ar.Value)
		if name == "" {
			name = deref(ar.DisplayName)
		}
		roles[id] = name
	}
	return roles, nil
}
