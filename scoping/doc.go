// Package scoping decides whether a source object is in scope of a provisioning job, with the
// semantics of Microsoft Entra ID scoping filters: clauses are ANDed within a filter, filters (the
// portal's "scoping filter groups") are ORed, and an empty set puts everything in scope.
//
// A Set is compiled once from configuration, where every mistake (unknown operator, missing value,
// non-integer Greater_Than value, regex that does not compile, unsupported attribute) is reported
// with the filter and clause it concerns, so that a broken filter is never discovered mid-cycle. The
// compiled Set is immutable and safe for concurrent Evaluate calls; Evaluate does not allocate for an
// object in scope, because a "Sync all users and groups" cycle evaluates every object in the tenant.
//
// docs/scoping.md gives the exact semantics of each operator and the choices made where
// Microsoft's documentation is ambiguous.
package scoping
