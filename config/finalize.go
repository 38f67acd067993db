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

	"github.com/scimsync/scimsync/config/internal/objects"
	"github.com/scimsync/scimsync/config/internal/raw"
	"github.com/scimsync/scimsync/config/internal/secrets"
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
	DefaultMemberBatchSize   = objects.DefaultMemberBatchSize
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
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	idRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// finalizer applies defaults and checks one decoded file, reading the secrets and files it names.
type finalizer struct {
	*secrets.Source
}

func (f *finalizer) finalize(r *raw.Config) *Config {
	c := &Config{}
	if r.Name == nil {
		f.Missing(r.At, "name")
	} else if c.Name = r.Name.V; !nameRE.MatchString(c.Name) || len(c.Name) > 63 {
		f.Errorf(r.Name.Pos, "invalid job name %q; use 1 to 63 lowercase letters, digits and dashes", c.Name)
	}
	c.Scope = f.Enum(r.Scope, DefaultScope, ScopeAssigned, ScopeAll)
	if r.Source == nil {
		f.Missing(r.At, "source")
	} else {
		c.Source = f.source(r.Source, c.Scope)
	}
	if r.Target == nil {
		f.Missing(r.At, "target")
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
			f.Errorf(v.Pos, "must be 0 (off) or a positive count, got %d", v.V)
		}
		c.DeletionThreshold = v.V
	}

	users := r.Users
	if users == nil {
		users = &raw.Object{At: raw.Field{Path: "users", Node: r.At.Node}}
	}
	c.Users = objects.Compile(f.Decoder, users, false, "")
	groups := r.Groups
	if groups == nil {
		groups = &raw.Object{At: raw.Field{Path: "groups", Node: r.At.Node}}
	}
	c.Groups = objects.Compile(f.Decoder, groups, true, c.Users.Preset)
	if !c.Users.Enabled && !c.Groups.Enabled {
		f.Errorf(r.At.Pos(), "users and groups are both disabled; the job has nothing to provision")
	}

	c.Schedule = DefaultSchedule
	if v := r.Schedule; v != nil {
		c.Schedule = strings.TrimSpace(v.V)
		if err := checkSchedule(c.Schedule); err != nil {
			f.Errorf(v.Pos, "invalid schedule %q: %v (use a 5-field cron spec or a descriptor such as \"@every 40m\")", v.V, err)
		}
	}
	f.state(r, c)
	c.Logging = Logging{Level: DefaultLogLevel, Format: DefaultLogFormat}
	if l := r.Logging; l != nil {
		c.Logging.Level = f.Enum(l.Level, DefaultLogLevel, "debug", "info", "warn", "error")
		c.Logging.Format = f.Enum(l.Format, DefaultLogFormat, "auto", "json", "console")
	}
	if r.Notify != nil {
		c.Notify = f.notify(r.Notify)
	}
	if m := r.Metrics; m != nil {
		c.Metrics = &Metrics{Listen: DefaultMetricsListen}
		if m.Listen != nil {
			c.Metrics.Listen = strings.TrimSpace(m.Listen.V)
			if err := checkListen(c.Metrics.Listen); err != nil {
				f.Errorf(m.Listen.Pos, "invalid listen address %q: %v", m.Listen.V, err)
			}
		}
	}
	return c
}

// state reads where the job keeps its state: a file (the default, named after the job) or a
// postgres:// database with its password.
func (f *finalizer) state(r *raw.Config, c *Config) {
	if v := r.State; v != nil && isDatabaseURL(v.V) {
		c.StateDatabase = f.stateDatabase(r, v)
		c.StatePath = filepath.Join(DefaultStateDir, c.Name+".db")
	} else if v != nil && strings.TrimSpace(v.V) != "" {
		c.StatePath = f.Path(strings.TrimSpace(v.V))
	} else {
		c.StatePath = filepath.Join(DefaultStateDir, c.Name+".db")
	}
	if c.StateDatabase == nil {
		for _, k := range []struct {
			v    *raw.Val[string]
			name string
		}{{r.StatePasswordEnv, "statePasswordEnv"}, {r.StatePasswordFile, "statePasswordFile"}} {
			if k.v != nil {
				f.Errorf(k.v.Pos, "%s applies only to a postgres:// state; this job keeps its state in a file", k.name)
			}
		}
	}
}

func boolOr(v *raw.Val[bool], def bool) bool {
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

func (f *finalizer) source(r *raw.Source, scope string) Source {
	s := Source{}
	if r.TenantID == nil {
		f.Missing(r.At, "tenantId")
	} else if s.TenantID = strings.TrimSpace(r.TenantID.V); !idRE.MatchString(s.TenantID) {
		f.Errorf(r.TenantID.Pos, "invalid tenant id %q; expected a GUID or a domain name", r.TenantID.V)
	}
	if r.ClientID != nil {
		if s.ClientID = strings.TrimSpace(r.ClientID.V); !idRE.MatchString(s.ClientID) {
			f.Errorf(r.ClientID.Pos, "invalid client id %q; expected a GUID", r.ClientID.V)
		}
	}
	if r.Credential == nil {
		f.Missing(r.At, "credential")
	} else {
		s.Credential = f.credential(r.Credential)
		if r.ClientID == nil && s.Credential.Type != CredentialManagedIdentity && s.Credential.Type != "" {
			f.Missing(r.At, "clientId")
		}
	}
	s.Cloud = f.Enum(r.Cloud, CloudPublic, CloudPublic, CloudUSGovernment, CloudChina)
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
			f.Errorf(r.ServicePrincipalID.Pos, "invalid service principal id %q; expected a GUID", r.ServicePrincipalID.V)
		}
	} else if scope == ScopeAssigned {
		p := r.At.Pos()
		p.Path = raw.Join(r.At.Path, "servicePrincipalId")
		f.Errorf(p, "required key is missing (scope %q reads the app's assignments from its service principal)", scope)
	}
	return s
}

func (f *finalizer) credential(r *raw.Credential) Credential {
	c := Credential{}
	if r.Type == nil {
		f.Missing(r.At, "type")
		return c
	}
	c.Type = f.Enum(r.Type, "", CredentialClientSecret, CredentialCertificate, CredentialWorkloadIdentity, CredentialManagedIdentity)
	if c.Type == "" {
		return c
	}
	// Keys that belong to another credential type are mistakes, not harmless extras: an admin who
	// writes secretFile next to type: certificate believes the secret is used.
	only := func(v *raw.Val[string], typ string) {
		if v != nil && c.Type != typ {
			f.Errorf(v.Pos, "applies only to credential type %s, not %s", typ, c.Type)
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
		c.Secret = f.Read(r.At, r.SecretEnv, r.SecretFile, "secretEnv", "secretFile", true)
	case CredentialCertificate:
		if r.CertificateFile == nil {
			f.Missing(r.At, "certificateFile")
		} else {
			c.CertificateFile = f.Path(strings.TrimSpace(r.CertificateFile.V))
			if !f.Offline { // the key is a secret too; offline commands never use it
				data, err := f.ReadFile(c.CertificateFile)
				if err != nil {
					f.Errorf(r.CertificateFile.Pos, "cannot read the certificate: %v", err)
				} else if err := checkCertificate(data); err != nil {
					f.Errorf(r.CertificateFile.Pos, "%s: %v", c.CertificateFile, err)
				} else {
					c.Certificate = data
				}
			}
		}
		c.CertificatePassword = f.Read(r.At, r.CertificatePasswordEnv, r.CertificatePasswordFile,
			"certificatePasswordEnv", "certificatePasswordFile", false)
	case CredentialWorkloadIdentity:
		if r.TokenFile != nil {
			c.TokenFile = f.Path(strings.TrimSpace(r.TokenFile.V))
		} else if v, ok := f.Env("AZURE_FEDERATED_TOKEN_FILE"); ok && v != "" {
			c.TokenFile = v
		} else {
			p := r.At.Pos()
			p.Path = raw.Join(r.At.Path, "tokenFile")
			f.Errorf(p, "required key is missing and the environment variable AZURE_FEDERATED_TOKEN_FILE is not set")
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

// url checks an endpoint URL. strict endpoints (Graph, the authority) carry the tenant's tokens and
// must use https, except on loopback, where the tests and the demo run their emulated servers.
func (f *finalizer) url(v *raw.Val[string], strict bool) string {
	raw := strings.TrimSpace(v.V)
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		f.Errorf(v.Pos, "invalid URL: %v", err)
		return ""
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		f.Errorf(v.Pos, "invalid URL %q: expected an absolute http or https URL", u.Redacted())
	case u.Host == "" || u.Hostname() == "":
		f.Errorf(v.Pos, "invalid URL %q: no host", u.Redacted())
	case u.User != nil:
		f.Errorf(v.Pos, "credentials in the URL are not accepted")
	case u.Fragment != "":
		f.Errorf(v.Pos, "invalid URL %q: a fragment (#...) is not allowed", u.Redacted())
	case strict && u.Scheme == "http" && !isLoopback(u.Hostname()):
		f.Errorf(v.Pos, "must use https (http is allowed only for localhost, 127.0.0.1 and ::1), got %q", u.Redacted())
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
func (f *finalizer) caFile(v *raw.Val[string]) string {
	p := f.Path(strings.TrimSpace(v.V))
	data, err := f.ReadFile(p)
	if err != nil {
		f.Errorf(v.Pos, "cannot read the CA bundle: %v", err)
		return p
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		f.Errorf(v.Pos, "%s contains no PEM certificate", p)
	}
	return p
}

func (f *finalizer) target(r *raw.Target) Target {
	t := Target{
		Timeout:           DefaultTimeout,
		Concurrency:       DefaultConcurrency,
		RequestsPerSecond: DefaultRequestsPerSecond,
		Compatibility:     CompatibilityDefault,
		Bulk:              true,
	}
	flag := false
	if r.URL == nil {
		f.Missing(r.At, "url")
	} else {
		t.URL, flag = stripCompatibilityFlag(f.url(r.URL, false))
	}
	switch {
	case r.Auth != nil && (r.TokenEnv != nil || r.TokenFile != nil):
		v := r.TokenEnv
		if v == nil {
			v = r.TokenFile
		}
		f.Errorf(v.Pos, "target.tokenEnv and target.tokenFile are shorthand for auth type %s; with target.auth, put them under auth", AuthBearer)
	case r.Auth != nil:
		t.Auth, t.Token = f.auth(r.Auth)
	default:
		t.Auth = TargetAuth{Type: AuthBearer}
		t.Token = f.Read(r.At, r.TokenEnv, r.TokenFile, "tokenEnv", "tokenFile", true)
	}
	if r.CAFile != nil {
		t.CAFile = f.caFile(r.CAFile)
	}
	f.targetLimits(r, &t)
	if v := r.Compatibility; v != nil {
		t.Compatibility = f.Enum(v, CompatibilityDefault, CompatibilityDefault, CompatibilityAADOptSCIM062020, CompatibilityStrict)
		if flag && t.Compatibility == CompatibilityDefault {
			f.Errorf(v.Pos, "conflicts with the ?%s flag in target.url", CompatibilityAADOptSCIM062020)
		}
	} else if flag {
		t.Compatibility = CompatibilityAADOptSCIM062020
	}
	return t
}

// stripCompatibilityFlag removes Entra's ?aadOptscim062020 URL flag from the target URL and reports
// whether it was there: scimsync takes it as the compatibility mode and does not send it.
func stripCompatibilityFlag(target string) (string, bool) {
	if target == "" {
		return target, false
	}
	u, _ := url.Parse(target)
	q := u.Query()
	flag := false
	for k := range q {
		if strings.EqualFold(k, CompatibilityAADOptSCIM062020) {
			flag = true
			q.Del(k)
		}
	}
	if flag {
		u.RawQuery = q.Encode()
		target = u.String()
	}
	return target, flag
}

// targetLimits reads the request timeout, concurrency and rate of the target.
func (f *finalizer) targetLimits(r *raw.Target, t *Target) {
	if v := r.Timeout; v != nil {
		d, err := time.ParseDuration(strings.TrimSpace(v.V))
		switch {
		case err != nil:
			f.Errorf(v.Pos, "invalid duration %q (use Go syntax such as 30s or 1m30s)", v.V)
		case d <= 0:
			f.Errorf(v.Pos, "must be positive, got %s", v.V)
		default:
			t.Timeout = d
		}
	}
	if v := r.Concurrency; v != nil {
		if v.V < 1 || v.V > 64 {
			f.Errorf(v.Pos, "must be from 1 to 64, got %d", v.V)
		}
		t.Concurrency = v.V
	}
	if v := r.MaxConcurrency; v != nil {
		switch {
		case v.V < 1 || v.V > 64:
			f.Errorf(v.Pos, "must be from 1 to 64, got %d", v.V)
		case v.V < t.Concurrency:
			f.Errorf(v.Pos, "must not be below target.concurrency (%d), got %d", t.Concurrency, v.V)
		}
		t.MaxConcurrency = v.V
	}
	if v := r.RequestsPerSecond; v != nil {
		if v.V < 0 {
			f.Errorf(v.Pos, "must be 0 (unlimited) or positive, got %v", v.V)
		}
		t.RequestsPerSecond = v.V
	}
	if v := r.Bulk; v != nil {
		t.Bulk = v.V
	}
}

// auth finalizes target.auth. Keys of another type are errors, as for the Graph credential: an admin who
// writes clientSecretEnv under type bearer believes it is used.
func (f *finalizer) auth(r *raw.Auth) (TargetAuth, Secret) {
	a := TargetAuth{}
	var token Secret
	if r.Type == nil {
		f.Missing(r.At, "type")
		return a, token
	}
	a.Type = f.Enum(r.Type, "", AuthBearer, AuthClientCredentials, AuthAuthorizationCode)
	if a.Type == "" {
		return a, token
	}
	f.authKeysApply(r, a.Type)
	if a.Type == AuthBearer {
		return a, f.Read(r.At, r.TokenEnv, r.TokenFile, "tokenEnv", "tokenFile", true)
	}
	// The token URL receives the client secret and the refresh token, so it must be https like the
	// Graph authority (loopback excepted, for tests).
	if r.TokenURL == nil {
		f.Missing(r.At, "tokenUrl")
	} else {
		a.TokenURL = f.url(r.TokenURL, true)
	}
	if r.ClientID == nil {
		f.Missing(r.At, "clientId")
	} else if a.ClientID = strings.TrimSpace(r.ClientID.V); a.ClientID == "" {
		f.Errorf(r.ClientID.Pos, "must not be empty")
	} else if c, bad := secrets.ControlChar(a.ClientID); bad {
		f.Errorf(r.ClientID.Pos, "contains %s", c)
	}
	a.ClientSecret = f.Read(r.At, r.ClientSecretEnv, r.ClientSecretFile, "clientSecretEnv", "clientSecretFile",
		a.Type == AuthClientCredentials)
	a.ClientAuthMethod = f.Enum(r.ClientAuth, ClientSecretBasic, ClientSecretBasic, ClientSecretPost)
	if r.ClientAuth != nil && !a.ClientSecret.IsSet() && (r.ClientSecretEnv == nil && r.ClientSecretFile == nil) {
		f.Errorf(r.ClientAuth.Pos, "needs a client secret (clientSecretEnv or clientSecretFile)")
	}
	a.Scopes = f.scopes(r.Scopes)
	if r.Audience != nil {
		a.Audience = strings.TrimSpace(r.Audience.V)
	}
	if a.Type == AuthAuthorizationCode {
		f.authorizationCode(r, &a)
	}
	return a, token
}

// authKeysApply reports the keys written for another auth type than the one chosen.
func (f *finalizer) authKeysApply(r *raw.Auth, typ string) {
	only := func(v *raw.Val[string], types ...string) {
		if v != nil && !raw.Contains(types, typ) {
			f.Errorf(v.Pos, "applies only to auth type %s, not %s", raw.OrList(types), typ)
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
	if r.RedirectPort != nil && typ != AuthAuthorizationCode {
		f.Errorf(r.RedirectPort.Pos, "applies only to auth type %s, not %s", AuthAuthorizationCode, typ)
	}
	if len(r.Scopes) > 0 && typ == AuthBearer {
		f.Errorf(r.Scopes[0].Pos, "applies only to auth type %s, not %s", raw.OrList(oauth), typ)
	}
}

// scopes checks the OAuth scopes, one token per list item.
func (f *finalizer) scopes(vs []*raw.Val[string]) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range vs {
		sc := strings.TrimSpace(v.V)
		switch {
		case sc == "" || strings.ContainsAny(sc, " \t\"\\") || !printableASCII(sc):
			// RFC 6749 §3.3: a scope token is printable ASCII without space, quote or backslash.
			f.Errorf(v.Pos, "invalid scope %q: one scope per list item, printable ASCII without spaces, quotes or backslashes", v.V)
		case seen[sc]:
			f.Errorf(v.Pos, "duplicate scope %q", sc)
		default:
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out
}

// authorizationCode reads the keys only the authorization code flow has.
func (f *finalizer) authorizationCode(r *raw.Auth, a *TargetAuth) {
	if r.AuthorizeURL == nil {
		f.Missing(r.At, "authorizeUrl")
	} else {
		a.AuthorizeURL = f.url(r.AuthorizeURL, true)
	}
	a.RedirectPort = DefaultRedirectPort
	if v := r.RedirectPort; v != nil {
		// 0 is any free port, for providers that ignore the loopback port (RFC 8252 §7.3).
		if v.V < 0 || v.V > 65535 {
			f.Errorf(v.Pos, "must be from 0 (any free port) to 65535, got %d", v.V)
		}
		a.RedirectPort = v.V
	}
	key := f.Read(r.At, r.EncryptionKeyEnv, r.EncryptionKeyFile, "encryptionKeyEnv", "encryptionKeyFile", false)
	if key.IsSet() {
		at := r.EncryptionKeyEnv
		if at == nil {
			at = r.EncryptionKeyFile
		}
		if raw, err := decodeKey(key.Reveal()); err != nil {
			f.Errorf(at.Pos, "%v", err)
		} else {
			a.EncryptionKey = NewSecret(string(raw))
		}
	}
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

func (f *finalizer) notify(r *raw.Notify) *Notify {
	n := &Notify{}
	if r.SMTP == nil {
		f.Missing(r.At, "smtp")
	} else {
		n.SMTP = f.smtp(r.SMTP)
	}
	n.NoSuccessAlertAfter = 24 * time.Hour
	if v := r.NoSuccessAlertAfter; v != nil {
		d, err := time.ParseDuration(strings.TrimSpace(v.V))
		switch {
		case err != nil:
			f.Errorf(v.Pos, "invalid duration %q (use Go syntax such as 24h or 36h)", v.V)
		case d < time.Hour:
			f.Errorf(v.Pos, "must be at least 1h (a cycle can take that long), got %s", d)
		default:
			n.NoSuccessAlertAfter = d
		}
	}
	if r.From == nil {
		f.Missing(r.At, "from")
	} else if a, err := mail.ParseAddress(r.From.V); err != nil {
		f.Errorf(r.From.Pos, "invalid email address %q: %v", r.From.V, err)
	} else {
		n.From = a.String()
	}
	if len(r.To) == 0 {
		f.Missing(r.At, "to")
	}
	for _, v := range r.To {
		if a, err := mail.ParseAddress(v.V); err != nil {
			f.Errorf(v.Pos, "invalid email address %q: %v", v.V, err)
		} else {
			n.To = append(n.To, a.Address)
		}
	}
	return n
}

// smtp reads the mail server, its TLS mode and the credentials of the failure emails.
func (f *finalizer) smtp(s *raw.SMTP) SMTP {
	var m SMTP
	m.TLS = f.Enum(s.TLS, "starttls", "starttls", "implicit", "none")
	if s.Host == nil {
		f.Missing(s.At, "host")
	} else {
		m.Host = strings.TrimSpace(s.Host.V)
	}
	switch m.TLS {
	case "implicit":
		m.Port = 465
	case "none":
		m.Port = 25
	default:
		m.Port = 587
	}
	if s.Port != nil {
		if s.Port.V < 1 || s.Port.V > 65535 {
			f.Errorf(s.Port.Pos, "must be from 1 to 65535, got %d", s.Port.V)
		}
		m.Port = s.Port.V
	}
	var userKey *raw.Val[string]
	switch {
	case s.Username != nil && s.UsernameEnv != nil:
		f.Errorf(s.UsernameEnv.Pos, "username and usernameEnv are mutually exclusive; use one")
	case s.Username != nil:
		userKey = s.Username
		m.Username = s.Username.V
	case s.UsernameEnv != nil:
		userKey = s.UsernameEnv
		if v, ok := f.Env(strings.TrimSpace(s.UsernameEnv.V)); ok && v != "" {
			m.Username = v
		} else {
			f.Errorf(s.UsernameEnv.Pos, "environment variable %s is not set", strings.TrimSpace(s.UsernameEnv.V))
		}
	}
	m.Auth = f.Enum(s.Auth, "password", "password", "xoauth2")
	m.Password = f.Read(s.At, s.PasswordEnv, s.PasswordFile, "passwordEnv", "passwordFile", false)
	switch {
	case m.Auth == "xoauth2":
		if userKey == nil {
			f.Errorf(s.Auth.Pos, "xoauth2 needs username (the mailbox that sends, which the source app may send as)")
		}
		if s.PasswordEnv != nil || s.PasswordFile != nil {
			f.Errorf(s.Auth.Pos, "xoauth2 takes no password: the token comes from the source credential")
		}
	case userKey != nil && s.PasswordEnv == nil && s.PasswordFile == nil:
		f.Errorf(userKey.Pos, "a username needs passwordEnv or passwordFile")
	case s.Username == nil && s.UsernameEnv == nil && (s.PasswordEnv != nil || s.PasswordFile != nil):
		p := s.At.Pos()
		p.Path = raw.Join(s.At.Path, "username")
		f.Errorf(p, "a password needs username or usernameEnv")
	}
	return m
}
