package graphapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/scimsync/scimsync/emulator/graphapi/internal/odata"
	"github.com/scimsync/scimsync/emulator/graphapi/internal/reply"
)

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
	case len(seg) == 2 && (seg[0] == "users" || seg[0] == "groups") && odata.IsDelta(seg[1]):
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
		reply.GraphError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg[len(seg)-1]+"'.")
	}
}

func (s *Server) serveDelta(w http.ResponseWriter, r *http.Request, kind string) {
	q := r.URL.Query()
	for _, o := range []string{"$expand", "$top", "$orderby", "$search", "$count"} {
		if q.Has(o) {
			reply.GraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery",
				"Unsupported query option '"+o+"' on delta.")
			return
		}
	}
	if q.Has("$filter") {
		reply.GraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "graphapi: $filter is not emulated on delta.")
		return
	}
	known, typ := odata.UserProps, "user"
	if kind == "groups" {
		known, typ = odata.GroupProps, "group"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Has("$skiptoken") {
		t, err := odata.DecodeToken(q.Get("$skiptoken"))
		if err != nil || t.Kind != kind || t.Session == "" {
			reply.GraphError(w, http.StatusBadRequest, "BadRequest", "Invalid skip token.")
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
	sel, def, ok := parseSelect(w, q, known, typ)
	if !ok {
		return
	}
	if q.Has("$deltatoken") {
		switch v := q.Get("$deltatoken"); v {
		case "":
			// The Location of a 410 reset: same as an initial request.
		case "latest":
			// "Sync from now": no data, just a link at the current version.
			t := odata.Token{Kind: kind, Ver: s.ver, Sel: sel, Default: def, Epoch: s.epoch}
			reply.JSON(w, http.StatusOK, map[string]any{
				"@odata.context":   s.GraphURL() + "/$metadata#" + kind,
				"value":            []any{},
				"@odata.deltaLink": s.GraphURL() + "/" + kind + "/delta?$deltatoken=" + t.Encode(),
			})
			return
		default:
			t, err := odata.DecodeToken(v)
			if err != nil || t.Kind != kind {
				reply.GraphError(w, http.StatusBadRequest, "BadRequest", "Invalid delta token.")
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
		reply.GraphError(w, http.StatusBadRequest, "BadRequest", "Invalid skip token.")
		return
	}
	ctx := s.GraphURL() + "/$metadata#" + kind
	if !sess.def {
		ctx += "(" + strings.Join(sess.sel, ",") + ")"
	}
	body := map[string]any{"@odata.context": ctx, "value": sess.pages[page]}
	if page+1 < len(sess.pages) {
		t := odata.Token{Kind: kind, Session: sid, Page: page + 1, Epoch: sess.epoch}
		body["@odata.nextLink"] = s.GraphURL() + "/" + kind + "/delta?$skiptoken=" + t.Encode()
	} else {
		t := odata.Token{Kind: kind, Ver: sess.version, Sel: sess.sel, Default: sess.def, Epoch: sess.epoch}
		body["@odata.deltaLink"] = s.GraphURL() + "/" + kind + "/delta?$deltatoken=" + t.Encode()
	}
	reply.JSON(w, http.StatusOK, body)
}

func (s *Server) writeExpired(w http.ResponseWriter, kind string) {
	switch s.expiry {
	case ExpireSyncStateNotFound:
		reply.GraphError(w, http.StatusBadRequest, "syncStateNotFound",
			"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
	case ExpireResyncRequired:
		reply.GraphError(w, http.StatusBadRequest, "resyncRequired",
			"The delta token is no longer valid, and the app must reset the sync state.")
	default:
		w.Header().Set("Location", s.GraphURL()+"/"+kind+"/delta?$deltatoken=")
		reply.GraphError(w, http.StatusGone, "syncStateNotFound",
			"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
	}
}

// userDelta lists the user records of a round since version since (0 = initial). Callers hold s.mu.
func (s *Server) userDelta(since int64, sel []string, def bool) []map[string]any {
	tracked := sel
	if def {
		tracked = odata.DefaultUserProps
	}
	withManager := slices.Contains(tracked, "manager")
	var out []map[string]any
	for _, id := range s.userOrder {
		u := s.users[id]
		if u.removed != "" {
			if since > 0 && u.removedVer > since {
				out = append(out, odata.RemovedRecord(id, u.removed))
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
		rec := odata.Pick(u.props, tracked)
		if withManager {
			switch {
			case u.manager != "" && (fresh || u.managerVer > since):
				rec["manager@delta"] = []any{odata.Ref("user", u.manager, false)}
			case !fresh && u.manager == "" && u.managerVer > since && u.prevManager != "":
				rec["manager@delta"] = []any{odata.Ref("user", u.prevManager, true)}
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
				out = append(out, odata.RemovedRecord(id, g.removed))
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
					members = append(members, odata.Ref(g.changes[m].typ, m, false))
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
					members = append(members, odata.Ref(g.changes[m].typ, m, g.changes[m].removed))
				}
			}
		}
		if !changed && len(members) == 0 {
			continue
		}
		rec := odata.Pick(g.props, tracked)
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
			reply.GraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
			return
		}
		// Server-driven paging: Options.PageSize caps $top, so small page sizes still exercise
		// paging of clients that ask for 999.
		size = min(n, size)
	}
	off := 0
	if st := q.Get("$skiptoken"); st != "" {
		t, err := odata.DecodeToken(st)
		if err != nil || t.Kind != "list" {
			reply.GraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid skip token.")
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
		b.WriteString("$skiptoken=" + odata.Token{Kind: "list", Offset: end}.Encode())
		body["@odata.nextLink"] = s.GraphURL() + r.URL.Path[len("/v1.0"):] + "?" + b.String()
	}
	if items == nil {
		body["value"] = []any{}
	}
	reply.JSON(w, http.StatusOK, body)
}

// parseSelect reads $select, answering 400 as Graph does when it names an unknown property.
func parseSelect(w http.ResponseWriter, q url.Values, known map[string]string, typ string) (sel []string, def, ok bool) {
	sel, def, err := odata.ParseSelect(q, known, typ)
	if err != nil {
		reply.GraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return nil, false, false
	}
	return sel, def, true
}

// listSelect checks a list request's query: the options the emulator does not answer, and $select.
func (s *Server) listSelect(w http.ResponseWriter, q url.Values, known map[string]string, typ string) (sel []string, def, ok bool) {
	if s.rejectListOptions(w, q) {
		return nil, false, false
	}
	return parseSelect(w, q, known, typ)
}

func (s *Server) rejectListOptions(w http.ResponseWriter, q url.Values) bool {
	for _, o := range []string{"$filter", "$expand", "$orderby", "$search"} {
		if q.Has(o) {
			reply.GraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "graphapi: "+o+" is not emulated.")
			return true
		}
	}
	return false
}

func (s *Server) serveUserList(w http.ResponseWriter, r *http.Request) {
	sel, def, ok := s.listSelect(w, r.URL.Query(), odata.UserProps, "user")
	if !ok {
		return
	}
	if def {
		sel = odata.DefaultUserProps
	}
	s.mu.Lock()
	var items []map[string]any
	for _, id := range s.userOrder {
		if u := s.users[id]; u.removed == "" {
			items = append(items, odata.Pick(u.props, sel))
		}
	}
	s.mu.Unlock()
	s.writeList(w, r, items, "users")
}

func notFound(w http.ResponseWriter, id string) {
	reply.GraphError(w, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

func (s *Server) serveUser(w http.ResponseWriter, r *http.Request, id string) {
	sel, def, ok := parseSelect(w, r.URL.Query(), odata.UserProps, "user")
	if !ok {
		return
	}
	if def {
		sel = odata.DefaultUserProps
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
	rec := odata.Pick(u.props, sel)
	// $expand=manager (optionally with a nested $select) is how a plain GET reads the manager.
	if exp := r.URL.Query().Get("$expand"); exp != "" {
		if exp != "manager" && !strings.HasPrefix(exp, "manager(") {
			s.mu.Unlock()
			reply.GraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "graphapi: only $expand=manager is emulated.")
			return
		}
		if m, ok := s.users[u.manager]; ok && m.removed == "" {
			rec["manager"] = map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.manager}
		}
	}
	s.mu.Unlock()
	rec["@odata.context"] = s.GraphURL() + "/$metadata#users/$entity"
	reply.JSON(w, http.StatusOK, rec)
}

func (s *Server) serveManager(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	u, ok := s.users[id]
	if !ok || u.removed != "" || u.manager == "" {
		s.mu.Unlock()
		notFound(w, id)
		return
	}
	rec := odata.Pick(s.users[u.manager].props, odata.DefaultUserProps)
	s.mu.Unlock()
	rec["@odata.type"] = "#microsoft.graph.user"
	reply.JSON(w, http.StatusOK, rec)
}

func (s *Server) groupRecord(g *groupState, sel []string, def bool) map[string]any {
	if def {
		return odata.Pick(g.props, slices.Sorted(func(yield func(string) bool) {
			for k := range g.props {
				if !yield(k) {
					return
				}
			}
		}))
	}
	return odata.Pick(g.props, sel)
}

func (s *Server) serveGroupList(w http.ResponseWriter, r *http.Request) {
	sel, def, ok := s.listSelect(w, r.URL.Query(), odata.GroupProps, "group")
	if !ok {
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
	sel, def, ok := parseSelect(w, r.URL.Query(), odata.GroupProps, "group")
	if !ok {
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
	reply.JSON(w, http.StatusOK, rec)
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
			rec = odata.Pick(u.props, odata.DefaultUserProps)
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
	reply.JSON(w, http.StatusOK, map[string]any{"id": s.sp.ID, "appId": s.sp.AppID,
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
