package config

import (
	"github.com/scimsync/scimsync/config/internal/objects"
	"github.com/scimsync/scimsync/mapping"
)

// MappingSpec is one attribute-mapping row in declarative form, before compilation: presets are
// written in it and the Fingerprint hashes it.
type MappingSpec = objects.MappingSpec

// TargetAttribute is an attribute a target application accepts, with its type.
type TargetAttribute = objects.TargetAttribute

// PresetGong names the Gong gallery app preset.
const PresetGong = objects.PresetGong

// GongUserPreset returns the default user mappings of the Gong gallery app, in the order Entra lists
// them; a fresh slice each call.
func GongUserPreset() []MappingSpec { return objects.GongUserPreset() }

// GongGroupPreset returns the default group mappings of the Gong gallery app.
func GongGroupPreset() []MappingSpec { return objects.GongGroupPreset() }

// GongUserAttributes lists the user attributes Gong accepts, mapped by default or not.
func GongUserAttributes() []TargetAttribute { return objects.GongUserAttributes() }

// GongGroupAttributes lists the group attributes Gong accepts.
func GongGroupAttributes() []TargetAttribute { return objects.GongGroupAttributes() }

// TypeName returns the file spelling of a target type, for printing tables.
func TypeName(t mapping.TargetType) string { return objects.TypeName(t) }

// FlowName returns the file spelling of a flow type ("always" or "onCreate"), for printing tables.
func FlowName(f mapping.FlowType) string { return objects.FlowName(f) }
