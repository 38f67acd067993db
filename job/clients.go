package job

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/graph"
	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/targetauth"
)

// HTTPClient returns an HTTP client that trusts the system roots plus the PEM bundle in caFile.
func HTTPClient(caFile string, timeout time.Duration, conns int) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if conns > 0 {
		tr.MaxIdleConnsPerHost = conns
		tr.MaxConnsPerHost = 0
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// NewReader builds the Graph reader from the source configuration; ua is the User-Agent of its requests.
func NewReader(cfg *config.Config, log *zap.Logger, ua string) (*graph.Reader, error) {
	hc, cred, err := sourceCredential(cfg)
	if err != nil {
		return nil, err
	}
	hc.Transport = uaTransport{ua: ua, next: hc.Transport}
	return graph.New(graph.Options{GraphURL: cfg.Source.GraphEndpoint, Credential: cred, HTTPClient: hc, Logger: log})
}

// sourceCredential builds the app credential of the source: Graph reads with it, and XOAUTH2 failure
// emails get their Exchange Online token from it.
func sourceCredential(cfg *config.Config) (*http.Client, azcore.TokenCredential, error) {
	src := cfg.Source
	hc, err := HTTPClient(src.CAFile, 0, 4)
	if err != nil {
		return nil, nil, fmt.Errorf("source.caFile: %w", err)
	}
	cred, err := graph.NewCredential(graph.CredentialOptions{
		Type:                src.Credential.Type,
		TenantID:            src.TenantID,
		ClientID:            src.ClientID,
		ClientSecret:        src.Credential.Secret.Reveal(),
		Certificate:         src.Credential.Certificate,
		CertificatePassword: src.Credential.CertificatePassword.Reveal(),
		TokenFile:           src.Credential.TokenFile,
		Cloud:               src.Cloud,
		AuthorityHost:       src.AuthorityHost,
		HTTPClient:          hc,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("graph credential: %w", err)
	}
	return hc, cred, nil
}

// NewTarget builds the SCIM client from the target configuration, and the authorization code token
// source when target.auth uses one; ua is the User-Agent of its requests.
func NewTarget(cfg *config.Config, log *zap.Logger, ua string) (*scimclient.Client, *targetauth.AuthorizationCode, error) {
	t := cfg.Target
	hc, err := HTTPClient(t.CAFile, t.Timeout, max(t.Concurrency, t.MaxConcurrency))
	if err != nil {
		return nil, nil, fmt.Errorf("target.caFile: %w", err)
	}
	hc.Transport = GatedTransport(cfg.Name, hc.Transport)
	tokens, grant := targetTokens(cfg, hc)
	mode := scimclient.ModeDefault
	switch t.Compatibility {
	case config.CompatibilityAADOptSCIM062020:
		mode = scimclient.ModeAADOptSCIM062020
	case config.CompatibilityStrict:
		mode = scimclient.ModeStrict
	}
	c, err := scimclient.New(scimclient.Options{
		BaseURL: t.URL, Tokens: tokens, HTTPClient: hc, Timeout: t.Timeout,
		Concurrency: t.Concurrency, MaxConcurrency: t.MaxConcurrency, RequestsPerSecond: t.RequestsPerSecond,
		Mode: mode, Logger: log,
		UserAgent: ua,
	})
	return c, grant, err
}

// exchangeTokens gets an Exchange Online token for SMTP XOAUTH2 with the source's app credential; the
// app needs the SMTP.SendAsApp permission and a mailbox permission for notify.smtp.username
// (https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth).
// azidentity caches the token.
type exchangeTokens struct{ cred azcore.TokenCredential }

func (x exchangeTokens) Token(ctx context.Context) (string, error) {
	t, err := x.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://outlook.office365.com/.default"}})
	if err != nil {
		return "", err
	}
	return t.Token, nil
}

// NewNotifier builds the failure-email notifier of cfg.Notify, which must be set.
func NewNotifier(cfg *config.Config, log *zap.Logger) (*notify.Notifier, error) {
	n := cfg.Notify
	sc := notify.SMTPConfig{Host: n.SMTP.Host, Port: n.SMTP.Port, TLS: n.SMTP.TLS, Username: n.SMTP.Username,
		Password: n.SMTP.Password.Reveal(), From: n.From, To: n.To, Auth: n.SMTP.Auth}
	if sc.Auth == notify.AuthXOAUTH2 {
		_, cred, err := sourceCredential(cfg)
		if err != nil {
			return nil, configError(fmt.Errorf("notify: %w", err))
		}
		sc.Tokens = exchangeTokens{cred}
	}
	m, err := notify.NewMailer(sc, log)
	if err != nil {
		return nil, configError(fmt.Errorf("notify: %w", err))
	}
	return notify.NewNotifier(m, log), nil
}

// uaTransport puts scimsync's User-Agent first on Graph requests; the SDK's own product tokens follow.
type uaTransport struct {
	ua   string
	next http.RoundTripper
}

func (t uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if cur := r.Header.Get("User-Agent"); cur != "" && !strings.HasPrefix(cur, t.ua) {
		r.Header.Set("User-Agent", t.ua+" "+cur)
	} else {
		r.Header.Set("User-Agent", t.ua)
	}
	return t.next.RoundTrip(r)
}
