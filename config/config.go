package config

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/scimsync/scimsync/config/internal/objects"
)

// Config is one provisioning job, validated and compiled: nothing in it needs checking again, so the
// engine can trust it and a bad file fails before the first cycle.
type Config struct {
	// File is the path the configuration was loaded from; relative paths in it were resolved against
	// its directory.
	File string
	// Name identifies the job in logs, metrics and the default state path.
	Name   string
	Source Source
	Target Target
	// Scope is ScopeAssigned (only users and groups assigned to the app) or ScopeAll.
	Scope string
	// Actions are the target object actions: what the job may do to target objects.
	Actions Actions
	// SkipOutOfScopeDeletions keeps objects that leave scope enabled in the target (Entra's
	// SkipOutOfScopeDeletions secret).
	SkipOutOfScopeDeletions bool
	// DeletionThreshold stages a cycle's deletions when they reach this count; 0 switches the guard off.
	DeletionThreshold int
	Users             Object
	Groups            Object
	// Schedule is a robfig/cron spec (5 fields or a descriptor such as "@every 40m"), already validated.
	Schedule string
	// StatePath is the bbolt state file, absolute or relative to the working directory. With
	// StateDatabase set, the state is in PostgreSQL and StatePath only places the job's local side
	// files (status socket, alert bookkeeping), by default in DefaultStateDir.
	StatePath string
	// StateDatabase is set when `state:` is a postgres:// URL.
	StateDatabase *StateDatabase
	Logging       Logging
	// Notify is nil when failure emails are off.
	Notify *Notify
	// Metrics is nil when the metrics listener is off.
	Metrics *Metrics
}

// StateDatabase is a PostgreSQL state backend shared by several jobs and replicas.
type StateDatabase struct {
	// URL is the postgres:// URL without a password; sslrootcert, sslcert and sslkey are resolved
	// against the configuration file's folder.
	URL string
	// Password comes from statePasswordEnv or statePasswordFile; unset when the server authenticates
	// otherwise (a client certificate, peer).
	Password Secret
}

// Scope values.
const (
	ScopeAssigned = "assigned"
	ScopeAll      = "all"
)

// Credential types for the Graph source.
const (
	CredentialClientSecret     = "clientSecret"
	CredentialCertificate      = "certificate"
	CredentialWorkloadIdentity = "workloadIdentity"
	CredentialManagedIdentity  = "managedIdentity"
)

// Clouds.
const (
	CloudPublic       = "public"
	CloudUSGovernment = "usgovernment"
	CloudChina        = "china"
)

// Compatibility modes of the SCIM target, as in Entra's SCIM compatibility page.
const (
	CompatibilityDefault = "default"
	// CompatibilityAADOptSCIM062020 is the behaviour Entra switches on with the ?aadOptscim062020 URL flag.
	CompatibilityAADOptSCIM062020 = "aadOptscim062020"
	// CompatibilityStrict is aadOptscim062020 made RFC 7643/7644-strict (manager as a complex value, new
	// multi-valued elements added to their attribute) for targets that validate every request.
	CompatibilityStrict = "strict"
)

// Source is how the job reads the Entra tenant through Microsoft Graph. Endpoints are filled from the
// cloud at load so that the Graph client never has to know about national clouds.
type Source struct {
	TenantID string
	// ClientID is the app registration's client id; empty only for a system-assigned managed identity.
	ClientID   string
	Credential Credential
	// Cloud is CloudPublic, CloudUSGovernment or CloudChina.
	Cloud string
	// GraphEndpoint is the Graph base URL including the version (https://graph.microsoft.com/v1.0);
	// filled from Cloud unless configured.
	GraphEndpoint string
	// AuthorityHost is the Entra login authority (https://login.microsoftonline.com/); filled from Cloud
	// unless configured.
	AuthorityHost string
	// CAFile is an extra PEM CA bundle trusted for Graph and the authority; empty for the system roots.
	CAFile string
	// ServicePrincipalID is the object id of the app's service principal, whose app role assignments
	// define the assigned scope.
	ServicePrincipalID string
}

// Credential is the Graph app's credential, with secrets already read so that a missing one fails at
// load rather than at the first token request.
type Credential struct {
	// Type is one of the Credential* constants.
	Type string
	// Secret is the client secret (clientSecret).
	Secret Secret
	// CertificateFile is where Certificate was read from, for messages.
	CertificateFile string
	// Certificate is the PEM or PFX bytes (certificate).
	Certificate []byte
	// CertificatePassword decrypts a PFX or encrypted PEM key; unset when none was configured.
	CertificatePassword Secret
	// TokenFile is the federated token file (workloadIdentity), re-read by the credential on every
	// token request because the platform rotates it.
	TokenFile string
}

// Target is the SCIM 2.0 endpoint the job provisions into, with the knobs that keep a rate-limited app
// (Gong answers 429 beyond a few requests per second) from throttling the whole cycle.
type Target struct {
	// URL is the SCIM base URL, with the ?aadOptscim062020 flag removed (it is reflected in Compatibility).
	URL string
	// Token is the bearer token (auth type bearer, or the tokenEnv/tokenFile shorthand); unset for OAuth.
	Token Secret
	// Auth is how scimsync obtains the token it sends; Auth.Type is AuthBearer when the file uses the
	// tokenEnv/tokenFile shorthand.
	Auth TargetAuth
	// CAFile is an extra PEM CA bundle trusted for the target; empty for the system roots.
	CAFile string
	// Timeout bounds each SCIM request.
	Timeout time.Duration
	// Concurrency is the number of parallel SCIM requests; with MaxConcurrency, the adaptive limit's
	// starting point.
	Concurrency int
	// MaxConcurrency, when above 0, turns on adaptive concurrency up to this many requests in flight;
	// 0 keeps Concurrency fixed.
	MaxConcurrency int
	// RequestsPerSecond limits the request rate; 0 means unlimited.
	RequestsPerSecond float64
	// Compatibility is CompatibilityDefault, CompatibilityAADOptSCIM062020 or CompatibilityStrict.
	Compatibility string
	// Bulk allows SCIM Bulk requests when the target's ServiceProviderConfig advertises them (default
	// true); false sends every write on its own, as Entra does.
	Bulk bool
}

// Target authentication types: a static bearer token, or OAuth 2.0 (RFC 6749) with the client
// credentials grant (Entra's non-gallery option) or the authorization code grant (the gallery's
// "Authorize" button).
const (
	AuthBearer            = "bearer"
	AuthClientCredentials = "oauth2ClientCredentials"
	AuthAuthorizationCode = "oauth2AuthorizationCode"
)

// Client authentication methods at the token endpoint (RFC 6749 §2.3.1).
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
)

// DefaultRedirectPort is the loopback port of `scimsync authorize` when redirectPort is not set; the
// provider's registered redirect URI must name it unless the provider ignores loopback ports (RFC 8252
// §7.3).
const DefaultRedirectPort = 8765

// TargetAuth is target.auth, with secrets read at load.
type TargetAuth struct {
	// Type is AuthBearer, AuthClientCredentials or AuthAuthorizationCode.
	Type string
	// TokenURL and AuthorizeURL are the provider's endpoints (AuthorizeURL: authorization code only).
	TokenURL, AuthorizeURL string
	ClientID               string
	// ClientSecret is optional for the authorization code grant (a public client uses PKCE alone).
	ClientSecret Secret
	// ClientAuthMethod is ClientSecretBasic or ClientSecretPost.
	ClientAuthMethod string
	Scopes           []string
	// Audience is sent as the audience parameter of a client credentials request (Auth0, Okta).
	Audience string
	// RedirectPort is the loopback port of the authorize command's redirect listener.
	RedirectPort int
	// EncryptionKey holds the 32 raw bytes of the AES-256 key that encrypts the refresh token in the
	// state file; unset when none is configured and the token is stored as is (protected by the file's
	// permissions). It is a Secret so that no rendering of the Config shows it.
	EncryptionKey Secret
}

// Actions are Entra's "target object actions": switching one off makes the job skip that kind of
// change instead of sending it.
type Actions struct {
	Create, Update, Delete bool
}

// Object is the compiled configuration of one object type (mappings, scoping, on/off).
type Object = objects.Object

// Logging configures the zap logger. Format auto exists because the same binary runs under systemd
// (JSON for the journal) and in a terminal (readable console output).
type Logging struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is auto (console on a terminal, JSON otherwise), json or console.
	Format string
}

// Notify configures failure emails, Entra's "send an email notification when a failure occurs": a
// daemon in quarantine is otherwise silent until someone looks.
type Notify struct {
	SMTP SMTP
	From string
	To   []string
	// NoSuccessAlertAfter is how long without a successful cycle before an email says so (default
	// 24h): the backstop for failures that have no email of their own, such as an unreachable Graph.
	NoSuccessAlertAfter time.Duration
}

// SMTP is the mail relay for failure emails; the password is a Secret so it cannot reach a log line.
type SMTP struct {
	Host string
	Port int
	// TLS is starttls, implicit or none.
	TLS string
	// Auth is password (PLAIN or LOGIN) or xoauth2: an OAuth token for the sending mailbox, obtained
	// with the source's app credential (Microsoft 365, where basic SMTP AUTH is being retired).
	Auth string
	// Username is empty when the relay takes no authentication.
	Username string
	Password Secret
}

// Metrics configures the Prometheus /metrics and /healthz listener; it is opt-in so that a job never
// opens a port nobody asked for.
type Metrics struct {
	// Listen is a host:port.
	Listen string
}

// Load reads and compiles the configuration file at path, with secrets from the process environment
// and the files the configuration names. The error is Errors when the file is invalid.
func Load(path string) (*Config, error) {
	data, err := readLimited(path, maxConfigSize)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read configuration: %v", err)}}
	}
	return Parse(data, path, os.LookupEnv)
}

// LoadOffline is Load without the secrets: it checks where each secret comes from (one of …Env and
// …File, a valid variable name) but neither reads the variables nor the files, and every Secret is
// empty, except the state database password, read when available since reading the state needs it.
// Commands that only read the state file (status, logs, validate --offline) use it, so that an
// admin can run them without the service's environment.
func LoadOffline(path string) (*Config, error) {
	data, err := readLimited(path, maxConfigSize)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read configuration: %v", err)}}
	}
	return parseWith(data, path, os.LookupEnv, func(p string) ([]byte, error) { return readLimited(p, maxFileSize) }, true)
}

// Parse compiles configuration text. filename is used in errors and to resolve relative paths; env
// looks up environment variables (nil means os.LookupEnv), injectable so that tests need not touch the
// process environment. Files named by the configuration (secrets, certificate, CA bundles) are read
// from the file system. The error is Errors when the text is invalid.
func Parse(data []byte, filename string, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	return parse(data, filename, env, func(p string) ([]byte, error) { return readLimited(p, maxFileSize) })
}

const (
	// maxConfigSize bounds the configuration file; real ones are a few kilobytes.
	maxConfigSize = 4 << 20
	// maxFileSize bounds secret, certificate and CA files, so that pointing one at a huge file or a
	// device fails quickly instead of exhausting memory.
	maxFileSize = 1 << 20
)

// readLimited reads a regular file of at most limit bytes. Devices and FIFOs are refused because
// reading /dev/stdin or a pipe by mistake would hang the daemon at start.
func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
