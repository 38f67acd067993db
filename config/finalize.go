package config

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Defaults, exported so that the README, the CLI's help and tests quote one source.
const (
	DefaultScope             = ScopeAssigned
	DefaultDeletionThreshold = 500
	DefaultSchedule          = "@every 40m"
	DefaultStateDir          = "/var/lib/scimsync"
	DefaultTimeout           = 30 * time.Second
	DefaultConcurrency       = 4
	DefaultRequestsPerSecond = 25
	DefaultMemberBatchSize   = 100
	DefaultMetricsListen     = "127.0.0.1:9464"
	DefaultLogLevel          = "info"
	DefaultLogFormat         = "auto"
)

// clouds maps each national cloud to its Graph endpoint and login authority.
var clouds = map[string][2]string{
	CloudPublic:       {"https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com/"},
	CloudUSGovernment: {"https://graph.microsoft.us/v1.0", "https://login.microsoftonline.us/"},
	CloudChina:        {"https://microsoftgraph.chinacloudapi.cn/v1.0", "https://login.chinacloudapi.cn/"},
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	idRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// finalizer applies defaults and checks one decoded file, reading the secrets and files it names.
type finalizer struct {
	*decoder
	env      func(string) (string, bool)
	readFile func(string) ([]byte, error)
	dir      string
	// offline checks where secrets come from without reading them (LoadOffline).
	offline bool
}

func (f *finalizer) missing(at field, key string) {
	p := at.pos()
	p.path = join(at.path, key)
	f.errorf(p, "required key is missing")
}

// enum checks v against the allowed values, case-insensitively, and returns the canonical spelling.
func (f *finalizer) enum(v *val[string], def string, allowed ...string) string {
	if v == nil {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSpace(v.V), a) {
			return a
		}
	}
	f.errorf(v.pos, "unknown value %q; expected %s%s", v.V, orList(allowed), didYouMean(v.V, allowed))
	return def
}

func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// path resolves a configured path against the configuration file's directory, so that a job directory
// can be moved as a whole.
func (f *finalizer) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.dir, p)
}

func (f *finalizer) finalize(r *rawConfig) *Config {
	c := &Config{}
	if r.Name == nil {
		f.missing(r.at, "name")
	} else if c.Name = r.Name.V; !nameRE.MatchString(c.Name) || len(c.Name) > 63 {
		f.errorf(r.Name.pos, "invalid job name %q; use 1 to 63 lowercase letters, digits and dashes", c.Name)
	}
	c.Scope = f.enum(r.Scope, DefaultScope, ScopeAssigned, ScopeAll)
	if r.Source == nil {
		f.missing(r.at, "source")
	} else {
		c.Source = f.source(r.Source, c.Scope)
	}
	if r.Target == nil {
		f.missing(r.at, "target")
	} else {
		c.Target = f.target(r.Target)
	}
	c.Actions = Actions{Create: true, Update: true, Delete: true}
	if a := r.Actions; a != nil {
		c.Actions.Create = boolOr(a.Create, true)
		c.Actions.Update = boolOr(a.Update, true)
		c.Actions.Delete = boolOr(a.Delete, true)
	}
	c.SkipOutOfScopeDeletions = boolOr(r.SkipOutOfScopeDeletions, false)
	c.DeletionThreshold = DefaultDeletionThreshold
	if v := r.DeletionThreshold; v != nil {
		if v.V < 0 {
			f.errorf(v.pos, "must be 0 (off) or a positive count, got %d", v.V)
		}
		c.DeletionThreshold = v.V
	}

	users := r.Users
	if users == nil {
		users = &rawObject{at: field{path: "users", val: r.at.val}}
	}
	c.Users = f.object(users, false, "")
	groups := r.Groups
	if groups == nil {
		groups = &rawObject{at: field{path: "groups", val: r.at.val}}
	}
	c.Groups = f.object(groups, true, c.Users.Preset)
	if !c.Users.Enabled && !c.Groups.Enabled {
		f.errorf(r.at.pos(), "users and groups are both disabled; the job has nothing to provision")
	}

	c.Schedule = DefaultSchedule
	if v := r.Schedule; v != nil {
		c.Schedule = strings.TrimSpace(v.V)
		if err := checkSchedule(c.Schedule); err != nil {
			f.errorf(v.pos, "invalid schedule %q: %v (use a 5-field cron spec or a descriptor such as \"@every 40m\")", v.V, err)
		}
	}
	if v := r.State; v != nil && isDatabaseURL(v.V) {
		c.StateDatabase = f.stateDatabase(r, v)
		c.StatePath = filepath.Join(DefaultStateDir, c.Name+".db")
	} else if v != nil && strings.TrimSpace(v.V) != "" {
		c.StatePath = f.path(strings.TrimSpace(v.V))
	} else {
		c.StatePath = filepath.Join(DefaultStateDir, c.Name+".db")
	}
	if c.StateDatabase == nil {
		for _, k := range []struct {
			v    *val[string]
			name string
		}{{r.StatePasswordEnv, "statePasswordEnv"}, {r.StatePasswordFile, "statePasswordFile"}} {
			if k.v != nil {
				f.errorf(k.v.pos, "%s applies only to a postgres:// state; this job keeps its state in a file", k.name)
			}
		}
	}
	c.Logging = Logging{Level: DefaultLogLevel, Format: DefaultLogFormat}
	if l := r.Logging; l != nil {
		c.Logging.Level = f.enum(l.Level, DefaultLogLevel, "debug", "info", "warn", "error")
		c.Logging.Format = f.enum(l.Format, DefaultLogFormat, "auto", "json", "console")
	}
	if r.Notify != nil {
		c.Notify = f.notify(r.Notify)
	}
	if m := r.Metrics; m != nil {
		c.Metrics = &Metrics{Listen: DefaultMetricsListen}
		if m.Listen != nil {
			c.Metrics.Listen = strings.TrimSpace(m.Listen.V)
			if err := checkListen(c.Metrics.Listen); err != nil {
				f.errorf(m.Listen.pos, "invalid listen address %q: %v", m.Listen.V, err)
			}
		}
	}
	return c
}

func boolOr(v *val[bool], def bool) bool {
	if v == nil {
		return def
	}
	return v.V
}

// checkSchedule validates with the parser the scheduler uses. robfig/cron panics on some malformed
// "TZ=" prefixes, so a panic is turned into an error.
func checkSchedule(spec string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed spec")
		}
	}()
	if rest, ok := strings.CutPrefix(spec, "@every"); ok {
		d, perr := time.ParseDuration(strings.TrimSpace(rest))
		if perr == nil && d <= 0 {
			return fmt.Errorf("the interval must be positive")
		}
	}
	_, err = cron.ParseStandard(spec)
	return err
}

func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func (f *finalizer) source(r *rawSource, scope string) Source {
	s := Source{}
	if r.TenantID == nil {
		f.missing(r.at, "tenantId")
	} else if s.TenantID = strings.TrimSpace(r.TenantID.V); !idRE.MatchString(s.TenantID) {
		f.errorf(r.TenantID.pos, "invalid tenant id %q; expected a GUID or a domain name", r.TenantID.V)
	}
	if r.ClientID != nil {
		if s.ClientID = strings.TrimSpace(r.ClientID.V); !idRE.MatchString(s.ClientID) {
			f.errorf(r.ClientID.pos, "invalid client id %q; expected a GUID", r.ClientID.V)
		}
	}
	if r.Credential == nil {
		f.missing(r.at, "credential")
	} else {
		s.Credential = f.credential(r.Credential)
		if r.ClientID == nil && s.Credential.Type != CredentialManagedIdentity && s.Credential.Type != "" {
			f.missing(r.at, "clientId")
		}
	}
	s.Cloud = f.enum(r.Cloud, CloudPublic, CloudPublic, CloudUSGovernment, CloudChina)
	def := clouds[s.Cloud]
	s.GraphEndpoint, s.AuthorityHost = def[0], def[1]
	if r.GraphEndpoint != nil {
		s.GraphEndpoint = f.url(r.GraphEndpoint, true)
	}
	if r.AuthorityHost != nil {
		s.AuthorityHost = f.url(r.AuthorityHost, true)
	}
	if r.CAFile != nil {
		s.CAFile = f.caFile(r.CAFile)
	}
	if r.ServicePrincipalID != nil {
		if s.ServicePrincipalID = strings.TrimSpace(r.ServicePrincipalID.V); !idRE.MatchString(s.ServicePrincipalID) {
			f.errorf(r.ServicePrincipalID.pos, "invalid service principal id %q; expected a GUID", r.ServicePrincipalID.V)
		}
	} else if scope == ScopeAssigned {
		p := r.at.pos()
		p.path = join(r.at.path, "servicePrincipalId")
		f.errorf(p, "required key is missing (scope %q reads the app's assignments from its service principal)", scope)
	}
	return s
}

func (f *finalizer) credential(r *rawCredential) Credential {
	c := Credential{}
	if r.Type == nil {
		f.missing(r.at, "type")
		return c
	}
	c.Type = f.enum(r.Type, "", CredentialClientSecret, CredentialCertificate, CredentialWorkloadIdentity, CredentialManagedIdentity)
	if c.Type == "" {
		return c
	}
	// Keys that belong to another credential type are mistakes, not harmless extras: an admin who
	// writes secretFile next to type: certificate believes the secret is used.
	only := func(v *val[string], typ string) {
		if v != nil && c.Type != typ {
			f.errorf(v.pos, "applies only to credential type %s, not %s", typ, c.Type)
		}
	}
	only(r.SecretEnv, CredentialClientSecret)
	only(r.SecretFile, CredentialClientSecret)
	only(r.CertificateFile, CredentialCertificate)
	only(r.CertificatePasswordEnv, CredentialCertificate)
	only(r.CertificatePasswordFile, CredentialCertificate)
	only(r.TokenFile, CredentialWorkloadIdentity)
	switch c.Type {
	case CredentialClientSecret:
		c.Secret = f.secret(r.at, r.SecretEnv, r.SecretFile, "secretEnv", "secretFile", true)
	case CredentialCertificate:
		if r.CertificateFile == nil {
			f.missing(r.at, "certificateFile")
		} else {
			c.CertificateFile = f.path(strings.TrimSpace(r.CertificateFile.V))
			if !f.offline { // the key is a secret too; offline commands never use it
				data, err := f.readFile(c.CertificateFile)
				if err != nil {
					f.errorf(r.CertificateFile.pos, "cannot read the certificate: %v", err)
				} else if err := checkCertificate(data); err != nil {
					f.errorf(r.CertificateFile.pos, "%s: %v", c.CertificateFile, err)
				} else {
					c.Certificate = data
				}
			}
		}
		c.CertificatePassword = f.secret(r.at, r.CertificatePasswordEnv, r.CertificatePasswordFile,
			"certificatePasswordEnv", "certificatePasswordFile", false)
	case CredentialWorkloadIdentity:
		if r.TokenFile != nil {
			c.TokenFile = f.path(strings.TrimSpace(r.TokenFile.V))
		} else if v, ok := f.env("AZURE_FEDERATED_TOKEN_FILE"); ok && v != "" {
			c.TokenFile = v
		} else {
			p := r.at.pos()
			p.path = join(r.at.path, "tokenFile")
			f.errorf(p, "required key is missing and the environment variable AZURE_FEDERATED_TOKEN_FILE is not set")
		}
	}
	return c
}

// checkCertificate accepts PEM with a certificate and a private key, or anything that looks like a
// PFX (a DER sequence); the Graph client parses it fully with the password.
func checkCertificate(data []byte) error {
	if bytes := data; len(bytes) > 0 && bytes[0] == 0x30 {
		return nil
	}
	var cert, key bool
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			cert = true
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			key = true
		}
	}
	switch {
	case !cert && !key:
		return fmt.Errorf("neither PEM nor PFX")
	case !cert:
		return fmt.Errorf("the PEM file has no CERTIFICATE block")
	case !key:
		return fmt.Errorf("the PEM file has no PRIVATE KEY block")
	}
	return nil
}

// secret reads a secret from exactly one of an environment variable or a file. The messages name the
// variable or the file, never the value.
func (f *finalizer) secret(at field, envKey, fileKey *val[string], envName, fileName string, required bool) Secret {
	switch {
	case envKey != nil && fileKey != nil:
		f.errorf(fileKey.pos, "%s and %s are mutually exclusive; use one", envName, fileName)
		return Secret{}
	case envKey != nil:
		name := strings.TrimSpace(envKey.V)
		if !envVarRE.MatchString(name) {
			f.errorf(envKey.pos, "invalid environment variable name %q", envKey.V)
			return Secret{}
		}
		if f.offline {
			return Secret{}
		}
		v, ok := f.env(name)
		if !ok {
			f.errorf(envKey.pos, "environment variable %s is not set", name)
			return Secret{}
		}
		if v == "" {
			f.errorf(envKey.pos, "environment variable %s is empty", name)
			return Secret{}
		}
		if c, bad := controlChar(v); bad {
			f.errorf(envKey.pos, "environment variable %s contains %s; a secret is one line without control characters", name, c)
			return Secret{}
		}
		return NewSecret(v)
	case fileKey != nil:
		p := f.path(strings.TrimSpace(fileKey.V))
		if f.offline {
			return Secret{}
		}
		data, err := f.readFile(p)
		if err != nil {
			f.errorf(fileKey.pos, "cannot read the secret file: %v", err)
			return Secret{}
		}
		// Exactly one line ending is trimmed: the one `echo` and editors add. Anything else that is not
		// printable would be sent in the Authorization header and fail every request the same way.
		v := string(data)
		if t, ok := strings.CutSuffix(v, "\r\n"); ok {
			v = t
		} else {
			v = strings.TrimSuffix(v, "\n")
		}
		if v == "" {
			f.errorf(fileKey.pos, "the secret file %s is empty", p)
			return Secret{}
		}
		if c, bad := controlChar(v); bad {
			f.errorf(fileKey.pos, "the secret file %s contains %s; a secret is one line without control characters (one trailing newline is trimmed)", p, c)
			return Secret{}
		}
		return NewSecret(v)
	case required && !f.inline[at.path]:
		f.errorf(at.pos(), "needs %s or %s", envName, fileName)
	}
	return Secret{}
}

// controlChar finds the first C0 control character or DEL in a secret and names it, never showing the
// secret itself.
func controlChar(v string) (string, bool) {
	for _, r := range v {
		switch {
		case r == '\r':
			return "a carriage return (CR)", true
		case r == '\n':
			return "a line feed (LF)", true
		case r == 0:
			return "a NUL byte", true
		case r < 0x20 || r == 0x7f:
			return fmt.Sprintf("a control character (U+%04X)", r), true
		}
	}
	return "", false
}

// url checks an endpoint URL. strict endpoints (Graph, the authority) carry the tenant's tokens and
// must use https, except on loopback, where the tests and the demo run their emulated servers.
func (f *finalizer) url(v *val[string], strict bool) string {
	raw := strings.TrimSpace(v.V)
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		f.errorf(v.pos, "invalid URL: %v", err)
		return ""
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		f.errorf(v.pos, "invalid URL %q: expected an absolute http or https URL", u.Redacted())
	case u.Host == "" || u.Hostname() == "":
		f.errorf(v.pos, "invalid URL %q: no host", u.Redacted())
	case u.User != nil:
		f.errorf(v.pos, "credentials in the URL are not accepted")
	case u.Fragment != "":
		f.errorf(v.pos, "invalid URL %q: a fragment (#...) is not allowed", u.Redacted())
	case strict && u.Scheme == "http" && !isLoopback(u.Hostname()):
		f.errorf(v.pos, "must use https (http is allowed only for localhost, 127.0.0.1 and ::1), got %q", u.Redacted())
	default:
		return u.String()
	}
	return ""
}

func isLoopback(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// caFile reads a CA bundle now, so that a typo fails at load rather than as a TLS error mid-cycle.
func (f *finalizer) caFile(v *val[string]) string {
	p := f.path(strings.TrimSpace(v.V))
	data, err := f.readFile(p)
	if err != nil {
		f.errorf(v.pos, "cannot read the CA bundle: %v", err)
		return p
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		f.errorf(v.pos, "%s contains no PEM certificate", p)
	}
	return p
}

func (f *finalizer) target(r *rawTarget) Target {
	t := Target{
		Timeout:           DefaultTimeout,
		Concurrency:       DefaultConcurrency,
		RequestsPerSecond: DefaultRequestsPerSecond,
		Compatibility:     CompatibilityDefault,
		Bulk:              true,
	}
	flag := false
	if r.URL == nil {
		f.missing(r.at, "url")
	} else if t.URL = f.url(r.URL, false); t.URL != "" {
		u, _ := url.Parse(t.URL)
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, CompatibilityAADOptSCIM062020) {
				flag = true
				q.Del(k)
			}
		}
		if flag {
			u.RawQuery = q.Encode()
			t.URL = u.String()
		}
	}
	switch {
	case r.Auth != nil && (r.TokenEnv != nil || r.TokenFile != nil):
		v := r.TokenEnv
		if v == nil {
			v = r.TokenFile
		}
		f.errorf(v.pos, "target.tokenEnv and target.tokenFile are shorthand for auth type %s; with target.auth, put them under auth", AuthBearer)
	case r.Auth != nil:
		t.Auth, t.Token = f.auth(r.Auth)
	default:
		t.Auth = TargetAuth{Type: AuthBearer}
		t.Token = f.secret(r.at, r.TokenEnv, r.TokenFile, "tokenEnv", "tokenFile", true)
	}
	if r.CAFile != nil {
		t.CAFile = f.caFile(r.CAFile)
	}
	if v := r.Timeout; v != nil {
		d, err := time.ParseDuration(strings.TrimSpace(v.V))
		switch {
		case err != nil:
			f.errorf(v.pos, "invalid duration %q (use Go syntax such as 30s or 1m30s)", v.V)
		case d <= 0:
			f.errorf(v.pos, "must be positive, got %s", v.V)
		default:
			t.Timeout = d
		}
	}
	if v := r.Concurrency; v != nil {
		if v.V < 1 || v.V > 64 {
			f.errorf(v.pos, "must be from 1 to 64, got %d", v.V)
		}
		t.Concurrency = v.V
	}
	if v := r.MaxConcurrency; v != nil {
		switch {
		case v.V < 1 || v.V > 64:
			f.errorf(v.pos, "must be from 1 to 64, got %d", v.V)
		case v.V < t.Concurrency:
			f.errorf(v.pos, "must not be below target.concurrency (%d), got %d", t.Concurrency, v.V)
		}
		t.MaxConcurrency = v.V
	}
	if v := r.Bulk; v != nil {
		t.Bulk = v.V
	}
	if v := r.RequestsPerSecond; v != nil {
		if v.V < 0 {
			f.errorf(v.pos, "must be 0 (unlimited) or positive, got %v", v.V)
		}
		t.RequestsPerSecond = v.V
	}
	if v := r.Compatibility; v != nil {
		t.Compatibility = f.enum(v, CompatibilityDefault, CompatibilityDefault, CompatibilityAADOptSCIM062020, CompatibilityStrict)
		if flag && t.Compatibility == CompatibilityDefault {
			f.errorf(v.pos, "conflicts with the ?%s flag in target.url", CompatibilityAADOptSCIM062020)
		}
	} else if flag {
		t.Compatibility = CompatibilityAADOptSCIM062020
	}
	return t
}

// auth finalizes target.auth. Keys of another type are errors, as for the Graph credential: an admin who
// writes clientSecretEnv under type bearer believes it is used.
func (f *finalizer) auth(r *rawAuth) (TargetAuth, Secret) {
	a := TargetAuth{}
	var token Secret
	if r.Type == nil {
		f.missing(r.at, "type")
		return a, token
	}
	a.Type = f.enum(r.Type, "", AuthBearer, AuthClientCredentials, AuthAuthorizationCode)
	if a.Type == "" {
		return a, token
	}
	only := func(v *val[string], types ...string) {
		if v != nil && !contains(types, a.Type) {
			f.errorf(v.pos, "applies only to auth type %s, not %s", orList(types), a.Type)
		}
	}
	oauth := []string{AuthClientCredentials, AuthAuthorizationCode}
	only(r.TokenEnv, AuthBearer)
	only(r.TokenFile, AuthBearer)
	only(r.TokenURL, oauth...)
	only(r.ClientID, oauth...)
	only(r.ClientSecretEnv, oauth...)
	only(r.ClientSecretFile, oauth...)
	only(r.ClientAuth, oauth...)
	only(r.AuthorizeURL, AuthAuthorizationCode)
	only(r.Audience, AuthClientCredentials)
	only(r.EncryptionKeyEnv, AuthAuthorizationCode)
	only(r.EncryptionKeyFile, AuthAuthorizationCode)
	if r.RedirectPort != nil && a.Type != AuthAuthorizationCode {
		f.errorf(r.RedirectPort.pos, "applies only to auth type %s, not %s", AuthAuthorizationCode, a.Type)
	}
	if len(r.Scopes) > 0 && a.Type == AuthBearer {
		f.errorf(r.Scopes[0].pos, "applies only to auth type %s, not %s", orList(oauth), a.Type)
	}
	if a.Type == AuthBearer {
		return a, f.secret(r.at, r.TokenEnv, r.TokenFile, "tokenEnv", "tokenFile", true)
	}
	// The token URL receives the client secret and the refresh token, so it must be https like the
	// Graph authority (loopback excepted, for tests).
	if r.TokenURL == nil {
		f.missing(r.at, "tokenUrl")
	} else {
		a.TokenURL = f.url(r.TokenURL, true)
	}
	if r.ClientID == nil {
		f.missing(r.at, "clientId")
	} else if a.ClientID = strings.TrimSpace(r.ClientID.V); a.ClientID == "" {
		f.errorf(r.ClientID.pos, "must not be empty")
	} else if c, bad := controlChar(a.ClientID); bad {
		f.errorf(r.ClientID.pos, "contains %s", c)
	}
	a.ClientSecret = f.secret(r.at, r.ClientSecretEnv, r.ClientSecretFile, "clientSecretEnv", "clientSecretFile",
		a.Type == AuthClientCredentials)
	a.ClientAuthMethod = f.enum(r.ClientAuth, ClientSecretBasic, ClientSecretBasic, ClientSecretPost)
	if r.ClientAuth != nil && !a.ClientSecret.IsSet() && (r.ClientSecretEnv == nil && r.ClientSecretFile == nil) {
		f.errorf(r.ClientAuth.pos, "needs a client secret (clientSecretEnv or clientSecretFile)")
	}
	seen := map[string]bool{}
	for _, v := range r.Scopes {
		sc := strings.TrimSpace(v.V)
		switch {
		case sc == "" || strings.ContainsAny(sc, " \t\"\\") || !printableASCII(sc):
			// RFC 6749 §3.3: a scope token is printable ASCII without space, quote or backslash.
			f.errorf(v.pos, "invalid scope %q: one scope per list item, printable ASCII without spaces, quotes or backslashes", v.V)
		case seen[sc]:
			f.errorf(v.pos, "duplicate scope %q", sc)
		default:
			seen[sc] = true
			a.Scopes = append(a.Scopes, sc)
		}
	}
	if r.Audience != nil {
		a.Audience = strings.TrimSpace(r.Audience.V)
	}
	if a.Type == AuthAuthorizationCode {
		if r.AuthorizeURL == nil {
			f.missing(r.at, "authorizeUrl")
		} else {
			a.AuthorizeURL = f.url(r.AuthorizeURL, true)
		}
		a.RedirectPort = DefaultRedirectPort
		if v := r.RedirectPort; v != nil {
			// 0 is any free port, for providers that ignore the loopback port (RFC 8252 §7.3).
			if v.V < 0 || v.V > 65535 {
				f.errorf(v.pos, "must be from 0 (any free port) to 65535, got %d", v.V)
			}
			a.RedirectPort = v.V
		}
		key := f.secret(r.at, r.EncryptionKeyEnv, r.EncryptionKeyFile, "encryptionKeyEnv", "encryptionKeyFile", false)
		if key.IsSet() {
			at := r.EncryptionKeyEnv
			if at == nil {
				at = r.EncryptionKeyFile
			}
			if raw, err := decodeKey(key.Reveal()); err != nil {
				f.errorf(at.pos, "%v", err)
			} else {
				a.EncryptionKey = NewSecret(string(raw))
			}
		}
	}
	return a, token
}

// decodeKey reads a 256-bit key written as 64 hex digits or as standard or URL-safe base64 (what
// `openssl rand -hex 32` and `openssl rand -base64 32` print). The error never shows the key.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("the encryption key must be 32 bytes written as 64 hex digits or base64 (openssl rand -hex 32)")
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func (f *finalizer) notify(r *rawNotify) *Notify {
	n := &Notify{}
	if r.SMTP == nil {
		f.missing(r.at, "smtp")
	} else {
		s := r.SMTP
		n.SMTP.TLS = f.enum(s.TLS, "starttls", "starttls", "implicit", "none")
		if s.Host == nil {
			f.missing(s.at, "host")
		} else {
			n.SMTP.Host = strings.TrimSpace(s.Host.V)
		}
		switch n.SMTP.TLS {
		case "implicit":
			n.SMTP.Port = 465
		case "none":
			n.SMTP.Port = 25
		default:
			n.SMTP.Port = 587
		}
		if s.Port != nil {
			if s.Port.V < 1 || s.Port.V > 65535 {
				f.errorf(s.Port.pos, "must be from 1 to 65535, got %d", s.Port.V)
			}
			n.SMTP.Port = s.Port.V
		}
		var userKey *val[string]
		switch {
		case s.Username != nil && s.UsernameEnv != nil:
			f.errorf(s.UsernameEnv.pos, "username and usernameEnv are mutually exclusive; use one")
		case s.Username != nil:
			userKey = s.Username
			n.SMTP.Username = s.Username.V
		case s.UsernameEnv != nil:
			userKey = s.UsernameEnv
			if v, ok := f.env(strings.TrimSpace(s.UsernameEnv.V)); ok && v != "" {
				n.SMTP.Username = v
			} else {
				f.errorf(s.UsernameEnv.pos, "environment variable %s is not set", strings.TrimSpace(s.UsernameEnv.V))
			}
		}
		n.SMTP.Auth = f.enum(s.Auth, "password", "password", "xoauth2")
		n.SMTP.Password = f.secret(s.at, s.PasswordEnv, s.PasswordFile, "passwordEnv", "passwordFile", false)
		switch {
		case n.SMTP.Auth == "xoauth2":
			if userKey == nil {
				f.errorf(s.Auth.pos, "xoauth2 needs username (the mailbox that sends, which the source app may send as)")
			}
			if s.PasswordEnv != nil || s.PasswordFile != nil {
				f.errorf(s.Auth.pos, "xoauth2 takes no password: the token comes from the source credential")
			}
		case userKey != nil && s.PasswordEnv == nil && s.PasswordFile == nil:
			f.errorf(userKey.pos, "a username needs passwordEnv or passwordFile")
		case s.Username == nil && s.UsernameEnv == nil && (s.PasswordEnv != nil || s.PasswordFile != nil):
			p := s.at.pos()
			p.path = join(s.at.path, "username")
			f.errorf(p, "a password needs username or usernameEnv")
		}
	}
	n.NoSuccessAlertAfter = 24 * time.Hour
	if v := r.NoSuccessAlertAfter; v != nil {
		d, err := time.ParseDuration(strings.TrimSpace(v.V))
		switch {
		case err != nil:
			f.errorf(v.pos, "invalid duration %q (use Go syntax such as 24h or 36h)", v.V)
		case d < time.Hour:
			f.errorf(v.pos, "must be at least 1h (a cycle can take that long), got %s", d)
		default:
			n.NoSuccessAlertAfter = d
		}
	}
	if r.From == nil {
		f.missing(r.at, "from")
	} else if a, err := mail.ParseAddress(r.From.V); err != nil {
		f.errorf(r.From.pos, "invalid email address %q: %v", r.From.V, err)
	} else {
		n.From = a.String()
	}
	if len(r.To) == 0 {
		f.missing(r.at, "to")
	}
	for _, v := range r.To {
		if a, err := mail.ParseAddress(v.V); err != nil {
			f.errorf(v.pos, "invalid email address %q: %v", v.V, err)
		} else {
			n.To = append(n.To, a.Address)
		}
	}
	return n
}
