package graphapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// userProps is the set of user properties the emulator accepts in $select (Graph v1.0 names). An
// unknown name answers 400 as Graph does, which catches a wrong entry in the attribute table.
var userProps = propSet("id", "userPrincipalName", "accountEnabled", "displayName", "givenName", "surname",
	"mail", "mailNickname", "jobTitle", "department", "companyName", "employeeId", "employeeType",
	"employeeHireDate", "employeeLeaveDateTime", "employeeOrgData", "businessPhones", "mobilePhone", "faxNumber",
	"officeLocation", "streetAddress", "city", "state", "country", "postalCode", "usageLocation",
	"preferredLanguage", "userType", "proxyAddresses", "otherMails", "manager", "onPremisesSamAccountName",
	"onPremisesImmutableId", "onPremisesDistinguishedName", "onPremisesDomainName",
	"onPremisesSecurityIdentifier", "onPremisesUserPrincipalName", "onPremisesExtensionAttributes",
	"onPremisesSyncEnabled", "onPremisesLastSyncDateTime", "createdDateTime", "creationType",
	"externalUserState", "identities", "imAddresses", "ageGroup", "consentProvidedForMinor",
	"legalAgeGroupClassification", "showInAddressList", "deletedDateTime", "signInSessionsValidFromDateTime")

// defaultUserProps is what Graph returns for users without $select.
var defaultUserProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

var groupPropNames = propSet("id", "displayName", "description", "mail", "mailEnabled", "mailNickname",
	"securityEnabled", "groupTypes", "members", "owners", "createdDateTime", "visibility", "classification",
	"onPremisesSyncEnabled", "onPremisesSecurityIdentifier", "onPremisesSamAccountName", "proxyAddresses",
	"securityIdentifier", "isAssignableToRole", "deletedDateTime", "expirationDateTime", "renewedDateTime")

func propSet(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}

// token is the content of every $skiptoken and $deltatoken the emulator issues. Graph's tokens are
// opaque; these are base64 JSON so a failing test can decode them.
type token struct {
	Kind    string   `json:"k"` // "users" or "groups" for delta, "list" for plain lists
	Ver     int64    `json:"v,omitempty"`
	Sel     []string `json:"s,omitempty"`
	Default bool     `json:"d,omitempty"` // no $select: default properties (and members for groups)
	Session string   `json:"sid,omitempty"`
	Page    int      `json:"p,omitempty"`
	Offset  int      `json:"o,omitempty"`
	Epoch   int      `json:"e"`
}

func (t token) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (token, error) {
	var t token
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, err
	}
	err = json.Unmarshal(b, &t)
	return t, err
}

// session is one delta round computed at its first request: later pages serve this snapshot, so
// changes made while a client pages through land in the next round, as with Graph.
type session struct {
	kind    string
	pages   [][]map[string]any
	version int64
	sel     []string
	def     bool
	epoch   int
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, p string) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(seg) == 2 && (seg[0] == "users" || seg[0] == "groups") && isDelta(seg[1]):
		s.serveDelta(w, r, seg[0])
	case len(seg) == 1 && seg[0] == "users":
		s.serveUserList(w, r)
	case len(seg) == 2 && seg[0] == "users":
		s.serveUser(w, r, seg[1])
	case len(seg) == 3 && seg[0] == "users" && seg[2] == "manager":
		s.serveManager(w, r, seg[1])
	case len(seg) == 1 && seg[0] == "groups":
		s.serveGroupList(w, r)
	case len(seg) == 2 && seg[0] == "groups":
		s.serveGroup(w, r, seg[1])
	case len(seg) == 3 && seg[0] == "groups" && seg[2] == "members":
		s.serveMembers(w, r, seg[1])
	case len(seg) == 1 && strings.HasPrefix(seg[0], "servicePrincipals("):
		s.serveSP(w, r, seg[0])
	case len(seg) == 2 && seg[0] == "servicePrincipals":
		s.serveSP(w, r, seg[1])
	case len(seg) == 2 && strings.HasPrefix(seg[0], "servicePrincipals(") && seg[1] == "appRoleAssignedTo":
		s.serveAssignedTo(w, r, seg[0])
	case len(seg) == 3 && seg[0] == "servicePrincipals" && seg[2] == "appRoleAssignedTo":
		s.serveAssignedTo(w, r, seg[1])
	default:
		writeError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg[len(seg)-1]+"'.")
	}
}

func isDelta(seg string) bool {
	switch seg {
	case "delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()":
		return true
	}
	return false
}

// parseSelect validates $select against the known properties; def is true when there is none.
func parseSelect(q url.Values, known map[string]string, typ string) (sel []string, def bool, err error) {
	raw := q.Get("$select")
	if raw == "" {
		return nil, true, nil
	}
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		c, ok := known[strings.ToLower(p)]
		if !ok {
			//lint:ignore ST1005 Graph's own message, verbatim, so clients see what real Graph says
			return nil, false, fmt.Errorf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, typ)
		}
		if !slices.Contains(sel, c) {
			sel = append(sel, c)
		}
	}
	return sel, false, nil
}

func (s *Server) serveDelta(w http.ResponseWriter, r *http.Request, kind string) {
	q := r.URL.Query()
	for _, o := range []string{"$expand", "$top", "$orderby", "$search", "$count"} {
		if q.Has(o) {
			writeError(w, http.StatusBadRequest, "Request_UnsupportedQuery",
				"Unsupported query option '"+o+"' on delta.")
			return
		}
	}
	if q.Has("$filter") {
		writeError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "graphapi: $filter is not emulated on delta.")
		return
	}
	known, typ := userProps, "user"
	if kind == "groups" {
		known, typ = groupPropNames, "group"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Has("$skiptoken") {
		t, err := decodeToken(q.Get("$skiptoken"))
		if err != nil || t.Kind != kind || t.Session == "" {
			writeError(w, http.StatusBadRequest, "BadRequest", "Invalid skip token.")
			return
		}
		sess := s.sessions[t.Session]
		if t.Epoch != s.epoch || sess == nil {
			s.writeExpired(w, kind)
			return
		}
		s.writePage(w, kind, t.Session, sess, t.Page)
		return
	}
	var since int64
	sel, def, err := parseSelect(q, known, typ)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if q.Has("$deltatoken") {
		switch v := q.Get("$deltatoken"); v {
		case "":
			// The Location of a 410 reset: same as an initial request.
		case "latest":
			// "Sync from now": no data, just a link at the current version.
			t := token{Kind: kind, Ver: s.ver, Sel: sel, Default: def, Epoch: s.epoch}
			writeJSON(w, http.StatusOK, map[string]any{
				"@odata.context":   s.GraphURL() + "/$metadata#" + kind,
				"value":            []any{},
				"@odata.deltaLink": s.GraphURL() + "/" + kind + "/delta?$deltatoken=" + t.encode(),
			})
			return
		default:
			t, err := decodeToken(v)
			if err != nil || t.Kind != kind {
				writeError(w, http.StatusBadRequest, "BadRequest", "Invalid delta token.")
				return
			}
			if t.Epoch != s.epoch {
				s.writeExpired(w, kind)
				return
			}
			// Graph encodes the first request's $select in the token; a $select here is ignored.
			since, sel, def = t.Ver, t.Sel, t.Default
		}
	}
	var recs []map[string]any
	if kind == "users" {
		recs = s.userDelta(since, sel, def)
	} else {
		recs = s.groupDelta(since, sel, def)
	}
	sess := &session{kind: kind, version: s.ver, sel: sel, def: def, epoch: s.epoch, pages: s.paginate(recs)}
	s.sessSeq++
	id := strconv.Itoa(s.sessSeq)
	s.sessions[id] = sess
	// Keep a bounded number of rounds: enough for retries of any recent page.
	delete(s.sessions, strconv.Itoa(s.sessSeq-64))
	s.writePage(w, kind, id, sess, 0)
}

func (s *Server) paginate(recs []map[string]any) [][]map[string]any {
	var pages [][]map[string]any
	for i := 0; i < len(recs) || i == 0; i += s.opts.PageSize {
		pages = append(pages, recs[i:min(i+s.opts.PageSize, len(recs))])
		if s.opts.EmptyPageEvery > 0 && len(pages)%(s.opts.EmptyPageEvery+1) == s.opts.EmptyPageEvery {
			pages = append(pages, []map[string]any{})
		}
	}
	return pages
}

func (s *Server) writePage(w http.ResponseWriter, kind, sid string, sess *session, page int) {
	if page < 0 || page >= len(sess.pages) {
		writeError(w, http.StatusBadRequest, "BadRequest", "Invalid skip token.")
		return
	}
	ctx := s.GraphURL() + "/$metadata#" + kind
	if !sess.def {
		ctx += "(" + strings.Join(sess.sel, ",") + ")"
	}
	body := map[string]any{"@odata.context": ctx, "value": sess.pages[page]}
	if page+1 < len(sess.pages) {
		t := token{Kind: kind, Session: sid, Page: page + 1, Epoch: sess.epoch}
		body["@odata.nextLink"] = s.GraphURL() + "/" + kind + "/delta?$skiptoken=" + t.encode()
	} else {
		t := token{Kind: kind, Ver: sess.version, Sel: sess.sel, Default: sess.def, Epoch: sess.epoch}
		body["@odata.deltaLink"] = s.GraphURL() + "/" + kind + "/delta?$deltatoken=" + t.encode()
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) writeExpired(w http.ResponseWriter, kind string) {
	switch s.expiry {
	case ExpireSyncStateNotFound:
		writeError(w, http.StatusBadRequest, "syncStateNotFound",
			"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
	case ExpireResyncRequired:
		writeError(w, http.StatusBadRequest, "resyncRequired",
			"The delta token is no longer valid, and the app must reset the sync state.")
	default:
		w.Header().Set("Location", s.GraphURL()+"/"+kind+"/delta?$deltatoken=")
		writeError(w, http.StatusGone, "syncStateNotFound",
			"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
	}
}

func removedRecord(id, reason string) map[string]any {
	return map[string]any{"id": id, "@removed": map[string]any{"reason": reason}}
}

func ref(typ, id string, removed bool) map[string]any {
	m := map[string]any{"@odata.type": "#microsoft.graph." + typ, "id": id}
	if removed {
		m["@removed"] = map[string]any{"reason": "deleted"}
	}
	return m
}

func pick(props map[string]any, sel []string) map[string]any {
	out := map[string]any{"id": props["id"]}
	for _, p := range sel {
		if v, ok := props[p]; ok {
			out[p] = v
		}
	}
	return out
}

// userDelta lists the user records of a round since version since (0 = initial). Callers hold s.mu.
func (s *Server) userDelta(since int64, sel []string, def bool) []map[string]any {
	tracked := sel
	if def {
		tracked = defaultUserProps
	}
	withManager := slices.Contains(tracked, "manager")
	var out []map[string]any
	for _, id := range s.userOrder {
		u := s.users[id]
		if u.removed != "" {
			if since > 0 && u.removedVer > since {
				out = append(out, removedRecord(id, u.removed))
			}
			continue
		}
		fresh := since == 0 || u.createdVer > since
		changed := fresh || (withManager && u.managerVer > since)
		for _, p := range tracked {
			changed = changed || u.propVer[p] > since
		}
		if !changed {
			continue
		}
		rec := pick(u.props, tracked)
		if withManager {
			switch {
			case u.manager != "" && (fresh || u.managerVer > since):
				rec["manager@delta"] = []any{ref("user", u.manager, false)}
			case !fresh && u.manager == "" && u.managerVer > since && u.prevManager != "":
				rec["manager@delta"] = []any{ref("user", u.prevManager, true)}
			}
		}
		out = append(out, rec)
	}
	return out
}

// groupDelta lists the group records of a round; members@delta beyond MembersPerRecord go into extra
// records of the same id at the end of the round. Callers hold s.mu.
func (s *Server) groupDelta(since int64, sel []string, def bool) []map[string]any {
	withMembers := def || slices.Contains(sel, "members")
	var out, tail []map[string]any
	for _, id := range s.groupOrder {
		g := s.groups[id]
		if g.removed != "" {
			if since > 0 && g.removedVer > since {
				out = append(out, removedRecord(id, g.removed))
			}
			continue
		}
		tracked := sel
		if def {
			tracked = make([]string, 0, len(g.props))
			for k := range g.props {
				tracked = append(tracked, k)
			}
			sort.Strings(tracked)
		}
		fresh := since == 0 || g.createdVer > since
		changed := fresh
		for _, p := range tracked {
			changed = changed || g.propVer[p] > since
		}
		var members []any
		if withMembers {
			if fresh {
				for _, m := range g.members {
					members = append(members, ref(g.changes[m].typ, m, false))
				}
			} else {
				ids := make([]string, 0, len(g.changes))
				for m, c := range g.changes {
					if c.ver > since {
						ids = append(ids, m)
					}
				}
				sort.Slice(ids, func(i, j int) bool {
					a, b := g.changes[ids[i]], g.changes[ids[j]]
					return a.ver < b.ver || a.ver == b.ver && ids[i] < ids[j]
				})
				for _, m := range ids {
					members = append(members, ref(g.changes[m].typ, m, g.changes[m].removed))
				}
			}
		}
		if !changed && len(members) == 0 {
			continue
		}
		rec := pick(g.props, tracked)
		if len(members) > 0 {
			n := s.opts.MembersPerRecord
			rec["members@delta"] = members[:min(n, len(members))]
			for i := n; i < len(members); i += n {
				tail = append(tail, map[string]any{"id": id, "members@delta": members[i:min(i+n, len(members))]})
			}
		}
		out = append(out, rec)
	}
	return append(out, tail...)
}

// --- plain (non-delta) endpoints ---

// writeList pages a plain collection with an offset $skiptoken, keeping the other query options in
// the nextLink as Graph does.
func (s *Server) writeList(w http.ResponseWriter, r *http.Request, items []map[string]any, context string) {
	q := r.URL.Query()
	size := s.opts.PageSize
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			writeError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
			return
		}
		// Server-driven paging: Options.PageSize caps $top, so small page sizes still exercise
		// paging of clients that ask for 999.
		size = min(n, size)
	}
	off := 0
	if st := q.Get("$skiptoken"); st != "" {
		t, err := decodeToken(st)
		if err != nil || t.Kind != "list" {
			writeError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid skip token.")
			return
		}
		off = t.Offset
	}
	off = min(off, len(items))
	end := min(off+size, len(items))
	body := map[string]any{"@odata.context": s.GraphURL() + "/$metadata#" + context, "value": items[off:end]}
	if end < len(items) {
		var b strings.Builder
		keys := make([]string, 0, len(q))
		for k := range q {
			if k != "$skiptoken" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s&", k, url.QueryEscape(q.Get(k)))
		}
		b.WriteString("$skiptoken=" + token{Kind: "list", Offset: end}.encode())
		body["@odata.nextLink"] = s.GraphURL() + r.URL.Path[len("/v1.0"):] + "?" + b.String()
	}
	if items == nil {
		body["value"] = []any{}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) rejectListOptions(w http.ResponseWriter, q url.Values) bool {
	for _, o := range []string{"$filter", "$expand", "$orderby", "$search"} {
		if q.Has(o) {
			writeError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "graphapi: "+o+" is not emulated.")
			return true
		}
	}
	return false
}

func (s *Server) serveUserList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if s.rejectListOptions(w, q) {
		return
	}
	sel, def, err := parseSelect(q, userProps, "user")
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if def {
		sel = defaultUserProps
	}
	s.mu.Lock()
	var items []map[string]any
	for _, id := range s.userOrder {
		if u := s.users[id]; u.removed == "" {
			items = append(items, pick(u.props, sel))
		}
	}
	s.mu.Unlock()
	s.writeList(w, r, items, "users")
}

func notFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

func (s *Server) serveUser(w http.ResponseWriter, r *http.Request, id string) {
	sel, def, err := parseSelect(r.URL.Query(), userProps, "user")
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if def {
		sel = defaultUserProps
	}
	s.mu.Lock()
	u, ok := s.users[id]
	if !ok && strings.Contains(id, "@") {
		// Graph addresses a user by id or by userPrincipalName.
		for _, c := range s.users {
			if upn, _ := c.props["userPrincipalName"].(string); strings.EqualFold(upn, id) && c.removed == "" {
				u, ok = c, true
				break
			}
		}
	}
	if !ok || u.removed != "" {
		s.mu.Unlock()
		notFound(w, id)
		return
	}
	rec := pick(u.props, sel)
	// $expand=manager (optionally with a nested $select) is how a plain GET reads the manager.
	if exp := r.URL.Query().Get("$expand"); exp != "" {
		if exp != "manager" && !strings.HasPrefix(exp, "manager(") {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "graphapi: only $expand=manager is emulated.")
			return
		}
		if m, ok := s.users[u.manager]; ok && m.removed == "" {
			rec["manager"] = map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.manager}
		}
	}
	s.mu.Unlock()
	rec["@odata.context"] = s.GraphURL() + "/$metadata#users/$entity"
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) serveManager(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	u, ok := s.users[id]
	if !ok || u.removed != "" || u.manager == "" {
		s.mu.Unlock()
		notFound(w, id)
		return
	}
	rec := pick(s.users[u.manager].props, defaultUserProps)
	s.mu.Unlock()
	rec["@odata.type"] = "#microsoft.graph.user"
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) groupRecord(g *groupState, sel []string, def bool) map[string]any {
	if def {
		return pick(g.props, slices.Sorted(func(yield func(string) bool) {
			for k := range g.props {
				if !yield(k) {
					return
				}
			}
		}))
	}
	return pick(g.props, sel)
}

func (s *Server) serveGroupList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if s.rejectListOptions(w, q) {
		return
	}
	sel, def, err := parseSelect(q, groupPropNames, "group")
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	s.mu.Lock()
	var items []map[string]any
	for _, id := range s.groupOrder {
		if g := s.groups[id]; g.removed == "" {
			items = append(items, s.groupRecord(g, sel, def))
		}
	}
	s.mu.Unlock()
	s.writeList(w, r, items, "groups")
}

func (s *Server) serveGroup(w http.ResponseWriter, r *http.Request, id string) {
	sel, def, err := parseSelect(r.URL.Query(), groupPropNames, "group")
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	s.mu.Lock()
	g, ok := s.groups[id]
	if !ok || g.removed != "" {
		s.mu.Unlock()
		notFound(w, id)
		return
	}
	rec := s.groupRecord(g, sel, def)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) serveMembers(w http.ResponseWriter, r *http.Request, id string) {
	if s.rejectListOptions(w, r.URL.Query()) {
		return
	}
	s.mu.Lock()
	g, ok := s.groups[id]
	if !ok || g.removed != "" {
		s.mu.Unlock()
		notFound(w, id)
		return
	}
	var items []map[string]any
	for _, m := range g.members {
		var rec map[string]any
		if u, ok := s.users[m]; ok {
			rec = pick(u.props, defaultUserProps)
			rec["@odata.type"] = "#microsoft.graph.user"
		} else if mg, ok := s.groups[m]; ok {
			rec = s.groupRecord(mg, nil, true)
			rec["@odata.type"] = "#microsoft.graph.group"
		}
		items = append(items, rec)
	}
	s.mu.Unlock()
	s.writeList(w, r, items, "directoryObjects")
}

// spMatches accepts both "{id}" and "servicePrincipals(appId='{appId}')" addressing.
func (s *Server) spMatches(key string) bool {
	if rest, ok := strings.CutPrefix(key, "servicePrincipals("); ok {
		rest = strings.TrimSuffix(rest, ")")
		v, ok := strings.CutPrefix(rest, "appId=")
		if !ok {
			return false
		}
		return strings.Trim(v, "'") == s.sp.AppID
	}
	return key == s.sp.ID
}

func (s *Server) serveSP(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.spMatches(key) {
		notFound(w, key)
		return
	}
	roles := []any{}
	for _, ar := range s.sp.AppRoles {
		roles = append(roles, map[string]any{"id": ar.ID, "value": ar.Value, "displayName": ar.DisplayName,
			"allowedMemberTypes": []string{"User"}, "isEnabled": true, "description": ar.DisplayName})
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": s.sp.ID, "appId": s.sp.AppID,
		"displayName": s.sp.DisplayName, "appRoles": roles})
}

func (s *Server) serveAssignedTo(w http.ResponseWriter, r *http.Request, key string) {
	q := r.URL.Query()
	if s.rejectListOptions(w, q) {
		return
	}
	s.mu.Lock()
	if !s.spMatches(key) {
		s.mu.Unlock()
		notFound(w, key)
		return
	}
	var items []map[string]any
	for _, a := range s.assignments {
		name := ""
		if u, ok := s.users[a.PrincipalID]; ok {
			name, _ = u.props["displayName"].(string)
		} else if g, ok := s.groups[a.PrincipalID]; ok {
			name, _ = g.props["displayName"].(string)
		}
		items = append(items, map[string]any{
			"id": a.id, "deletedDateTime": nil, "appRoleId": a.AppRoleID, "createdDateTime": "2024-01-15T09:30:00Z",
			"principalDisplayName": name, "principalId": a.PrincipalID, "principalType": a.PrincipalType,
			"resourceDisplayName": s.sp.DisplayName, "resourceId": s.sp.ID,
		})
	}
	s.mu.Unlock()
	s.writeList(w, r, items, "servicePrincipals('"+s.sp.ID+"')/appRoleAssignedTo")
}
