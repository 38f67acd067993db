// Package credential builds the azidentity credential the Graph reader authenticates with, and
// keeps secrets out of every error it returns.
package credential

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Credential types accepted in Options.Type, named as in the config file.
const (
	CredentialClientSecret     = "clientSecret"
	CredentialCertificate      = "certificate"
	CredentialWorkloadIdentity = "workloadIdentity"
	CredentialManagedIdentity  = "managedIdentity"
)

// Options describe how the daemon authenticates to Entra. One explicit type is chosen
// (no DefaultAzureCredential chain) so that a daemon never silently picks up a developer's login.
type Options struct {
	// Type is clientSecret, certificate, workloadIdentity or managedIdentity.
	Type     string
	TenantID string
	// ClientID is the app registration; for managedIdentity it selects a user-assigned identity
	// (empty = system-assigned).
	ClientID     string
	ClientSecret string
	// Certificate holds the certificate and its private key as PEM or PFX (azidentity tells them
	// apart), as the config reads it from one file. CertificatePEM and CertificatePFX are the same
	// for callers that know the format; the first non-empty of the three is used. CertificatePassword
	// decrypts a PFX or an encrypted PEM key.
	Certificate         []byte
	CertificatePEM      []byte
	CertificatePFX      []byte
	CertificatePassword string
	// SendCertificateChain sends the x5c header, needed for subject-name/issuer authentication.
	SendCertificateChain bool
	// TokenFile is the federated token for workloadIdentity (empty = AZURE_FEDERATED_TOKEN_FILE).
	TokenFile string
	// Cloud is public (default), usgovernment or china.
	Cloud string
	// AuthorityHost overrides the cloud's login host (https only), for sovereign endpoints, proxies
	// and the emulator. Instance discovery is then disabled, since it only knows Microsoft's hosts.
	AuthorityHost string
	// HTTPClient carries the transport to use for token requests (a custom CA bundle, a proxy).
	HTTPClient *http.Client
}

// CloudEndpoints returns the Graph base URL (ending in /v1.0) and the Entra authority host of a
// national cloud, so the config only needs the cloud's name.
func CloudEndpoints(name string) (graphURL, authorityHost string, err error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "public", "azurepublic", "global":
		return "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com/", nil
	case "usgovernment", "usgov", "azureusgovernment":
		return "https://graph.microsoft.us/v1.0", "https://login.microsoftonline.us/", nil
	case "china", "azurechina":
		return "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://login.chinacloudapi.cn/", nil
	}
	return "", "", fmt.Errorf("graph: unknown cloud %q (want public, usgovernment or china)", name)
}

// New builds the azidentity credential for o. Errors never contain the client secret or
// certificate password, and GetToken errors are scrubbed of them too, because they end up in logs,
// provisioning reports and notification emails.
func New(o Options) (azcore.TokenCredential, error) {
	secrets := []string{o.ClientSecret, o.CertificatePassword}
	cred, err := newCredential(o)
	if err != nil {
		return nil, redact(fmt.Errorf("graph: %s credential: %w", o.Type, err), secrets)
	}
	return &redactingCredential{inner: cred, secrets: secrets}, nil
}

func newCredential(o Options) (azcore.TokenCredential, error) {
	_, authority, err := CloudEndpoints(o.Cloud)
	if err != nil {
		return nil, err
	}
	discoveryOff := false
	if o.AuthorityHost != "" {
		u, err := url.Parse(o.AuthorityHost)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("authority host %q must be an https URL", o.AuthorityHost)
		}
		authority = strings.TrimSuffix(o.AuthorityHost, "/") + "/"
		discoveryOff = true
	}
	co := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authority}}
	if o.HTTPClient != nil {
		co.Transport = o.HTTPClient
	}
	needApp := func() error {
		if o.TenantID == "" || o.ClientID == "" {
			return errors.New("tenant id and client id are required")
		}
		return nil
	}
	switch o.Type {
	case CredentialClientSecret:
		if err := needApp(); err != nil {
			return nil, err
		}
		if o.ClientSecret == "" {
			return nil, errors.New("client secret is empty")
		}
		return azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: discoveryOff})
	case CredentialCertificate:
		if err := needApp(); err != nil {
			return nil, err
		}
		data := o.Certificate
		if len(data) == 0 {
			data = o.CertificatePEM
		}
		if len(data) == 0 {
			data = o.CertificatePFX
		}
		if len(data) == 0 {
			return nil, errors.New("no certificate given")
		}
		var pw []byte
		if o.CertificatePassword != "" {
			pw = []byte(o.CertificatePassword)
		}
		certs, key, err := azidentity.ParseCertificates(data, pw)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		return azidentity.NewClientCertificateCredential(o.TenantID, o.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: discoveryOff,
				SendCertificateChain: o.SendCertificateChain})
	case CredentialWorkloadIdentity:
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: co, ClientID: o.ClientID, TenantID: o.TenantID, TokenFilePath: o.TokenFile,
			DisableInstanceDiscovery: discoveryOff})
	case CredentialManagedIdentity:
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if o.ClientID != "" {
			mo.ID = azidentity.ClientID(o.ClientID)
		}
		return azidentity.NewManagedIdentityCredential(mo)
	}
	return nil, fmt.Errorf("unknown credential type %q (want %s, %s, %s or %s)", o.Type,
		CredentialClientSecret, CredentialCertificate, CredentialWorkloadIdentity, CredentialManagedIdentity)
}

// redactingCredential scrubs secrets from token errors; azidentity does not echo them today, but the
// guarantee should not depend on a dependency's error wording.
type redactingCredential struct {
	inner   azcore.TokenCredential
	secrets []string
}

func (c *redactingCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.inner.GetToken(ctx, o)
	if err != nil {
		return tok, redact(err, c.secrets)
	}
	return tok, nil
}

// redactedError replaces an error whose text contained a secret. It deliberately does not unwrap to
// the original, whose Error() would still print the secret.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

func redact(err error, secrets []string) error {
	msg := err.Error()
	out := msg
	for _, s := range secrets {
		if len(s) >= 4 {
			out = strings.ReplaceAll(out, s, "[REDACTED]")
		}
	}
	if out == msg {
		return err
	}
	return &redactedError{msg: out}
}
