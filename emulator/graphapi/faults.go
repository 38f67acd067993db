package graphapi

import (
	"github.com/scimsync/scimsync/emulator/graphapi/internal/entra"
	"github.com/scimsync/scimsync/emulator/graphapi/internal/faults"
)

// Fault is one injected failure: the next Count requests whose path or query contains PathContains
// (after the first Skip of them) get Status (and Retry-After) instead of their normal answer.
type Fault = faults.Fault

// TokenRequest records one token issued or refused by the emulated token service.
type TokenRequest = entra.TokenRequest
