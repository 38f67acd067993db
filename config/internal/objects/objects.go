// Package objects compiles the users and groups sections of a job file: the app preset, the file's
// mapping rows merged into it, the compiled mapping table and the scoping filters.
package objects

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/scimsync/scimsync/config/internal/raw"
	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scoping"
)

// Object is the compiled configuration of one object type. Users and groups share the shape because
// Entra configures them the same way (mappings, scoping, on/off), and the engine runs them alike.
type Object struct {
	// Enabled is false when this object type is not provisioned at all.
	Enabled bool
	// Preset is the app preset the table was built from ("gong"), or "".
	Preset string
	// Table is the compiled mapping table; nil when the object type is disabled and has no mappings.
	Table *mapping.Table
	// Scoping is the compiled scoping filter set; nil (everything in scope) when none are configured.
	Scoping *scoping.Set
	// MemberBatchSize is the number of members per PATCH (groups only; 0 for users).
	MemberBatchSize int
	// Mappings is the merged table in declarative form (preset rows with the file's changes applied,
	// then added rows): what Table was compiled from, for printing and for the Fingerprint.
	Mappings []MappingSpec
	// Filters are the scoping filters in canonical form, for printing and for the Fingerprint.
	Filters []scoping.Filter
}

// row is one mapping row during the merge: the preset's, or the file entry that added or replaced it.
type row struct {
	spec  MappingSpec
	entry *raw.Mapping
}

// objectNoun returns "user" or "group" for messages.
func objectNoun(groups bool) string {
	if groups {
		return "group"
	}
	return "user"
}

// DefaultMemberBatchSize is the members per PATCH when a groups section sets none.
const DefaultMemberBatchSize = 100

// compiler checks and compiles one object type's section, reporting through the file's decoder.
type compiler struct {
	*raw.Decoder
}

// Compile merges an object type's mapping entries into its preset, compiles the table and the scoping
// filters, and reports every problem through d with its file position. inheritedPreset is the users'
// preset, which groups follow when they name none.
func Compile(d *raw.Decoder, r *raw.Object, groups bool, inheritedPreset string) Object {
	return (&compiler{d}).object(r, groups, inheritedPreset)
}

func (f *compiler) object(r *raw.Object, groups bool, inheritedPreset string) Object {
	o := Object{}
	noun := objectNoun(groups)
	presetPos := r.At.Pos()
	if r.Preset != nil {
		presetPos = r.Preset.Pos
		if o.Preset = f.Enum(r.Preset, "", PresetGong, "none"); o.Preset == "none" {
			o.Preset = ""
		}
	} else if groups {
		// The group preset follows the user preset: a gallery app provisions both by default.
		o.Preset = inheritedPreset
	}
	pre, hasPreset := lookupPreset(o.Preset, groups)
	var rows []row
	for _, s := range pre.rows {
		rows = append(rows, row{spec: s})
	}
	seen := map[string]*raw.Mapping{}
	for _, m := range r.Mappings {
		rows = f.merge(rows, m, pre, hasPreset, o.Preset, noun, seen)
	}

	o.Enabled = !groups || len(rows) > 0
	if r.Enabled != nil {
		o.Enabled = r.Enabled.V
	}
	if len(rows) > 0 {
		o.Table = &mapping.Table{}
	}
	for _, rw := range rows {
		if m, ok := f.compileRow(rw, groups, presetPos); ok {
			o.Table.Mappings = append(o.Table.Mappings, m)
			o.Mappings = append(o.Mappings, rowSpec(m, rw.spec))
		}
	}
	if o.Enabled {
		f.checkMatching(r, rows, noun)
	}
	if groups {
		o.MemberBatchSize = DefaultMemberBatchSize
		if v := r.MemberBatchSize; v != nil {
			if v.V < 1 || v.V > 1000 {
				f.Errorf(v.Pos, "must be from 1 to 1000, got %d", v.V)
			}
			o.MemberBatchSize = v.V
		}
	}
	o.Scoping, o.Filters = f.scoping(r, groups)
	return o
}

// rowSpec is the canonical form of a compiled row: attribute names as the directory spells them.
func rowSpec(m mapping.Mapping, s MappingSpec) MappingSpec {
	if m.Kind == mapping.Direct {
		s.Source = m.Attribute
	}
	return s
}

// merge applies one file entry to the rows: it replaces (or partly overrides) the row with the same
// target, removes it, or adds a row.
func (f *compiler) merge(rows []row, m *raw.Mapping, pre preset, hasPreset bool, presetName, noun string, seen map[string]*raw.Mapping) []row {
	tgt, known, ok := f.target(m, pre, hasPreset, presetName, noun, seen)
	if !ok {
		return rows
	}
	idx := -1
	for i := range rows {
		if strings.EqualFold(rows[i].spec.Target, tgt) {
			idx = i
		}
	}
	if m.Remove != nil && m.Remove.V {
		return f.remove(rows, idx, m, tgt, hasPreset, presetName)
	}
	src, hasSrc := f.source(m)
	var spec MappingSpec
	if idx >= 0 {
		// Replacing a preset row keeps the properties the entry does not set, as editing a row in the
		// portal does: changing userName's source keeps it the matching attribute.
		spec = rows[idx].spec
	} else {
		spec = MappingSpec{Target: tgt}
		if known != nil {
			spec.Type = known.Type
		}
		if !hasSrc {
			f.Errorf(m.At.Pos(), "needs one of source, constant, expression or none: true")
			return rows
		}
	}
	if hasSrc {
		spec.Kind, spec.Source = src.kind, src.v
	}
	f.properties(m, &spec)
	if idx >= 0 {
		rows[idx] = row{spec: spec, entry: m}
		return rows
	}
	return append(rows, row{spec: spec, entry: m})
}

// target resolves an entry's target attribute: the app's spelling when a preset lists the valid ones,
// a checked SCIM path otherwise, and never a target mapped twice.
func (f *compiler) target(m *raw.Mapping, pre preset, hasPreset bool, presetName, noun string, seen map[string]*raw.Mapping) (string, *TargetAttribute, bool) {
	if m.Target == nil {
		f.Missing(m.At, "target")
		return "", nil, false
	}
	tgt := strings.TrimSpace(m.Target.V)
	if strings.EqualFold(tgt, "id") {
		f.Errorf(m.Target.Pos, "id cannot be a mapped target; the target system assigns it")
		return "", nil, false
	}
	var known *TargetAttribute
	if hasPreset {
		paths := make([]string, len(pre.targets))
		for i := range pre.targets {
			paths[i] = pre.targets[i].Path
			// SCIM attribute names are case-insensitive (RFC 7643 §2.1); keep the app's spelling.
			if strings.EqualFold(pre.targets[i].Path, tgt) {
				known = &pre.targets[i]
			}
		}
		if known == nil {
			hint := raw.DidYouMean(tgt, paths)
			if hint == "" {
				hint = " (known: " + strings.Join(paths, ", ") + ")"
			}
			f.Errorf(m.Target.Pos, "%s is not a %s %s attribute%s", tgt, presetName, noun, hint)
			return "", nil, false
		}
		tgt = known.Path
	} else if err := checkSCIMPath(tgt); err != nil {
		f.Errorf(m.Target.Pos, "invalid SCIM attribute path %q: %v", tgt, err)
		return "", nil, false
	}
	if prev, dup := seen[strings.ToLower(tgt)]; dup {
		f.Errorf(m.Target.Pos, "%s is already mapped on line %d", tgt, prev.Target.Line)
		return "", nil, false
	}
	seen[strings.ToLower(tgt)] = m
	return tgt, known, true
}

// remove drops the preset row at idx for an entry with remove: true, which takes no other keys.
func (f *compiler) remove(rows []row, idx int, m *raw.Mapping, tgt string, hasPreset bool, presetName string) []row {
	for _, o := range []*raw.Pos{posOf(m.Source), posOf(m.Constant), posOf(m.Expression), posOf(m.None),
		posOf(m.Matching), posOf(m.Apply), posOf(m.Default), posOf(m.Type), posOf(m.CaseExact)} {
		if o != nil {
			f.Errorf(*o, "an entry with remove: true takes no other keys than target")
		}
	}
	if idx < 0 {
		if hasPreset {
			f.Errorf(m.Remove.Pos, "%s is not mapped by the %s preset; there is nothing to remove", tgt, presetName)
		} else {
			f.Errorf(m.Remove.Pos, "remove applies to preset rows, and there is no preset")
		}
		return rows
	}
	return append(rows[:idx:idx], rows[idx+1:]...)
}

// given is the source an entry names: an attribute, a constant, an expression, or none.
type given struct {
	kind mapping.SourceKind
	key  string
	v    string
	p    raw.Pos
}

// source reads the entry's source and reports every key beyond the first of source, constant,
// expression and none: true; ok is false when the entry names none.
func (f *compiler) source(m *raw.Mapping) (given, bool) {
	var gs []given
	if m.Source != nil {
		gs = append(gs, given{mapping.Direct, "source", strings.TrimSpace(m.Source.V), m.Source.Pos})
	}
	if m.Constant != nil {
		gs = append(gs, given{mapping.Constant, "constant", m.Constant.V, m.Constant.Pos})
	}
	if m.Expression != nil {
		gs = append(gs, given{mapping.Expression, "expression", m.Expression.V, m.Expression.Pos})
	}
	if m.None != nil && m.None.V {
		gs = append(gs, given{mapping.None, "none", "", m.None.Pos})
	}
	if len(gs) == 0 {
		return given{}, false
	}
	for _, g := range gs[1:] {
		f.Errorf(g.p, "conflicts with %s on line %d; give exactly one of source, constant, expression or none: true", gs[0].key, gs[0].p.Line)
	}
	return gs[0], true
}

// properties applies the row properties an entry sets: matching, apply, default, type, caseExact.
func (f *compiler) properties(m *raw.Mapping, spec *MappingSpec) {
	if v := m.Matching; v != nil {
		if v.V < 0 {
			f.Errorf(v.Pos, "must be 0 (not a matching attribute) or a positive precedence, got %d", v.V)
		}
		spec.Matching = v.V
	}
	if v := m.Apply; v != nil {
		if f.Enum(v, "always", "always", "onCreate") == "onCreate" {
			spec.Flow = mapping.OnCreate
		} else {
			spec.Flow = mapping.Always
		}
	}
	if v := m.Default; v != nil {
		d := v.V
		spec.Default = &d
	}
	if v := m.Type; v != nil {
		if t, ok := typeNames[strings.ToLower(strings.TrimSpace(v.V))]; ok {
			spec.Type = t
		} else {
			f.Errorf(v.Pos, "unknown value %q; expected string, boolean, integer, reference or multi", v.V)
		}
	}
	if v := m.CaseExact; v != nil {
		spec.CaseExact = v.V
	}
}

func posOf[T any](v *raw.Val[T]) *raw.Pos {
	if v == nil {
		return nil
	}
	return &v.Pos
}

// compileRow checks a merged row against the source schema and compiles it. Errors in rows the file
// did not touch (preset rows) are reported at the preset key.
func (f *compiler) compileRow(rw row, groups bool, presetPos raw.Pos) (mapping.Mapping, bool) {
	s := rw.spec
	m := mapping.Mapping{
		Target: s.Target, Kind: s.Kind, Matching: s.Matching, Flow: s.Flow,
		Default: s.Default, Type: s.Type, CaseExact: s.CaseExact,
	}
	at, prefix := presetPos, fmt.Sprintf("preset row %s: ", s.Target)
	if e := rw.entry; e != nil {
		for _, v := range []*raw.Val[string]{e.Source, e.Constant, e.Expression} {
			if v != nil {
				at, prefix = v.Pos, ""
				break
			}
		}
	}
	lookup, names := directory.UserAttribute, directory.UserAttributeNames
	if groups {
		lookup, names = directory.GroupAttribute, directory.GroupAttributeNames
	}
	noun := objectNoun(groups)
	ok := true
	var srcKind directory.AttrKind
	switch s.Kind {
	case mapping.Direct:
		a, found := lookup(s.Source)
		if !found {
			f.Errorf(at, "%sunknown source attribute %s%s", prefix, s.Source, unknownHint(s.Source, names(), noun))
			return m, false
		}
		m.Attribute, srcKind = a.Name, a.Kind
	case mapping.Constant:
		m.Constant = s.Source
	case mapping.Expression:
		expr, err := mapping.Compile(s.Source, mapping.CompileOptions{KnownAttribute: func(n string) bool {
			_, found := lookup(n)
			return found
		}})
		if err != nil {
			msg := err.Error()
			var ce *mapping.CompileError
			if errors.As(err, &ce) && ce.Kind == mapping.UnknownAttribute {
				msg += raw.DidYouMean(ce.Attribute, names())
			}
			f.Errorf(at, "%s%s", prefix, msg)
			return m, false
		}
		m.Expr = expr
	}
	typeAt := at
	if e := rw.entry; e != nil && e.Type != nil {
		typeAt = e.Type.Pos
	}
	// The engine resolves reference values (source object ids) to target ids; any other value in a
	// reference target, or a reference sent as a plain string, would put a wrong id in the target.
	switch {
	case s.Kind == mapping.Direct && srcKind == directory.AttrReference && s.Type != mapping.TypeReference:
		f.Errorf(typeAt, "%s%s is a reference attribute; its target needs type: reference", prefix, m.Attribute)
		ok = false
	case s.Type == mapping.TypeReference && s.Kind != mapping.None && (s.Kind != mapping.Direct || srcKind != directory.AttrReference):
		f.Errorf(typeAt, "%stype reference needs a direct mapping from a reference attribute (manager, members)", prefix)
		ok = false
	}
	return m, ok
}

func unknownHint(name string, names []string, noun string) string {
	if h := raw.DidYouMean(name, names); h != "" {
		return h
	}
	return fmt.Sprintf(" (see the %s attributes listed in docs/configuration.md)", noun)
}

// checkMatching enforces Entra's rule that every object type has at least one matching attribute, and
// that precedences are distinct, because the engine looks objects up in precedence order.
func (f *compiler) checkMatching(r *raw.Object, rows []row, noun string) {
	if len(rows) == 0 {
		f.Errorf(r.At.Pos(), "%ss are provisioned but no mappings are configured; set preset: gong or add mappings (or set enabled: false)", noun)
		return
	}
	byPrec := map[int]row{}
	for _, rw := range rows {
		p := rw.spec.Matching
		if p <= 0 {
			continue
		}
		if prev, dup := byPrec[p]; dup {
			at := r.At.Pos()
			if rw.entry != nil {
				at = rw.entry.At.Pos()
				if rw.entry.Matching != nil {
					at = rw.entry.Matching.Pos
				}
			}
			where := "in the preset"
			if prev.entry != nil && prev.entry.Target != nil {
				where = "on line " + strconv.Itoa(prev.entry.Target.Line)
			}
			f.Errorf(at, "matching precedence %d is also used by %s (%s); each matching attribute needs its own precedence", p, prev.spec.Target, where)
			continue
		}
		byPrec[p] = rw
	}
	if len(byPrec) == 0 {
		p := r.At.Pos()
		p.Path = raw.Join(r.At.Path, "mappings")
		f.Errorf(p, "no %s mapping has a matching precedence; set matching: 1 on the attribute that identifies a %s in the target", noun, noun)
	}
}

// scoping compiles the object's scoping filters and reports each mistake at its clause.
func (f *compiler) scoping(r *raw.Object, groups bool) (*scoping.Set, []scoping.Filter) {
	if len(r.Scoping) == 0 {
		return nil, nil
	}
	var filters []scoping.Filter
	var metas []filterMeta
	for _, rf := range r.Scoping {
		sf := scoping.Filter{}
		if rf.Title != nil {
			sf.Title = rf.Title.V
		}
		meta := filterMeta{f: rf}
		incomplete := false
		for _, rc := range rf.Clauses {
			if rc.Attribute == nil || rc.Operator == nil {
				if rc.Attribute == nil {
					f.Missing(rc.At, "attribute")
				}
				if rc.Operator == nil {
					f.Missing(rc.At, "operator")
				}
				incomplete = true
				continue
			}
			c := scoping.Clause{Attribute: strings.TrimSpace(rc.Attribute.V), Operator: rc.Operator.V}
			if a, ok := lookupAttr(groups, c.Attribute); ok {
				c.Attribute = a.Name
			}
			if rc.Value != nil {
				c.Value = rc.Value.V
			}
			sf.Clauses = append(sf.Clauses, c)
			meta.clauses = append(meta.clauses, rc)
		}
		if incomplete && len(sf.Clauses) == 0 {
			continue
		}
		filters = append(filters, sf)
		metas = append(metas, meta)
	}
	validate := validateUserScoping
	if groups {
		validate = validateGroupScoping
	}
	set, err := scoping.Compile(filters, scoping.Options{Validate: validate})
	if err == nil {
		return set, set.Filters()
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if _, single := err.(*scoping.Error); !single {
			list = j.Unwrap()
		}
	}
	if list == nil {
		list = []error{err}
	}
	for _, e := range list {
		f.scopingError(r, metas, e)
	}
	return nil, nil
}

// filterMeta keeps the file's filter and clauses beside each compiled filter, so that an error of
// scoping.Compile is reported at the key that caused it.
type filterMeta struct {
	f       *raw.Filter
	clauses []*raw.Clause
}

// scopingError reports one error of scoping.Compile at the filter, clause and key it names.
func (f *compiler) scopingError(r *raw.Object, metas []filterMeta, e error) {
	var se *scoping.Error
	if !errors.As(e, &se) || se.Filter < 0 || se.Filter >= len(metas) {
		p := r.At.Pos()
		p.Path = raw.Join(r.At.Path, "scoping")
		f.Errorf(p, "%v", e)
		return
	}
	meta := metas[se.Filter]
	msg := se.Msg
	if se.Err != nil {
		if errors.Is(se, scoping.ErrAttribute) {
			msg = se.Err.Error()
		} else {
			msg += ": " + se.Err.Error()
		}
	}
	if se.Clause < 0 || se.Clause >= len(meta.clauses) {
		p := meta.f.ClausesAt
		p.Path = raw.Join(meta.f.At.Path, "clauses")
		f.Errorf(p, "%s", msg)
		return
	}
	rc := meta.clauses[se.Clause]
	var at *raw.Pos
	key := "value"
	switch {
	case errors.Is(se, scoping.ErrAttribute):
		at, key = &rc.Attribute.Pos, "attribute"
	case errors.Is(se, scoping.ErrUnknownOperator):
		at, key = &rc.Operator.Pos, "operator"
	case rc.Value != nil:
		at = &rc.Value.Pos
	}
	if at == nil {
		p := rc.At.Pos()
		p.Path = raw.Join(rc.At.Path, key)
		at = &p
	}
	f.Errorf(*at, "%s", msg)
}

func lookupAttr(groups bool, name string) (directory.SourceAttribute, bool) {
	if groups {
		return directory.GroupAttribute(name)
	}
	return directory.UserAttribute(name)
}

// validateUserScoping rejects attributes Entra does not support in scoping filters (known-issues.md),
// with the reason, so the admin learns the rule rather than guessing.
func validateUserScoping(name string) error {
	a, ok := directory.UserAttribute(name)
	if !ok {
		return fmt.Errorf("unknown user attribute %s%s", name, unknownHint(name, directory.UserAttributeNames(), "user"))
	}
	return scopingUsable(a)
}

func validateGroupScoping(name string) error {
	a, ok := directory.GroupAttribute(name)
	if !ok {
		return fmt.Errorf("unknown group attribute %s%s", name, unknownHint(name, directory.GroupAttributeNames(), "group"))
	}
	return scopingUsable(a)
}

func scopingUsable(a directory.SourceAttribute) error {
	switch {
	case a.Name == "userType":
		return fmt.Errorf("userType is not supported in scoping filters (an Entra limitation)")
	case a.Name == "appRoleAssignments":
		return fmt.Errorf("appRoleAssignments is not supported in scoping filters; use scope: assigned")
	case a.Kind == directory.AttrMulti:
		return fmt.Errorf("%s is multi-valued; scoping filters do not support multi-valued attributes", a.Name)
	case a.Kind == directory.AttrReference:
		return fmt.Errorf("%s is a reference; scoping filters do not support manager, members or other references", a.Name)
	case a.Kind == directory.AttrDate:
		return fmt.Errorf("%s is a date; scoping filters do not support date attributes", a.Name)
	case a.Kind == directory.AttrComputed:
		return fmt.Errorf("%s is computed by the provisioning service from scope itself and cannot be used in scoping filters", a.Name)
	}
	return nil
}
