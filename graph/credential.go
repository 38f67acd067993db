package graph

import (
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/scimsync/scimsync/graph/internal/credential"
)

// Credential types accepted in CredentialOptions.Type, named as in the config file.
const (
	CredentialClientSecret     = credential.CredentialClientSecret
	CredentialCertificate      = credential.CredentialCertificate
	CredentialWorkloadIdentity = credential.CredentialWorkloadIdentity
	CredentialManagedIdentity  = credential.CredentialManagedIdentity
)

// CredentialOptions describe how the daemon authenticates to Entra: one explicit credential type, so
// that a daemon never silently picks up a developer's login.
type CredentialOptions = credential.Options

// CloudEndpoints returns the Graph base URL (ending in /v1.0) and the Entra authority host of a
// national cloud, so the config only needs the cloud's name.
func CloudEndpoints(name string) (graphURL, authorityHost string, err error) {
	return credential.CloudEndpoints(name)
}

// NewCredential builds the azidentity credential for o. Its errors, and those of GetToken, never
// contain the client secret or the certificate password.
func NewCredential(o CredentialOptions) (azcore.TokenCredential, error) { return credential.New(o) }
