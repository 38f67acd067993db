package raw

// These structs mirror the file. Every optional field is a pointer, nil when the key is absent or
// null, so that finalize can tell "not written" (apply the default) from a written zero value.

type Config struct {
	At                      Field
	Name                    *Val[string]
	Source                  *Source
	Target                  *Target
	Scope                   *Val[string]
	Actions                 *Actions
	SkipOutOfScopeDeletions *Val[bool]
	DeletionThreshold       *Val[int]
	Users                   *Object
	Groups                  *Object
	Schedule                *Val[string]
	State                   *Val[string]
	StatePasswordEnv        *Val[string]
	StatePasswordFile       *Val[string]
	Logging                 *Logging
	Notify                  *Notify
	Metrics                 *Metrics
}

type Source struct {
	At                                                              Field
	TenantID, ClientID                                              *Val[string]
	Credential                                                      *Credential
	Cloud, GraphEndpoint, AuthorityHost, CAFile, ServicePrincipalID *Val[string]
}

type Credential struct {
	At                                                         Field
	Type, SecretEnv, SecretFile, CertificateFile               *Val[string]
	CertificatePasswordEnv, CertificatePasswordFile, TokenFile *Val[string]
}

type Target struct {
	At                               Field
	URL, TokenEnv, TokenFile, CAFile *Val[string]
	Timeout                          *Val[string]
	Concurrency, MaxConcurrency      *Val[int]
	RequestsPerSecond                *Val[float64]
	Compatibility                    *Val[string]
	Bulk                             *Val[bool]
	Auth                             *Auth
}

type Auth struct {
	At                                                      Field
	Type, TokenEnv, TokenFile, TokenURL, AuthorizeURL       *Val[string]
	ClientID, ClientSecretEnv, ClientSecretFile, ClientAuth *Val[string]
	Audience, EncryptionKeyEnv, EncryptionKeyFile           *Val[string]
	Scopes                                                  []*Val[string]
	RedirectPort                                            *Val[int]
}

type Actions struct {
	Create, Update, Delete *Val[bool]
}

type Object struct {
	At              Field
	Enabled         *Val[bool]
	Preset          *Val[string]
	Mappings        []*Mapping
	Scoping         []*Filter
	MemberBatchSize *Val[int]
}

type Mapping struct {
	At                                   Field
	Target, Source, Constant, Expression *Val[string]
	None                                 *Val[bool]
	Matching                             *Val[int]
	Apply, Default, Type                 *Val[string]
	CaseExact, Remove                    *Val[bool]
}

type Filter struct {
	At      Field
	Title   *Val[string]
	Clauses []*Clause
	// ClausesAt is where the clauses key is, for "the filter has no clauses".
	ClausesAt Pos
}

type Clause struct {
	At                         Field
	Attribute, Operator, Value *Val[string]
}

type Logging struct {
	Level, Format *Val[string]
}

type Notify struct {
	At                  Field
	SMTP                *SMTP
	From                *Val[string]
	NoSuccessAlertAfter *Val[string]
	To                  []*Val[string]
}

type SMTP struct {
	At                                                    Field
	Host                                                  *Val[string]
	Port                                                  *Val[int]
	TLS, Username, UsernameEnv, PasswordEnv, PasswordFile *Val[string]
	Auth                                                  *Val[string]
}

type Metrics struct {
	At     Field
	Listen *Val[string]
}

var (
	topKeys = []string{"name", "source", "target", "scope", "actions", "skipOutOfScopeDeletions",
		"deletionThreshold", "users", "groups", "schedule", "state", "statePasswordEnv", "statePasswordFile", "logging",
		"notify", "metrics"}
	topInline  = inlineSecret("statePasswordEnv or statePasswordFile", "statePassword")
	sourceKeys = []string{"tenantId", "clientId", "credential", "cloud", "graphEndpoint", "authorityHost",
		"caFile", "servicePrincipalId"}
	credentialKeys = []string{"type", "secretEnv", "secretFile", "certificateFile", "certificatePasswordEnv",
		"certificatePasswordFile", "tokenFile"}
	targetKeys = []string{"url", "tokenEnv", "tokenFile", "caFile", "timeout", "concurrency",
		"maxConcurrency", "requestsPerSecond", "compatibility", "bulk", "auth"}
	authKeys = []string{"type", "tokenEnv", "tokenFile", "tokenUrl", "authorizeUrl", "clientId", "clientSecretEnv",
		"clientSecretFile", "clientAuthMethod", "scopes", "audience", "redirectPort", "encryptionKeyEnv", "encryptionKeyFile"}
	authInline = inlineSecret("clientSecretEnv or clientSecretFile (tokens: tokenEnv or tokenFile)",
		"token", "bearerToken", "secret", "clientSecret", "refreshToken", "accessToken", "encryptionKey")
	actionKeys   = []string{"create", "update", "delete"}
	userKeys     = []string{"enabled", "preset", "mappings", "scoping"}
	groupKeys    = []string{"enabled", "preset", "mappings", "scoping", "memberBatchSize"}
	mappingKeys  = []string{"target", "source", "constant", "expression", "none", "matching", "apply", "default", "type", "caseExact", "remove"}
	filterKeys   = []string{"title", "clauses"}
	clauseKeys   = []string{"attribute", "operator", "value"}
	loggingKeys  = []string{"level", "format"}
	notifyKeys   = []string{"smtp", "from", "to", "noSuccessAlertAfter"}
	smtpKeys     = []string{"host", "port", "tls", "auth", "username", "usernameEnv", "passwordEnv", "passwordFile"}
	metricsKeys  = []string{"listen"}
	credInline   = inlineSecret("secretEnv or secretFile", "secret", "clientSecret", "password", "value", "certificatePassword")
	targetInline = inlineSecret("tokenEnv or tokenFile", "token", "bearerToken", "secretToken", "secret")
	smtpInline   = inlineSecret("passwordEnv or passwordFile", "password")
	userSpecial  = map[string]string{"memberBatchSize": "memberBatchSize applies to groups only"}
)

// inlineSecret builds the messages for keys that would put a secret in the file. Config files end up in
// repositories, backups and support tickets; secrets belong in the environment or a protected file.
func inlineSecret(use string, keys ...string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = "inline secrets are not accepted; use " + use
	}
	return m
}

func (d *Decoder) decodeConfig(root Field) *Config {
	c := &Config{At: root}
	fs, ok := d.fields(root, topKeys, topInline)
	if !ok {
		return c
	}
	c.Name = d.str(fs, "name")
	if f, ok := get(fs, "source"); ok {
		c.Source = d.decodeSource(f)
	}
	if f, ok := get(fs, "target"); ok {
		c.Target = d.decodeTarget(f)
	}
	c.Scope = d.str(fs, "scope")
	if f, ok := get(fs, "actions"); ok {
		if afs, ok := d.fields(f, actionKeys, nil); ok {
			c.Actions = &Actions{Create: d.boolean(afs, "create"), Update: d.boolean(afs, "update"), Delete: d.boolean(afs, "delete")}
		}
	}
	c.SkipOutOfScopeDeletions = d.boolean(fs, "skipOutOfScopeDeletions")
	c.DeletionThreshold = d.integer(fs, "deletionThreshold")
	if f, ok := get(fs, "users"); ok {
		c.Users = d.decodeObject(f, false)
	}
	if f, ok := get(fs, "groups"); ok {
		c.Groups = d.decodeObject(f, true)
	}
	c.Schedule = d.str(fs, "schedule")
	c.State = d.str(fs, "state")
	c.StatePasswordEnv = d.str(fs, "statePasswordEnv")
	c.StatePasswordFile = d.str(fs, "statePasswordFile")
	if f, ok := get(fs, "logging"); ok {
		if lfs, ok := d.fields(f, loggingKeys, nil); ok {
			c.Logging = &Logging{Level: d.str(lfs, "level"), Format: d.str(lfs, "format")}
		}
	}
	if f, ok := get(fs, "notify"); ok {
		c.Notify = d.decodeNotify(f)
	}
	if f, ok := fs["metrics"]; ok && f.Node != nil {
		// `metrics:` with nothing under it switches metrics on with the default listener.
		c.Metrics = &Metrics{At: f}
		if !isNull(f.Node) {
			if mfs, ok := d.fields(f, metricsKeys, nil); ok {
				c.Metrics.Listen = d.str(mfs, "listen")
			}
		}
	}
	return c
}

func (d *Decoder) decodeSource(f Field) *Source {
	s := &Source{At: f}
	fs, ok := d.fields(f, sourceKeys, map[string]string{
		"clientSecret": "inline secrets are not accepted; use credential.secretEnv or credential.secretFile",
	})
	if !ok {
		return s
	}
	s.TenantID = d.str(fs, "tenantId")
	s.ClientID = d.str(fs, "clientId")
	if cf, ok := get(fs, "credential"); ok {
		c := &Credential{At: cf}
		if cfs, ok := d.fields(cf, credentialKeys, credInline); ok {
			c.Type = d.str(cfs, "type")
			c.SecretEnv = d.str(cfs, "secretEnv")
			c.SecretFile = d.str(cfs, "secretFile")
			c.CertificateFile = d.str(cfs, "certificateFile")
			c.CertificatePasswordEnv = d.str(cfs, "certificatePasswordEnv")
			c.CertificatePasswordFile = d.str(cfs, "certificatePasswordFile")
			c.TokenFile = d.str(cfs, "tokenFile")
		}
		s.Credential = c
	}
	s.Cloud = d.str(fs, "cloud")
	s.GraphEndpoint = d.str(fs, "graphEndpoint")
	s.AuthorityHost = d.str(fs, "authorityHost")
	s.CAFile = d.str(fs, "caFile")
	s.ServicePrincipalID = d.str(fs, "servicePrincipalId")
	return s
}

func (d *Decoder) decodeTarget(f Field) *Target {
	t := &Target{At: f}
	fs, ok := d.fields(f, targetKeys, targetInline)
	if !ok {
		return t
	}
	t.URL = d.str(fs, "url")
	t.TokenEnv = d.str(fs, "tokenEnv")
	t.TokenFile = d.str(fs, "tokenFile")
	t.CAFile = d.str(fs, "caFile")
	t.Timeout = d.str(fs, "timeout")
	t.Concurrency = d.integer(fs, "concurrency")
	t.MaxConcurrency = d.integer(fs, "maxConcurrency")
	t.RequestsPerSecond = d.number(fs, "requestsPerSecond")
	t.Compatibility = d.str(fs, "compatibility")
	t.Bulk = d.boolean(fs, "bulk")
	if af, ok := get(fs, "auth"); ok {
		t.Auth = d.decodeAuth(af)
	}
	return t
}

func (d *Decoder) decodeAuth(f Field) *Auth {
	a := &Auth{At: f}
	fs, ok := d.fields(f, authKeys, authInline)
	if !ok {
		return a
	}
	a.Type = d.str(fs, "type")
	a.TokenEnv = d.str(fs, "tokenEnv")
	a.TokenFile = d.str(fs, "tokenFile")
	a.TokenURL = d.str(fs, "tokenUrl")
	a.AuthorizeURL = d.str(fs, "authorizeUrl")
	a.ClientID = d.str(fs, "clientId")
	a.ClientSecretEnv = d.str(fs, "clientSecretEnv")
	a.ClientSecretFile = d.str(fs, "clientSecretFile")
	a.ClientAuth = d.str(fs, "clientAuthMethod")
	a.Audience = d.str(fs, "audience")
	a.EncryptionKeyEnv = d.str(fs, "encryptionKeyEnv")
	a.EncryptionKeyFile = d.str(fs, "encryptionKeyFile")
	a.RedirectPort = d.integer(fs, "redirectPort")
	if items, ok := d.list(fs, "scopes", true); ok {
		for _, it := range items {
			if isNull(it.Node) {
				d.Errorf(it.Pos(), "expected a scope, got nothing")
				continue
			}
			if v := d.scalarString(it); v != nil {
				a.Scopes = append(a.Scopes, v)
			}
		}
	}
	return a
}

func (d *Decoder) decodeObject(f Field, groups bool) *Object {
	o := &Object{At: f}
	keys, special := userKeys, userSpecial
	if groups {
		keys, special = groupKeys, nil
	}
	fs, ok := d.fields(f, keys, special)
	if !ok {
		return o
	}
	o.Enabled = d.boolean(fs, "enabled")
	o.Preset = d.str(fs, "preset")
	if items, ok := d.list(fs, "mappings", false); ok {
		o.Mappings = []*Mapping{}
		for _, it := range items {
			if m := d.decodeMapping(it); m != nil {
				o.Mappings = append(o.Mappings, m)
			}
		}
	}
	if items, ok := d.list(fs, "scoping", false); ok {
		for _, it := range items {
			if sf := d.decodeFilter(it); sf != nil {
				o.Scoping = append(o.Scoping, sf)
			}
		}
	}
	if groups {
		o.MemberBatchSize = d.integer(fs, "memberBatchSize")
	}
	return o
}

func (d *Decoder) decodeMapping(f Field) *Mapping {
	fs, ok := d.fields(f, mappingKeys, nil)
	if !ok {
		return nil
	}
	return &Mapping{
		At:         f,
		Target:     d.str(fs, "target"),
		Source:     d.str(fs, "source"),
		Constant:   d.str(fs, "constant"),
		Expression: d.str(fs, "expression"),
		None:       d.boolean(fs, "none"),
		Matching:   d.integer(fs, "matching"),
		Apply:      d.str(fs, "apply"),
		Default:    d.str(fs, "default"),
		Type:       d.str(fs, "type"),
		CaseExact:  d.boolean(fs, "caseExact"),
		Remove:     d.boolean(fs, "remove"),
	}
}

func (d *Decoder) decodeFilter(f Field) *Filter {
	fs, ok := d.fields(f, filterKeys, nil)
	if !ok {
		return nil
	}
	sf := &Filter{At: f, Title: d.str(fs, "title"), ClausesAt: f.Pos()}
	if cf, ok := fs["clauses"]; ok {
		sf.ClausesAt = cf.Pos()
	}
	if items, ok := d.list(fs, "clauses", false); ok {
		for _, it := range items {
			cfs, ok := d.fields(it, clauseKeys, nil)
			if !ok {
				continue
			}
			sf.Clauses = append(sf.Clauses, &Clause{
				At:        it,
				Attribute: d.str(cfs, "attribute"),
				Operator:  d.str(cfs, "operator"),
				Value:     d.str(cfs, "value"),
			})
		}
	}
	return sf
}

func (d *Decoder) decodeNotify(f Field) *Notify {
	n := &Notify{At: f}
	fs, ok := d.fields(f, notifyKeys, nil)
	if !ok {
		return n
	}
	if sf, ok := get(fs, "smtp"); ok {
		s := &SMTP{At: sf}
		if sfs, ok := d.fields(sf, smtpKeys, smtpInline); ok {
			s.Host = d.str(sfs, "host")
			s.Port = d.integer(sfs, "port")
			s.TLS = d.str(sfs, "tls")
			s.Auth = d.str(sfs, "auth")
			s.Username = d.str(sfs, "username")
			s.UsernameEnv = d.str(sfs, "usernameEnv")
			s.PasswordEnv = d.str(sfs, "passwordEnv")
			s.PasswordFile = d.str(sfs, "passwordFile")
		}
		n.SMTP = s
	}
	n.From = d.str(fs, "from")
	n.NoSuccessAlertAfter = d.str(fs, "noSuccessAlertAfter")
	if items, ok := d.list(fs, "to", true); ok {
		for _, it := range items {
			if isNull(it.Node) {
				d.Errorf(it.Pos(), "expected an email address, got nothing")
				continue
			}
			if v := d.scalarString(it); v != nil {
				n.To = append(n.To, v)
			}
		}
	}
	return n
}
