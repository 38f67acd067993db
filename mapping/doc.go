// Package mapping compiles and evaluates Entra's attribute mappings: the mapping table (direct,
// constant, expression; always or on create only) and the expression language (docs/expressions.md).
// The language itself lives in internal packages (value model, parser, function library); this package
// is the one callers import.
package mapping
