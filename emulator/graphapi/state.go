package graphapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/scimsync/scimsync/emulator/graphapi/internal/tenant"
)

// The directory state is versioned: every mutation bumps Server.ver and stamps what it touched with
// the new version. A delta token is just "the version the client has seen", so a later round returns
// exactly the objects whose tracked properties, manager or memberships carry a newer stamp. This keeps
// delta semantics (select-dependent tracking, @removed, members@delta) correct without a change log.

type userState struct {
	props   map[string]any
	propVer map[string]int64
	// createdVer is the version of creation or of the last restore: Graph shows a restored object as
	// new, so a round since an older version returns it in full.
	createdVer int64
	removed    string // "", "changed" (soft-deleted) or "deleted" (hard-deleted)
	removedVer int64
	manager    string
	// prevManager is the manager removed by the last change, for the @removed entry of manager@delta.
	prevManager string
	managerVer  int64
}

type memberChange struct {
	ver     int64
	removed bool
	typ     string
}

type groupState struct {
	props      map[string]any
	propVer    map[string]int64
	createdVer int64
	removed    string
	removedVer int64
	members    []string
	changes    map[string]memberChange
}

type assignmentState struct {
	id string
	Assignment
}

// normalize turns caller-supplied values into what encoding/json would produce ([]any, float64,
// map[string]any), so comparisons and output do not depend on how a test spelled a value.
func normalize(props map[string]any) map[string]any {
	b, err := json.Marshal(props)
	if err != nil {
		panic(fmt.Sprintf("graphapi: properties are not JSON: %v", err))
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("graphapi: properties are not JSON: %v", err))
	}
	return out
}

func groupProps(g Group) map[string]any {
	p := map[string]any{
		"id":              g.ID,
		"displayName":     g.DisplayName,
		"mailEnabled":     g.MailEnabled,
		"securityEnabled": g.SecurityEnabled,
		"groupTypes":      g.GroupTypes,
	}
	if g.GroupTypes == nil {
		p["groupTypes"] = []string{}
	}
	if g.Description != "" {
		p["description"] = g.Description
	}
	if g.Mail != "" {
		p["mail"] = g.Mail
	}
	if g.MailNickname != "" {
		p["mailNickname"] = g.MailNickname
	}
	return normalize(p)
}

// load fills the state from a tenant; everything starts at version 1.
func (s *Server) load(t *Tenant) {
	s.ver = 1
	s.users = map[string]*userState{}
	s.groups = map[string]*groupState{}
	for _, u := range t.Users {
		p := normalize(u)
		id, _ := p["id"].(string)
		if id == "" {
			id = tenant.NewID()
			p["id"] = id
		}
		st := &userState{props: p, propVer: map[string]int64{}, createdVer: 1}
		for k := range p {
			st.propVer[k] = 1
		}
		s.users[id] = st
		s.userOrder = append(s.userOrder, id)
	}
	for u, m := range t.Managers {
		if st, ok := s.users[u]; ok {
			st.manager, st.managerVer = m, 1
		}
	}
	for _, g := range t.Groups {
		st := &groupState{props: groupProps(g), propVer: map[string]int64{}, createdVer: 1, changes: map[string]memberChange{}}
		for k := range st.props {
			st.propVer[k] = 1
		}
		s.groups[g.ID] = st
		s.groupOrder = append(s.groupOrder, g.ID)
	}
	for _, g := range t.Groups {
		for _, m := range g.Members {
			s.groups[g.ID].addMember(m, s.objectType(m), 1)
		}
	}
	s.sp = t.ServicePrincipal
	if s.sp.ID == "" {
		s.sp.ID = tenant.NewID()
	}
	if s.sp.AppID == "" {
		s.sp.AppID = tenant.NewID()
	}
	for _, a := range t.Assignments {
		if a.AppRoleID == "" {
			a.AppRoleID = DefaultAccessRole
		}
		s.assignments = append(s.assignments, assignmentState{id: tenant.NewID(), Assignment: a})
	}
}

func (s *Server) objectType(id string) string {
	if _, ok := s.users[id]; ok {
		return "user"
	}
	if _, ok := s.groups[id]; ok {
		return "group"
	}
	return "directoryObject"
}

func (g *groupState) addMember(id, typ string, ver int64) bool {
	if slices.Contains(g.members, id) {
		return false
	}
	g.members = append(g.members, id)
	g.changes[id] = memberChange{ver: ver, typ: typ}
	return true
}

func (g *groupState) removeMember(id string, ver int64) bool {
	i := slices.Index(g.members, id)
	if i < 0 {
		return false
	}
	g.members = slices.Delete(g.members, i, i+1)
	g.changes[id] = memberChange{ver: ver, removed: true, typ: g.changes[id].typ}
	return true
}

// bump starts a mutation; callers hold s.mu.
func (s *Server) bump() int64 {
	s.ver++
	return s.ver
}

// setProps merges props into an object, stamping only the properties whose value really changed, as
// Graph only reports an object when a tracked property changed. A nil value removes the property.
func setProps(props map[string]any, propVer map[string]int64, changes map[string]any, ver int64) {
	for k, v := range normalize(changes) {
		if k == "id" {
			continue
		}
		old, had := props[k]
		if v == nil {
			if had {
				delete(props, k)
				propVer[k] = ver
			}
			continue
		}
		if !had || !reflect.DeepEqual(old, v) {
			props[k] = v
			propVer[k] = ver
		}
	}
}

func (s *Server) liveUser(id string) (*userState, error) {
	u, ok := s.users[id]
	if !ok || u.removed == "deleted" {
		return nil, fmt.Errorf("graphapi: no user %s", id)
	}
	return u, nil
}

func (s *Server) liveGroup(id string) (*groupState, error) {
	g, ok := s.groups[id]
	if !ok || g.removed != "" {
		return nil, fmt.Errorf("graphapi: no group %s", id)
	}
	return g, nil
}

// UpsertUser creates a user or merges props into an existing one, and returns its id (generated when
// props has none). Scenario tests use it to model both hires and attribute changes between cycles.
func (s *Server) UpsertUser(props map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := normalize(props)
	id, _ := p["id"].(string)
	if id == "" {
		id = tenant.NewID()
		p["id"] = id
	}
	ver := s.bump()
	if u, ok := s.users[id]; ok && u.removed != "deleted" {
		setProps(u.props, u.propVer, p, ver)
		return id
	}
	st := &userState{props: map[string]any{"id": id}, propVer: map[string]int64{}, createdVer: ver}
	setProps(st.props, st.propVer, p, ver)
	if _, ok := s.users[id]; !ok {
		s.userOrder = append(s.userOrder, id)
	}
	s.users[id] = st
	return id
}

// UpdateUser changes properties of an existing user (nil removes one); unlike UpsertUser it fails for
// an unknown id, which catches typos in scenario tests.
func (s *Server) UpdateUser(id string, props map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.liveUser(id)
	if err != nil {
		return err
	}
	setProps(u.props, u.propVer, props, s.bump())
	return nil
}

// DisableUser sets accountEnabled=false, the change that makes the provisioning service disable the
// account in the target.
func (s *Server) DisableUser(id string) error {
	return s.UpdateUser(id, map[string]any{"accountEnabled": false})
}

// EnableUser sets accountEnabled=true.
func (s *Server) EnableUser(id string) error {
	return s.UpdateUser(id, map[string]any{"accountEnabled": true})
}

// SoftDeleteUser moves a user to the recycle bin: delta reports @removed reason "changed" and the user
// disappears from lists, but keeps its group memberships (as Graph does) until hard deletion.
func (s *Server) SoftDeleteUser(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.liveUser(id)
	if err != nil {
		return err
	}
	if u.removed != "" {
		return fmt.Errorf("graphapi: user %s is already deleted", id)
	}
	u.removed, u.removedVer = "changed", s.bump()
	return nil
}

// RestoreUser brings a soft-deleted user back; Graph then shows it as newly created.
func (s *Server) RestoreUser(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || u.removed != "changed" {
		return fmt.Errorf("graphapi: user %s is not soft-deleted", id)
	}
	u.removed, u.createdVer = "", s.bump()
	return nil
}

// HardDeleteUser deletes a user permanently (directly or from the recycle bin): delta reports reason
// "deleted", its memberships are removed (members@delta @removed), reports lose their manager, and
// its app role assignments go.
func (s *Server) HardDeleteUser(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.liveUser(id)
	if err != nil {
		return err
	}
	ver := s.bump()
	u.removed, u.removedVer = "deleted", ver
	s.forgetPrincipal(id, ver)
	for _, o := range s.users {
		if o.manager == id {
			o.prevManager, o.manager, o.managerVer = id, "", ver
		}
	}
	return nil
}

// forgetPrincipal removes a permanently deleted object from every group and assignment.
func (s *Server) forgetPrincipal(id string, ver int64) {
	for _, g := range s.groups {
		g.removeMember(id, ver)
	}
	s.assignments = slices.DeleteFunc(s.assignments, func(a assignmentState) bool { return a.PrincipalID == id })
}

// SetManager sets (or with managerID "" removes) a user's manager, which delta reports through
// manager@delta.
func (s *Server) SetManager(id, managerID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.liveUser(id)
	if err != nil {
		return err
	}
	if managerID != "" {
		if _, err := s.liveUser(managerID); err != nil {
			return err
		}
	}
	if u.manager == managerID {
		return nil
	}
	ver := s.bump()
	if managerID == "" {
		u.prevManager = u.manager
	}
	u.manager, u.managerVer = managerID, ver
	return nil
}

// CreateGroup adds a group (an id is generated when g.ID is empty) and returns its id.
func (s *Server) CreateGroup(g Group) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ID == "" {
		g.ID = tenant.NewID()
	}
	if _, ok := s.groups[g.ID]; ok {
		return "", fmt.Errorf("graphapi: group %s exists", g.ID)
	}
	ver := s.bump()
	st := &groupState{props: groupProps(g), propVer: map[string]int64{}, createdVer: ver, changes: map[string]memberChange{}}
	for k := range st.props {
		st.propVer[k] = ver
	}
	for _, m := range g.Members {
		if s.objectType(m) == "directoryObject" {
			return "", fmt.Errorf("graphapi: group %s: unknown member %s", g.ID, m)
		}
		st.addMember(m, s.objectType(m), ver)
	}
	s.groups[g.ID] = st
	s.groupOrder = append(s.groupOrder, g.ID)
	return g.ID, nil
}

// UpdateGroup changes group properties (nil removes one).
func (s *Server) UpdateGroup(id string, props map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.liveGroup(id)
	if err != nil {
		return err
	}
	setProps(g.props, g.propVer, props, s.bump())
	return nil
}

// RenameGroup changes a group's displayName, the most common group update in scenarios.
func (s *Server) RenameGroup(id, name string) error {
	return s.UpdateGroup(id, map[string]any{"displayName": name})
}

// DeleteGroup deletes a group: a Microsoft 365 group ("Unified") is soft-deleted (@removed "changed"),
// a security group is gone for good ("deleted"), matching Graph's documented behaviour.
func (s *Server) DeleteGroup(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.liveGroup(id)
	if err != nil {
		return err
	}
	ver := s.bump()
	g.removed, g.removedVer = "deleted", ver
	if types, ok := g.props["groupTypes"].([]any); ok && slices.Contains(types, any("Unified")) {
		g.removed = "changed"
	}
	s.forgetPrincipal(id, ver)
	return nil
}

// AddMember adds a user or group to a group's direct members.
func (s *Server) AddMember(groupID, memberID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.liveGroup(groupID)
	if err != nil {
		return err
	}
	typ := s.objectType(memberID)
	if typ == "directoryObject" {
		return fmt.Errorf("graphapi: no user or group %s", memberID)
	}
	if slices.Contains(g.members, memberID) {
		return nil
	}
	g.addMember(memberID, typ, s.bump())
	return nil
}

// RemoveMember removes a direct member; delta reports it as a members@delta entry with @removed.
func (s *Server) RemoveMember(groupID, memberID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.liveGroup(groupID)
	if err != nil {
		return err
	}
	if !slices.Contains(g.members, memberID) {
		return fmt.Errorf("graphapi: %s is not a member of %s", memberID, groupID)
	}
	g.removeMember(memberID, s.bump())
	return nil
}

// Assign assigns a user or group (principalType "User" or "Group") to the app with the default-access
// role, which is what brings it into assignment scope.
func (s *Server) Assign(principalID, principalType string) error {
	return s.AssignRole(principalID, principalType, DefaultAccessRole)
}

// AssignRole is Assign with a specific app role.
func (s *Server) AssignRole(principalID, principalType, appRoleID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]string{"User": "user", "Group": "group"}[principalType]
	if want == "" || s.objectType(principalID) != want {
		return fmt.Errorf("graphapi: no %s %s to assign", principalType, principalID)
	}
	for _, a := range s.assignments {
		if a.PrincipalID == principalID && a.AppRoleID == appRoleID {
			return nil
		}
	}
	s.bump()
	s.assignments = append(s.assignments, assignmentState{id: tenant.NewID(),
		Assignment: Assignment{PrincipalID: principalID, PrincipalType: principalType, AppRoleID: appRoleID}})
	return nil
}

// Unassign removes every app role assignment of a principal.
func (s *Server) Unassign(principalID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.assignments)
	s.assignments = slices.DeleteFunc(s.assignments, func(a assignmentState) bool { return a.PrincipalID == principalID })
	if len(s.assignments) == n {
		return fmt.Errorf("graphapi: %s has no assignment", principalID)
	}
	s.bump()
	return nil
}

// ServicePrincipal returns the app's service principal, whose id the reader needs for
// appRoleAssignedTo.
func (s *Server) ServicePrincipal() ServicePrincipal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sp
}

// UserIDs lists the ids of users that currently exist (not deleted), in creation order.
func (s *Server) UserIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range s.userOrder {
		if s.users[id].removed == "" {
			out = append(out, id)
		}
	}
	return out
}
