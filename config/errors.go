package config

import "github.com/scimsync/scimsync/config/internal/raw"

// Error is one problem in a configuration file, with its file, line, column and dotted key kept apart
// from the message, so that `scimsync validate` output reads like a compiler's.
type Error = raw.Error

// Errors is every problem found in one file, reported at once so that an administrator fixes the file
// in one pass.
type Errors = raw.Errors
