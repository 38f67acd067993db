package config

// The raw* structs mirror the file. Every optional field is a pointer, nil when the key is absent or
// null, so that finalize can tell "not written" (apply the default) from a written zero value.

type rawConfig struct {
	at                      field
	Name                    *val[string]
	Source                  *rawSource
	Target                  *rawTarget
	Scope                   *val[string]
	Actions                 *rawActions
	SkipOutOfScopeDeletions *val[bool]
	DeletionThreshold       *val[int]
	Users                   *rawObject
	Groups                  *rawObject
	Schedule                *val[string]
	State                   *val[string]
	StatePasswordEnv        *val[string]
	StatePasswordFile       *val[string]
	Logging                 *rawLogging
	Notify                  *rawNotify
	Metrics                 *rawMetrics
}

type rawSource struct {
	at                                                              field
	TenantID, ClientID                                              *val[string]
	Credential                                                      *rawCredential
	Cloud, GraphEndpoint, AuthorityHost, CAFile, ServicePrincipalID *val[string]
}

type rawCredential struct {
	at                                                         field
	Type, SecretEnv, SecretFile, CertificateFile               *val[string]
	CertificatePasswordEnv, CertificatePasswordFile, TokenFile *val[string]
}

type rawTarget struct {
	at                               field
	URL, TokenEnv, TokenFile, CAFile *val[string]
	Timeout                          *val[string]
	Concurrency, MaxConcurrency      *val[int]
	RequestsPerSecond                *val[float64]
	Compatibility                    *val[string]
	Bulk                             *val[bool]
	Auth                             *rawAuth
}

type rawAuth struct {
	at                                                      field
	Type, TokenEnv, TokenFile, TokenURL, AuthorizeURL       *val[string]
	ClientID, ClientSecretEnv, ClientSecretFile, ClientAuth *val[string]
	Audience, EncryptionKeyEnv, EncryptionKeyFile           *val[string]
	Scopes                                                  []*val[string]
	RedirectPort                                            *val[int]
}

type rawActions struct {
	Create, Update, Delete *val[bool]
}

type rawObject struct {
	at              field
	Enabled         *val[bool]
	Preset          *val[string]
	Mappings        []*rawMapping
	Scoping         []*rawFilter
	MemberBatchSize *val[int]
}

type rawMapping struct {
	at                                   field
	Target, Source, Constant, Expression *val[string]
	None                                 *val[bool]
	Matching                             *val[int]
	Apply, Default, Type                 *val[string]
	CaseExact, Remove                    *val[bool]
}

type rawFilter struct {
	at      field
	Title   *val[string]
	Clauses []*rawClause
	// clausesAt is where the clauses key is, for "the filter has no clauses".
	clausesAt pos
}

type rawClause struct {
	at                         field
	Attribute, Operator, Value *val[string]
}

type rawLogging struct {
	Level, Format *val[string]
}

type rawNotify struct {
	at                  field
	SMTP                *rawSMTP
	From                *val[string]
	NoSuccessAlertAfter *val[string]
	To                  []*val[string]
}

type rawSMTP struct {
	at                                                    field
	Host                                                  *val[string]
	Port                                                  *val[int]
	TLS, Username, UsernameEnv, PasswordEnv, PasswordFile *val[string]
	Auth                                                  *val[string]
}

type rawMetrics struct {
	at     field
	Listen *val[string]
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

func (d *decoder) decodeConfig(root field) *rawConfig {
	c := &rawConfig{at: root}
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
			c.Actions = &rawActions{Create: d.boolean(afs, "create"), Update: d.boolean(afs, "update"), Delete: d.boolean(afs, "delete")}
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
			c.Logging = &rawLogging{Level: d.str(lfs, "level"), Format: d.str(lfs, "format")}
		}
	}
	if f, ok := get(fs, "notify"); ok {
		c.Notify = d.decodeNotify(f)
	}
	if f, ok := fs["metrics"]; ok && f.val != nil {
		// `metrics:` with nothing under it switches metrics on with the default listener.
		c.Metrics = &rawMetrics{at: f}
		if !isNull(f.val) {
			if mfs, ok := d.fields(f, metricsKeys, nil); ok {
				c.Metrics.Listen = d.str(mfs, "listen")
			}
		}
	}
	return c
}

func (d *decoder) decodeSource(f field) *rawSource {
	s := &rawSource{at: f}
	fs, ok := d.fields(f, sourceKeys, map[string]string{
		"clientSecret": "inline secrets are not accepted; use credential.secretEnv or credential.secretFile",
	})
	if !ok {
		return s
	}
	s.TenantID = d.str(fs, "tenantId")
	s.ClientID = d.str(fs, "clientId")
	if cf, ok := get(fs, "credential"); ok {
		c := &rawCredential{at: cf}
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

func (d *decoder) decodeTarget(f field) *rawTarget {
	t := &rawTarget{at: f}
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

func (d *decoder) decodeAuth(f field) *rawAuth {
	a := &rawAuth{at: f}
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
			if isNull(it.val) {
				d.errorf(it.pos(), "expected a scope, got nothing")
				continue
			}
			if v := d.scalarString(it); v != nil {
				a.Scopes = append(a.Scopes, v)
			}
		}
	}
	return a
}

func (d *decoder) decodeObject(f field, groups bool) *rawObject {
	o := &rawObject{at: f}
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
		o.Mappings = []*rawMapping{}
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

func (d *decoder) decodeMapping(f field) *rawMapping {
	fs, ok := d.fields(f, mappingKeys, nil)
	if !ok {
		return nil
	}
	return &rawMapping{
		at:         f,
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

func (d *decoder) decodeFilter(f field) *rawFilter {
	fs, ok := d.fields(f, filterKeys, nil)
	if !ok {
		return nil
	}
	sf := &rawFilter{at: f, Title: d.str(fs, "title"), clausesAt: f.pos()}
	if cf, ok := fs["clauses"]; ok {
		sf.clausesAt = cf.pos()
	}
	if items, ok := d.list(fs, "clauses", false); ok {
		for _, it := range items {
			cfs, ok := d.fields(it, clauseKeys, nil)
			if !ok {
				continue
			}
			sf.Clauses = append(sf.Clauses, &rawClause{
				at:        it,
				Attribute: d.str(cfs, "attribute"),
				Operator:  d.str(cfs, "operator"),
				Value:     d.str(cfs, "value"),
			})
		}
	}
	return sf
}

func (d *decoder) decodeNotify(f field) *rawNotify {
	n := &rawNotify{at: f}
	fs, ok := d.fields(f, notifyKeys, nil)
	if !ok {
		return n
	}
	if sf, ok := get(fs, "smtp"); ok {
		s := &rawSMTP{at: sf}
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
			if isNull(it.val) {
				d.errorf(it.pos(), "expected an email address, got nothing")
				continue
			}
			if v := d.scalarString(it); v != nil {
				n.To = append(n.To, v)
			}
		}
	}
	return n
}
