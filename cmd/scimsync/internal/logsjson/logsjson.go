// Package logsjson spells provisioning-log entries as Microsoft Graph's provisioningObjectSummary, for
// `scimsync logs --json`.
package logsjson

import (
	"strings"
	"time"

	"github.com/scimsync/scimsync/store"
)

// ObjectSummary is a provisioning-log entry as Microsoft Graph's provisioningObjectSummary spells it
// (https://learn.microsoft.com/graph/api/resources/provisioningobjectsummary), so that `logs --json`
// feeds the same tooling as Entra's provisioning logs.
type ObjectSummary struct {
	ID                     string              `json:"id"`
	ActivityDateTime       time.Time           `json:"activityDateTime"`
	CycleID                string              `json:"cycleId"`
	ChangeID               string              `json:"changeId"`
	DurationInMilliseconds int64               `json:"durationInMilliseconds"`
	ProvisioningAction     string              `json:"provisioningAction"`
	ProvisioningStatusInfo statusInfo          `json:"provisioningStatusInfo"`
	ProvisioningSteps      []provisioningStep  `json:"provisioningSteps"`
	ModifiedProperties     []modifiedProperty  `json:"modifiedProperties"`
	SourceIdentity         provisionedIdentity `json:"sourceIdentity"`
	TargetIdentity         provisionedIdentity `json:"targetIdentity"`
	SourceSystem           provisioningSystem  `json:"sourceSystem"`
	TargetSystem           provisioningSystem  `json:"targetSystem"`
}

type statusInfo struct {
	Status           string            `json:"status"`
	ErrorInformation *errorInformation `json:"errorInformation,omitempty"`
}

type errorInformation struct {
	ErrorCode string `json:"errorCode"`
	Reason    string `json:"reason"`
}

type provisioningStep struct {
	Name                 string `json:"name"`
	ProvisioningStepType string `json:"provisioningStepType"`
	Status               string `json:"status"`
	Description          string `json:"description"`
	Details              string `json:"details,omitempty"`
}

type modifiedProperty struct {
	DisplayName string `json:"displayName"`
	OldValue    string `json:"oldValue"`
	NewValue    string `json:"newValue"`
}

type provisionedIdentity struct {
	ID           string `json:"id"`
	DisplayName  string `json:"displayName"`
	IdentityType string `json:"identityType"`
}

type provisioningSystem struct {
	DisplayName string `json:"displayName"`
}

// graphEnum lower-cases the first letter: Graph's enum members are camelCase (create, stagedDelete,
// success), the store keeps the portal's display form (Create, StagedDelete, Success).
func graphEnum(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// FromEntry spells one provisioning-log entry as Graph does.
func FromEntry(e store.LogEntry) ObjectSummary {
	idType := "User"
	if e.Kind == store.KindGroup {
		idType = "Group"
	}
	o := ObjectSummary{
		ID: e.ID, ActivityDateTime: e.Time.UTC(), CycleID: e.CycleID, ChangeID: e.ID, DurationInMilliseconds: e.DurationMs,
		ProvisioningAction:     graphEnum(e.Action),
		ProvisioningStatusInfo: statusInfo{Status: graphEnum(e.Status)},
		ProvisioningSteps:      []provisioningStep{},
		ModifiedProperties:     []modifiedProperty{},
		SourceIdentity:         provisionedIdentity{ID: e.SourceID, DisplayName: e.Identity, IdentityType: idType},
		TargetIdentity:         provisionedIdentity{ID: e.TargetID, DisplayName: e.Identity, IdentityType: idType},
		SourceSystem:           provisioningSystem{DisplayName: "Microsoft Entra ID"},
		TargetSystem:           provisioningSystem{DisplayName: "SCIM target"},
	}
	if e.ErrorCode != "" || e.Error != "" {
		o.ProvisioningStatusInfo.ErrorInformation = &errorInformation{ErrorCode: e.ErrorCode, Reason: e.Error}
	}
	for _, s := range e.Steps {
		o.ProvisioningSteps = append(o.ProvisioningSteps, provisioningStep{Name: s.Name, ProvisioningStepType: s.Name,
			Status: graphEnum(s.Status), Description: s.Description, Details: s.Details})
	}
	for _, p := range e.Modified {
		o.ModifiedProperties = append(o.ModifiedProperties, modifiedProperty{DisplayName: p.Name, OldValue: p.Old, NewValue: p.New})
	}
	return o
}
