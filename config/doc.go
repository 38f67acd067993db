// Package config turns one YAML file per provisioning job into a validated, compiled *Config.
//
// A bad configuration must fail at load, before any cycle runs, and it must say exactly where: every
// problem (unknown key, missing field, bad URL, duration or schedule, unknown source attribute,
// expression syntax error, bad scoping filter, duplicate matching precedence, missing secret) is an
// *Error naming file, line, column and dotted key, and all of them are returned together as Errors.
//
// Loading follows consul-template's shape: the file is decoded into raw structs whose optional fields
// are pointers, so that "not written" differs from a written zero (deletionThreshold: 0 switches the
// guard off, an absent one means 500), and a single finalize step applies defaults, expands the app
// preset (Gong), compiles mapping expressions and scoping filters, and reads secrets from the
// environment or files. Secrets are held in Secret, which never renders its value.
//
// docs/configuration.md lists every key, its type and its default.
package config
