package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/logctx"
)

// TLS modes of SMTPConfig.TLS, matching the config package's notify.smtp.tls values.
const (
	// TLSStartTLS upgrades a plain connection (port 587) and refuses relays that do not offer it,
	// so that a man in the middle cannot strip encryption and read the password.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "implicit"
	// TLSNone sends in clear text (port 25), for a relay on the same machine or network.
	TLSNone = "none"
)

// Authentication mechanisms of SMTPConfig.Auth, matching the config package's notify.smtp.auth values.
const (
	AuthPassword = "password"
	AuthXOAUTH2  = "xoauth2"
)

// TokenSource gives an OAuth 2.0 access token for the relay (XOAUTH2). It is declared here, where it
// is used; scimsync passes an azidentity credential.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// DefaultTimeout bounds one email, connection to QUIT, so that a relay that hangs cannot stall a
// provisioning cycle for long.
const DefaultTimeout = 30 * time.Second

// SMTPConfig is the relay for failure emails; the CLI fills it from the configuration's notify block.
type SMTPConfig struct {
	// Host is the relay's DNS name or IP; it is also the name checked in the relay's certificate.
	Host string
	// Port is 1..65535; config defaults it from TLS (587, 465, 25).
	Port int
	// TLS is "starttls" (the default when empty), "implicit" or "none".
	TLS string
	// Username enables AUTH (PLAIN, or LOGIN for relays such as Microsoft 365 that offer only that);
	// empty means the relay takes no authentication.
	Username string
	// Password is never logged nor put in an error.
	Password string
	// Auth is AuthPassword (the default when empty: PLAIN or LOGIN, whichever the relay offers) or
	// AuthXOAUTH2 (an OAuth access token from Tokens, for Microsoft 365, which is retiring basic
	// SMTP AUTH).
	Auth string
	// Tokens supplies the access token for AuthXOAUTH2; it is asked once per email, so it should cache.
	Tokens TokenSource
	// From is the envelope and header sender, an RFC 5322 address ("scimsync <scim@example.com>").
	From string
	// To are the recipients; at least one.
	To []string
	// Timeout bounds one email; zero means DefaultTimeout.
	Timeout time.Duration
	// RootCAs verify the relay's certificate; nil means the system pool. Tests pass their own CA.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate. It exists for relays with broken certificates and
	// is never a default: it lets anyone on the path read the password.
	InsecureSkipVerify bool
}

// Message is one email's content; Mailer adds the headers that depend on the relay and the clock.
type Message struct {
	// Subject is one line; line breaks are removed and non-ASCII text is encoded (RFC 2047).
	Subject string
	// Body is plain text with "\n" line endings.
	Body string
}

// Mailer sends Messages to one SMTP relay. It holds no connection between emails: failure emails are
// rare, and a fresh connection cannot go stale.
type Mailer struct {
	cfg      SMTPConfig
	from     *mail.Address
	to       []*mail.Address
	timeout  time.Duration
	helo     string
	log      *zap.Logger
	tlsConf  *tls.Config
	loopback bool
}

// NewMailer validates c so that a bad address or port fails at start-up, not at the first
// quarantine weeks later. log may be nil.
func NewMailer(c SMTPConfig, log *zap.Logger) (*Mailer, error) {
	if log == nil {
		log = zap.NewNop()
	}
	c.Host = strings.TrimSpace(c.Host)
	c.TLS = strings.ToLower(strings.TrimSpace(c.TLS))
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	switch {
	case c.Host == "" || strings.ContainsAny(c.Host, " \t\r\n/"):
		return nil, fmt.Errorf("smtp: invalid host %q", c.Host)
	case c.Port < 1 || c.Port > 65535:
		return nil, fmt.Errorf("smtp: port must be from 1 to 65535, got %d", c.Port)
	case c.TLS != TLSStartTLS && c.TLS != TLSImplicit && c.TLS != TLSNone:
		return nil, fmt.Errorf("smtp: tls must be starttls, implicit or none, got %q", c.TLS)
	case c.Auth != "" && c.Auth != AuthPassword && c.Auth != AuthXOAUTH2:
		return nil, fmt.Errorf("smtp: auth must be password or xoauth2, got %q", c.Auth)
	case c.Auth == AuthXOAUTH2 && (c.Username == "" || c.Tokens == nil):
		return nil, errors.New("smtp: xoauth2 needs a username (the sending mailbox) and a token source")
	case c.Password != "" && c.Username == "":
		return nil, errors.New("smtp: a password needs a username")
	case strings.ContainsAny(c.Username, "\x00\r\n"):
		return nil, errors.New("smtp: invalid username")
	}
	m := &Mailer{cfg: c, log: log, timeout: c.Timeout, loopback: isLoopback(c.Host)}
	if m.timeout <= 0 {
		m.timeout = DefaultTimeout
	}
	if c.Username != "" && c.TLS == TLSNone && !m.loopback {
		return nil, fmt.Errorf("smtp: refusing to send the password for %q in clear text to %s; use tls: starttls or implicit", c.Username, c.Host)
	}
	var err error
	if m.from, err = mail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("smtp: invalid from address %q: %w", c.From, err)
	}
	if len(c.To) == 0 {
		return nil, errors.New("smtp: no recipients")
	}
	for _, t := range c.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("smtp: invalid recipient address %q: %w", t, err)
		}
		m.to = append(m.to, a)
	}
	m.tlsConf = &tls.Config{
		ServerName:         c.Host,
		RootCAs:            c.RootCAs,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // opt-in only, documented on the field
	}
	m.helo = heloName()
	return m, nil
}

// Send builds an RFC 5322 message from msg and delivers it to every recipient. It returns when the relay
// accepted the message at the end of DATA, or with an error (which never contains the password) when
// any step failed or ctx or the timeout ended first.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	raw, err := m.build(msg, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	if err := m.deliver(ctx, addr, raw); err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return m.redact(fmt.Errorf("send email via %s: %w", addr, err))
	}
	logctx.Logger(ctx, m.log).Debug("email sent", zap.String("relay", addr), zap.Int("recipients", len(m.to)), zap.String("subject", msg.Subject))
	return nil
}

func (m *Mailer) deliver(ctx context.Context, addr string, raw []byte) (err error) {
	var conn net.Conn
	nd := &net.Dialer{}
	if m.cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: nd, Config: m.tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	// The SMTP client's own timeouts are per command; when ctx ends (deadline or cancel) the
	// connection's deadline moves into the past so that a blocked read or write returns at once.
	// ctx.Err() is set by then, so Send reports context.DeadlineExceeded rather than a bare i/o timeout.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var c *smtp.Client
	if m.cfg.TLS == TLSStartTLS {
		// go-smtp upgrades only in its constructor, which greets as "localhost" before TLS; the
		// real name follows in the EHLO after the upgrade, which is the one relays act on.
		if c, err = smtp.NewClientStartTLS(conn, m.tlsConf); err != nil {
			return fmt.Errorf("STARTTLS failed (if the relay does not offer STARTTLS, set tls: implicit or none): %w", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if err := c.Hello(m.helo); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if m.cfg.Username != "" {
		if err := m.auth(ctx, c); err != nil {
			return err
		}
	}
	if err := c.Mail(m.from.Address, nil); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, t := range m.to {
		if err := c.Rcpt(t.Address, nil); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", t.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The relay has accepted the message; a failed QUIT changes nothing for the recipients.
	if err := c.Quit(); err != nil {
		logctx.Logger(ctx, m.log).Debug("smtp QUIT failed after the message was accepted", zap.Error(err))
	}
	return nil
}

// auth logs in with the configured mechanism. A password or token never crosses an unencrypted
// connection unless the relay is on this machine.
func (m *Mailer) auth(ctx context.Context, c *smtp.Client) error {
	if _, isTLS := c.TLSConnectionState(); !isTLS && !m.loopback {
		return fmt.Errorf("AUTH as %q: %w", m.cfg.Username, errCleartextAuth)
	}
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return fmt.Errorf("AUTH as %q: the relay does not offer authentication", m.cfg.Username)
	}
	fields := strings.Fields(strings.ToUpper(mechs))
	var a sasl.Client
	switch {
	case m.cfg.Auth == AuthXOAUTH2:
		if !contains(fields, "XOAUTH2") {
			return fmt.Errorf("AUTH as %q: the relay offers %q, not XOAUTH2", m.cfg.Username, mechs)
		}
		tok, err := m.cfg.Tokens.Token(ctx)
		if err != nil {
			return fmt.Errorf("AUTH as %q: get an OAuth token for the relay: %w", m.cfg.Username, err)
		}
		a = &xoauth2Client{user: m.cfg.Username, token: tok}
	case contains(fields, "PLAIN"):
		a = sasl.NewPlainClient("", m.cfg.Username, m.cfg.Password)
	case contains(fields, "LOGIN"):
		a = sasl.NewLoginClient(m.cfg.Username, m.cfg.Password)
	default:
		return fmt.Errorf("AUTH as %q: the relay offers %q, scimsync speaks PLAIN, LOGIN and XOAUTH2", m.cfg.Username, mechs)
	}
	if err := c.Auth(a); err != nil {
		return fmt.Errorf("AUTH as %q: %w", m.cfg.Username, err)
	}
	return nil
}

// redact keeps the password out of an error even if a relay echoed it back.
func (m *Mailer) redact(err error) error {
	if len(m.cfg.Password) < 3 || !strings.Contains(err.Error(), m.cfg.Password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), m.cfg.Password, "[redacted]"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// build renders the RFC 5322 message: a single text/plain part in UTF-8, quoted-printable so that long
// lines and non-ASCII names survive 7-bit relays.
func (m *Mailer) build(msg Message, now time.Time) ([]byte, error) {
	id, err := m.messageID(now)
	if err != nil {
		return nil, err
	}
	to := make([]string, len(m.to))
	for i, a := range m.to {
		to[i] = a.String()
	}
	subject := oneLine(msg.Subject, 998)
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", id)
	header("From", m.from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: tells vacation responders and ticket systems not to answer.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(msg.Body)); err != nil {
		return nil, fmt.Errorf("encode email body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode email body: %w", err)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// messageID is unique per email and uses the sender's domain, as RFC 5322 recommends, so that relays
// that score spam do not penalise it.
func (m *Mailer) messageID(now time.Time) (string, error) {
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	domain := "scimsync.invalid"
	if i := strings.LastIndexByte(m.from.Address, '@'); i >= 0 && i+1 < len(m.from.Address) {
		domain = m.from.Address[i+1:]
	}
	return fmt.Sprintf("<%s.%s@%s>", strconv.FormatInt(now.UnixNano(), 36), hex.EncodeToString(r[:]), domain), nil
}

// heloName is this machine's name for EHLO; some relays reject "localhost".
func heloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \t\r\n") {
		return "localhost"
	}
	return h
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// errCleartextAuth stops a password from crossing the network unencrypted, for example when a relay
// has no STARTTLS and tls is none.
var errCleartextAuth = errors.New("refusing to send the password over an unencrypted connection")

// xoauth2Client is SASL XOAUTH2, the mechanism Microsoft 365 and Gmail take an OAuth 2.0 access
// token with (https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth).
// go-sasl has OAUTHBEARER (RFC 7628) but not this older form, which Microsoft 365 requires.
type xoauth2Client struct {
	user, token string
}

func (a *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + a.user + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

// Next answers a failure challenge (a JSON error description) with an empty response, as the
// mechanism requires; the relay then sends the final error.
func (a *xoauth2Client) Next(_ []byte) ([]byte, error) { return []byte{}, nil }
