package mapping

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
)

// SourceKind is the portal's "Mapping type": where a target attribute's value comes from.
type SourceKind uint8

// Mapping types, as in the Entra mapping editor.
const (
	// Direct copies one source attribute.
	Direct SourceKind = iota
	// Constant sends a fixed string.
	Constant
	// Expression evaluates an expression.
	Expression
	// None leaves the target attribute alone, except that Default fills it on create.
	None
)

// FlowType is the portal's "Apply this mapping".
type FlowType uint8

// Flow types.
const (
	// Always applies on create and on update.
	Always FlowType = iota
	// OnCreate applies only when the object is created in the target (Graph's ObjectAddOnly).
	OnCreate
)

// TargetType is the SCIM type of the target attribute; it decides how a Value is sent as JSON.
type TargetType uint8

// Target attribute types.
const (
	TypeString TargetType = iota
	TypeBoolean
	TypeInteger
	// TypeReference holds the target id of another provisioned object (manager, members); the engine
	// resolves the source object id the mapping yields.
	TypeReference
	// TypeMulti sends every item of a multi-valued value as a JSON array of strings.
	TypeMulti
)

// Mapping is one row of an attribute-mapping table, compiled.
type Mapping struct {
	// Target is the SCIM attribute path: userName, name.givenName, emails[type eq "work"].value,
	// urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager, ...
	Target string
	Kind   SourceKind
	// Attribute is the source attribute of a Direct mapping.
	Attribute string
	// Constant is the value of a Constant mapping.
	Constant string
	// Expr is the compiled expression of an Expression mapping.
	Expr *Expr
	// Matching is the matching precedence (1 is tried first); 0 means not a matching attribute.
	Matching int
	Flow     FlowType
	// Default is sent on create when the mapping yields null; nil means no default.
	Default *string
	Type    TargetType
	// CaseExact makes the diff see a case-only change as a change. SCIM's default is caseExact=false,
	// under which the service treats "Ann" and "ann" as equal.
	CaseExact bool
}

// Table is a compiled mapping table for one object type.
type Table struct {
	Mappings []Mapping
}

// Desired is what a Table yields for one source object: the target values and what to match on.
type Desired struct {
	// Values are the attributes to send, by target path. Attributes that do not flow (null, or dropped
	// by IgnoreFlowIfNullOrEmpty, or OnCreate mappings on update) are absent.
	Values map[string]Value
	// Redacted marks the target paths whose values must show as "[Redact]" in logs.
	Redacted map[string]bool
	// Match lists the matching attributes with their values, in precedence order; attributes whose value
	// is null or empty are left out (the service cannot match on them).
	Match []MatchValue
}

// MatchValue is one matching attribute and the value to look the object up by.
type MatchValue struct {
	Target string
	Value  string
}

// Attributes lists every source attribute the table reads, so the reader can $select exactly them.
func (t *Table) Attributes() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, m := range t.Mappings {
		switch m.Kind {
		case Direct:
			add(m.Attribute)
		case Expression:
			for _, a := range m.Expr.Attributes() {
				add(a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// CreateDiffers reports whether a create flows other values than an update: some row applies only on
// create or has a default value. When it does not, one evaluation serves both.
func (t *Table) CreateDiffers() bool {
	for _, m := range t.Mappings {
		if m.Flow == OnCreate || m.Default != nil {
			return true
		}
	}
	return false
}

// Mapping returns the row for a target path.
func (t *Table) Mapping(target string) (*Mapping, bool) {
	for i := range t.Mappings {
		if t.Mappings[i].Target == target {
			return &t.Mappings[i], true
		}
	}
	return nil, false
}

// Evaluate computes the desired target values for one object. create selects the create flow (OnCreate
// mappings and defaults apply). An expression that fails for this object fails the object with an error
// naming the target attribute; it never panics.
func (t *Table) Evaluate(attrs Attributes, env *Env, create bool) (Desired, error) {
	return t.evaluate(attrs, env, create, make(map[string]Value, len(t.Mappings)))
}

// EvaluateInto is Evaluate for a caller that maps many objects one after the other and is done with
// each result's Values before the next: they go into values, cleared first, rather than into a map of
// their own (at 100,000 users those maps were 190 MB of allocations). The returned Desired.Values is
// values; a nil values gets a fresh map, as Evaluate.
func (t *Table) EvaluateInto(attrs Attributes, env *Env, create bool, values map[string]Value) (Desired, error) {
	if values == nil {
		return t.Evaluate(attrs, env, create)
	}
	clear(values)
	return t.evaluate(attrs, env, create, values)
}

func (t *Table) evaluate(attrs Attributes, env *Env, create bool, values map[string]Value) (Desired, error) {
	d := Desired{Values: values}
	type match struct {
		prec int
		mv   MatchValue
	}
	var room [4]match // the matching attributes of a table: one or two
	matches := room[:0]
	for i := range t.Mappings {
		m := &t.Mappings[i]
		v, flow, redacted, err := m.value(attrs, env)
		if err != nil {
			return Desired{}, fmt.Errorf("mapping for %s: %w", m.Target, err)
		}
		if m.Matching > 0 && flow && !v.IsEmpty() {
			matches = append(matches, match{m.Matching, MatchValue{Target: m.Target, Value: v.String()}})
		}
		if m.Flow == OnCreate && !create {
			continue
		}
		if v.IsNull() && create && m.Default != nil {
			v, flow = Str(*m.Default), true
		}
		if !flow || v.IsNull() {
			continue
		}
		d.Values[m.Target] = v
		if redacted {
			if d.Redacted == nil {
				d.Redacted = map[string]bool{}
			}
			d.Redacted[m.Target] = true
		}
	}
	slices.SortStableFunc(matches, func(a, b match) int { return cmp.Compare(a.prec, b.prec) })
	if len(matches) > 0 {
		d.Match = make([]MatchValue, 0, len(matches))
	}
	for _, m := range matches {
		d.Match = append(d.Match, m.mv)
	}
	return d, nil
}

func (m *Mapping) value(attrs Attributes, env *Env) (v Value, flow, redacted bool, err error) {
	switch m.Kind {
	case Direct:
		v, _ = attrs.Lookup(m.Attribute)
		return v, true, false, nil
	case Constant:
		return Str(m.Constant), true, false, nil
	case Expression:
		r, err := m.Expr.Eval(attrs, env)
		if err != nil {
			return Value{}, false, false, err
		}
		return r.Value, r.Flow, r.Redacted, nil
	}
	return Null(), true, false, nil
}
