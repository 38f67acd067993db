// Package scimclient is the SCIM 2.0 client the sync engine uses to write to a target application.
//
// It reproduces the requests the Microsoft Entra provisioning service sends (https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups), in both of
// Entra's request shapes (Mode), so a target built and certified against Entra behaves the same with
// scimsync. It also owns the flat attribute model the mapping table speaks: paths such as
// `emails[type eq "work"].value` are parsed (ParsePath), assembled into POST bodies (BuildUser), read back
// from live resources (ValueAt) and turned into PATCH operations (UserPatch); UpdateUser sends them and
// learns the target's Dialect when it rejects Entra's add on a filtered path. The sync engine sees none of
// this: package scimclient/target gives it the target in its own terms (target.Users, target.Groups).
//
// Failures come back as *Error wrapping one sentinel kind (ErrNotFound, ErrConflict, ErrThrottled,
// ErrUnauthorized, ErrCompliance, ErrTransient, ErrInvalid), so the engine's escrow and quarantine rules
// are written against kinds, never against messages. Transient failures are retried here with backoff
// (see docs/scim.md for the policy); everything else is the engine's decision.
package scimclient
