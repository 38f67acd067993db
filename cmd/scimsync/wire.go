package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/graph"
	"github.com/scimsync/scimsync/logctx"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/targetauth"
)

// job is one configured provisioning job with its live parts.
type job struct {
	// leaseLost is the open state's takeover signal (a PostgreSQL lease); nil for a state file.
	leaseLost <-chan struct{}

	cfg    *config.Config
	log    *zap.Logger
	reader *graph.Reader
	target *scimclient.Client
	// grant is the target's authorization code token source, nil for other auth types; it refreshes
	// through the state file the cycle has open.
	grant    *targetauth.AuthorizationCode
	alerter  engine.Alerter
	progress engine.Progress
	// dryRun makes the engine plan without sending or recording anything.
	dryRun bool
}

// loadConfig loads the configuration and turns its errors into exit code 2.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return cfg, nil
}

// loadConfigOffline loads the configuration without reading its secrets, for the commands that only
// read the state file: an admin can run them without the service's environment.
func loadConfigOffline(path string) (*config.Config, error) {
	cfg, err := config.LoadOffline(path)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return cfg, nil
}

// loadConfigAndLogger loads the --config file and builds the logger it asks for: every command that
// talks to Graph or the target starts this way.
func loadConfigAndLogger(cmd *cobra.Command) (*config.Config, *zap.Logger, error) {
	cfg, err := loadConfig(configPath(cmd))
	if err != nil {
		return nil, nil, err
	}
	log, err := newLogger(logFlags(cmd, cfg.Logging.Level, cfg.Logging.Format))
	if err != nil {
		return nil, nil, withCode(exitConfig, err)
	}
	return cfg, log, nil
}

// jobFromFlags loads the --config file and wires its job: the start of every command that sends
// requests.
func jobFromFlags(cmd *cobra.Command, progress engine.Progress) (*job, error) {
	cfg, log, err := loadConfigAndLogger(cmd)
	if err != nil {
		return nil, err
	}
	return openJob(cfg, log, progress)
}

// httpClientWithCA returns an HTTP client that trusts the system roots plus the PEM bundle in caFile.
func httpClientWithCA(caFile string, timeout time.Duration, conns int) (*http.Client, error) {
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

// newReader builds the Graph reader from the source configuration.
func newReader(cfg *config.Config, log *zap.Logger) (*graph.Reader, error) {
	hc, cred, err := sourceCredential(cfg)
	if err != nil {
		return nil, err
	}
	hc.Transport = uaTransport{ua: currentBuild().userAgent(), next: hc.Transport}
	return graph.New(graph.Options{GraphURL: cfg.Source.GraphEndpoint, Credential: cred, HTTPClient: hc, Logger: log})
}

// sourceCredential builds the app credential of the source: Graph reads with it, and XOAUTH2 failure
// emails get their Exchange Online token from it.
func sourceCredential(cfg *config.Config) (*http.Client, azcore.TokenCredential, error) {
	src := cfg.Source
	hc, err := httpClientWithCA(src.CAFile, 0, 4)
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

// newTarget builds the SCIM client from the target configuration, and the authorization code token
// source when target.auth uses one.
func newTarget(cfg *config.Config, log *zap.Logger) (*scimclient.Client, *targetauth.AuthorizationCode, error) {
	t := cfg.Target
	hc, err := httpClientWithCA(t.CAFile, t.Timeout, max(t.Concurrency, t.MaxConcurrency))
	if err != nil {
		return nil, nil, fmt.Errorf("target.caFile: %w", err)
	}
	hc.Transport = gatedTransport{gate: gateOf(cfg.Name), next: hc.Transport} // replicas.go
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
		UserAgent: currentBuild().userAgent(),
	})
	return c, grant, err
}

// openJob wires a job: Graph, the target, the failure emails. The state file is opened per cycle
// (job.withState), so `scimsync status`, `logs` and a manual `sync` can use it between the daemon's
// cycles.
func openJob(cfg *config.Config, log *zap.Logger, progress engine.Progress) (*job, error) {
	j := &job{cfg: cfg, log: log, progress: progress}
	var err error
	if j.reader, err = newReader(cfg, log); err != nil {
		return nil, withCode(exitConfig, err)
	}
	if j.target, j.grant, err = newTarget(cfg, log); err != nil {
		return nil, withCode(exitConfig, err)
	}
	if cfg.Notify != nil {
		n, err := newNotifier(cfg, log)
		if err != nil {
			return nil, err
		}
		j.alerter = n
	}
	return j, nil
}

// openState opens the job's state (its bbolt file, or its rows in the PostgreSQL database), turning a
// lock or a lease held by another scimsync into exit code 3.
func openState(cfg *config.Config, readOnly bool) (store.State, error) {
	var st store.State
	var err error
	if cfg.StateDatabase != nil {
		st, err = openDatabaseState(cfg, readOnly)
	} else {
		st, err = store.Open(cfg.StatePath, store.Options{ReadOnly: readOnly})
	}
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, withCode(exitAborted, fmt.Errorf("%w (a cycle is running; try again when it ends)", err))
		}
		if errors.Is(err, fs.ErrNotExist) && readOnly {
			return nil, withCode(exitAborted, fmt.Errorf("no state yet at %s: no cycle has run", cfg.StatePath))
		}
		return nil, withCode(exitAborted, fmt.Errorf("open state: %w", err))
	}
	return st, nil
}

// withEngine opens the state, builds the engine and runs fn; the state is closed afterwards. Every
// cycle (and provision, allow-deletes) starts here, so this is where the SCIM client's circuit breaker
// is closed again: a target that was unreachable in the last cycle gets a fresh chance in this one.
func (j *job) withEngine(fn func(*engine.Engine) error) error {
	st, err := openState(j.cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	defer bindGrant(j.grant, j.cfg, st)()
	j.leaseLost = nil
	if l, ok := st.(interface{ LeaseLost() <-chan struct{} }); ok {
		j.leaseLost = l.LeaseLost()
	}
	j.target.ResetBreaker()
	stored, err := j.seedDialect(st)
	if err != nil {
		return err
	}
	var alerter engine.Alerter
	if j.alerter != nil {
		alerter = oneCause{next: j.alerter, log: j.log}
	}
	o := engineOptions(j.cfg, j.log, j.progress, alerter)
	o.DryRun = j.dryRun
	// The client's compatibility mode and learned dialect stay behind its users and groups.
	users, groups := j.target.Users(), j.target.Groups()
	if j.cfg.Target.Bulk {
		// Used only when the target's ServiceProviderConfig offers Bulk (docs/scim.md#bulk).
		users, groups = users.WithBulk(), groups.WithBulk()
	}
	tgt := engine.Target{Users: users, Groups: groups}
	err = fn(engine.New(j.reader, tgt, st, o))
	if derr := j.keepDialect(st, stored); derr != nil {
		// The lesson is learned again next time; the cycle's own outcome matters more.
		j.log.Error("could not record the target's dialect", zap.Error(derr))
	}
	return err
}

// seedDialect gives the client what earlier cycles learned about this target (see
// scimclient.Dialect), so a restarted process sends the accepted shapes at once. A dialect learned
// from another target URL is dropped: it says nothing about this one. It returns the stored dialect
// that still applies, nil when none.
func (j *job) seedDialect(st store.State) (*store.TargetDialect, error) {
	d, err := st.TargetDialect()
	if err != nil {
		return nil, withCode(exitAborted, err)
	}
	if d == nil {
		return nil, nil
	}
	if d.TargetURL != j.target.BaseURL() {
		if j.dryRun {
			return nil, nil
		}
		j.log.Info("the target URL changed; forgetting the dialect learned from the previous one",
			zap.String("previous", d.TargetURL), zap.String("dialect", scimclient.Dialect{ElementAdds: d.ElementAdds}.String()))
		if err := st.ClearTargetDialect(); err != nil {
			return nil, withCode(exitAborted, err)
		}
		return nil, nil
	}
	j.target.SetDialect(scimclient.Dialect{ElementAdds: d.ElementAdds})
	return d, nil
}

// keepDialect records a dialect the client learned during the cycle, so it outlives the process.
func (j *job) keepDialect(st store.State, stored *store.TargetDialect) error {
	d := j.target.Dialect()
	if j.dryRun || !d.ElementAdds || (stored != nil && stored.ElementAdds) {
		return nil
	}
	return st.SetTargetDialect(store.TargetDialect{TargetURL: j.target.BaseURL(), ElementAdds: true, LearnedAt: time.Now().UTC()})
}

func engineOptions(cfg *config.Config, log *zap.Logger, progress engine.Progress, alerter engine.Alerter) engine.Options {
	o := engine.Options{
		Users:              cfg.Users.Table,
		UserScoping:        cfg.Users.Scoping,
		MemberBatchSize:    cfg.Groups.MemberBatchSize,
		Scope:              cfg.Scope,
		ServicePrincipalID: cfg.Source.ServicePrincipalID,
		Policy: plan.Policy{
			Create: cfg.Actions.Create, Update: cfg.Actions.Update, Delete: cfg.Actions.Delete,
			SkipOutOfScopeDeletions: cfg.SkipOutOfScopeDeletions,
		},
		Concurrency:       max(cfg.Target.Concurrency, cfg.Target.MaxConcurrency), // adaptive: the client limits
		Fingerprint:       cfg.Fingerprint(),
		DeletionThreshold: cfg.DeletionThreshold,
		Env:               &mapping.Env{},
		Logger:            log,
		Progress:          progress,
		Job:               cfg.Name,
		StatePath:         cfg.StatePath,
		ConfigPath:        cfg.File,
	}
	if alerter != nil {
		o.Alerter = alerter
	}
	if cfg.Groups.Enabled {
		o.Groups, o.GroupScoping = cfg.Groups.Table, cfg.Groups.Scoping
	}
	return o
}

// run runs one cycle through the engine's quarantine-aware Run and logs its summary.
func (j *job) run(ctx context.Context, ro engine.RunOptions) (res *engine.Result, err error) {
	defer func() { j.watchHealth(ctx, res, err) }()
	err = j.withEngine(func(e *engine.Engine) error {
		cctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		if lost := j.leaseLost; lost != nil {
			go func() {
				select {
				case <-lost:
					j.log.Error("another replica took this job's lease over; stopping the cycle")
					cancel(errLeaseLost)
				case <-cctx.Done():
				}
			}()
		}
		var err error
		res, err = e.Run(cctx, ro)
		if cause := context.Cause(cctx); errors.Is(cause, store.ErrLeaseLost) {
			return withCode(exitAborted, cause)
		}
		return err
	})
	log := j.log
	if res != nil && res.Report != nil && res.Report.CycleID != "" {
		// The outcome's lines and the health emails sent after it (the deferred watchHealth reads ctx)
		// belong to the cycle.
		log = log.With(zap.String("cycle", res.Report.CycleID))
		ctx = logctx.With(ctx, zap.String("cycle", res.Report.CycleID))
	}
	if res == nil || !res.Ran {
		if res != nil {
			log.Info("cycle skipped", zap.String("why", res.Why))
		}
		if msg, ok := damagedMessage(err, j.cfg.File); ok {
			log.Error("no cycle can run: "+msg, zap.Error(err))
			j.alertDamaged(ctx, err)
		}
		return res, err
	}
	if err != nil {
		if msg, ok := damagedMessage(err, j.cfg.File); ok {
			log.Error("cycle failed: "+msg, zap.Error(err))
		} else {
			log.Error("cycle failed", zap.Error(err))
		}
		j.alertDamaged(ctx, err)
	}
	if rep := res.Report; rep != nil && rep.Finished.After(rep.Started) {
		log.Info("cycle finished",
			zap.String("cycleKind", rep.Kind), zap.Int("read", rep.Read), zap.Int("created", rep.Created),
			zap.Int("matched", rep.Adopted), zap.Int("updated", rep.Updated), zap.Int("disabled", rep.Disabled),
			zap.Int("deleted", rep.Deleted), zap.Int("unchanged", rep.Unchanged), zap.Int("skipped", rep.Skipped),
			zap.Int("groupsCreated", rep.Groups.Created), zap.Int("groupsDeleted", rep.Groups.Deleted),
			zap.Int("membersAdded", rep.MembersAdded), zap.Int("membersRemoved", rep.MembersRemoved),
			zap.Int("staged", rep.Staged), zap.Int("failed", rep.TotalFailed()), zap.Duration("took", rep.Finished.Sub(rep.Started)))
	}
	return res, err
}

// cycle runs one manual cycle and returns its report: the demo's and the tests' entry point.
func (j *job) cycle(ctx context.Context, initial bool) (*engine.Report, error) {
	res, err := j.run(ctx, engine.RunOptions{Initial: initial, Manual: true})
	if res == nil || res.Report == nil {
		if err == nil {
			err = fmt.Errorf("the cycle did not run")
		}
		return &engine.Report{}, err
	}
	return res.Report, err
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

// newNotifier builds the failure-email notifier of cfg.Notify, which must be set.
func newNotifier(cfg *config.Config, log *zap.Logger) (*notify.Notifier, error) {
	n := cfg.Notify
	sc := notify.SMTPConfig{Host: n.SMTP.Host, Port: n.SMTP.Port, TLS: n.SMTP.TLS, Username: n.SMTP.Username,
		Password: n.SMTP.Password.Reveal(), From: n.From, To: n.To, Auth: n.SMTP.Auth}
	if sc.Auth == notify.AuthXOAUTH2 {
		_, cred, err := sourceCredential(cfg)
		if err != nil {
			return nil, withCode(exitConfig, fmt.Errorf("notify: %w", err))
		}
		sc.Tokens = exchangeTokens{cred}
	}
	m, err := notify.NewMailer(sc, log)
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("notify: %w", err))
	}
	return notify.NewNotifier(m, log), nil
}
