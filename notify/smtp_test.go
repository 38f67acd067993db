package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/scimsync/scimsync/emulator/scimserver"
)

// sink is an in-process SMTP server (go-smtp) on 127.0.0.1 that stores what it receives and can be
// told to demand authentication or to reject at DATA, as Alertmanager's email tests do.
type sink struct {
	// user and pass, when set, are the only accepted credentials; mechs are the AUTH mechanisms offered.
	user, pass string
	mechs      []string
	rejectData bool

	mu   sync.Mutex
	msgs []received
	host string
	port int
}

type received struct {
	from   string
	to     []string
	data   []byte
	tls    bool
	authed string
}

type sinkMode int

const (
	modePlain sinkMode = iota
	modeStartTLS
	modeImplicit
)

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{sink: s, tls: isTLS}, nil
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

type session struct {
	sink   *sink
	tls    bool
	authed string
	cur    received
}

func (s *session) AuthMechanisms() []string { return s.sink.mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.sink.user || pass != s.sink.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "XOAUTH2":
		return &xoauth2Server{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.sink.user != "" && s.authed == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = received{from: from, tls: s.tls, authed: s.authed}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.sink.rejectData {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message rejected as spam"}
	}
	s.cur.data = data
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, s.cur)
	s.sink.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl does not provide.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(resp) > 0 { // initial response carries the username
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, errors.New("unexpected response")
}

// xoauth2Server is the relay side of XOAUTH2: one initial response "user=U\x01auth=Bearer T\x01\x01",
// checked as user U with password T.
type xoauth2Server struct {
	check func(user, pass string) error
}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	var user, tok string
	for _, kv := range strings.Split(string(resp), "\x01") {
		switch {
		case strings.HasPrefix(kv, "user="):
			user = strings.TrimPrefix(kv, "user=")
		case strings.HasPrefix(kv, "auth=Bearer "):
			tok = strings.TrimPrefix(kv, "auth=Bearer ")
		}
	}
	return nil, true, x.check(user, tok)
}

// testCA is a self-signed certificate for 127.0.0.1, made once per test binary.
var testCA = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "scimsync test relay"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
})

func testPool(t *testing.T) *x509.CertPool {
	t.Helper()
	cert, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AddCert(cert.Leaf)
	return p
}

// start runs s on 127.0.0.1:0 until the test ends.
func (s *sink) start(t *testing.T, mode sinkMode) *sink {
	t.Helper()
	srv := smtp.NewServer(s)
	srv.Domain = "relay.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	var l net.Listener
	var err error
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case modePlain:
		srv.AllowInsecureAuth = true // loopback: the client sends credentials in clear to 127.0.0.1 only
	case modeStartTLS, modeImplicit:
		cert, err := testCA()
		if err != nil {
			t.Fatal(err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if mode == modeImplicit {
			l = tls.NewListener(l, srv.TLSConfig)
		}
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	a := l.Addr().(*net.TCPAddr)
	s.host, s.port = "127.0.0.1", a.Port
	return s
}

func (s *sink) config(tlsMode string) SMTPConfig {
	return SMTPConfig{
		Host: s.host, Port: s.port, TLS: tlsMode,
		From: "scimsync <scimsync@example.com>", To: []string{"idm-team@example.com", "Ops <ops@example.com>"},
		Timeout: 5 * time.Second,
	}
}

func newMailer(t *testing.T, c SMTPConfig) *Mailer {
	t.Helper()
	m, err := NewMailer(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// goldenMessage is the escrow quarantine email: twelve failures with long lines exercise
// quoted-printable soft line breaks.
func goldenMessage(t *testing.T) (Message, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "quarantine_escrow.golden"))
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(data), "\n\n")
	if !ok || !strings.HasPrefix(head, "Subject: ") {
		t.Fatal("malformed golden file")
	}
	return Message{Subject: strings.TrimPrefix(head, "Subject: "), Body: body}, body
}

// checkDelivered parses the one stored message and compares it with msg.
func checkDelivered(t *testing.T, s *sink, msg Message, wantTLS bool) received {
	t.Helper()
	got := s.messages()
	if len(got) != 1 {
		t.Fatalf("sink holds %d messages, want 1", len(got))
	}
	r := got[0]
	if r.tls != wantTLS {
		t.Errorf("delivered over TLS = %v, want %v", r.tls, wantTLS)
	}
	if r.from != "scimsync@example.com" {
		t.Errorf("MAIL FROM %q", r.from)
	}
	if strings.Join(r.to, ",") != "idm-team@example.com,ops@example.com" {
		t.Errorf("RCPT TO %q", r.to)
	}
	if bytes.Contains(bytes.ReplaceAll(r.data, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("message has a bare LF")
	}
	m, err := mail.ReadMessage(bytes.NewReader(r.data))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	h := m.Header
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != msg.Subject {
		t.Errorf("Subject %q (%v), want %q", subject, err, msg.Subject)
	}
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Address != "scimsync@example.com" || from.Name != "scimsync" {
		t.Errorf("From %q: %v", h.Get("From"), err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 2 || to[1].Name != "Ops" {
		t.Errorf("To %q: %v", h.Get("To"), err)
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	for k, want := range map[string]string{
		"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable", "Auto-Submitted": "auto-generated",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
	raw, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 76 {
			t.Errorf("encoded line longer than 76: %q", line)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != msg.Body {
		t.Errorf("decoded body differs\n--- got\n%s\n--- want\n%s", got, msg.Body)
	}
	return r
}

func TestSendPlainLoopback(t *testing.T) {
	s := (&sink{}).start(t, modePlain)
	msg, _ := goldenMessage(t)
	if err := newMailer(t, s.config(TLSNone)).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, s, msg, false)
}

func TestSendNonASCIISubject(t *testing.T) {
	s := (&sink{}).start(t, modePlain)
	msg := Message{Subject: "[scimsync] göng: provisioning quarantined (Unknown)", Body: "Grüße, José\n"}
	if err := newMailer(t, s.config(TLSNone)).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, s, msg, false)
}

func TestSendStartTLS(t *testing.T) {
	s := (&sink{}).start(t, modeStartTLS)
	msg, _ := goldenMessage(t)
	c := s.config(TLSStartTLS)
	c.RootCAs = testPool(t)
	if err := newMailer(t, c).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, s, msg, true)
}

func TestSendStartTLSUntrustedCertificate(t *testing.T) {
	s := (&sink{}).start(t, modeStartTLS)
	msg, _ := goldenMessage(t)
	err := newMailer(t, s.config(TLSStartTLS)).Send(context.Background(), msg) // system roots
	var uerr x509.UnknownAuthorityError
	t.Logf("error: %v", err)
	if !errors.As(err, &uerr) {
		t.Fatalf("want an unknown-authority error, got %v", err)
	}
	if len(s.messages()) != 0 {
		t.Fatal("message delivered over an unverified connection")
	}
}

func TestSendStartTLSNotOffered(t *testing.T) {
	s := (&sink{}).start(t, modePlain)
	msg, _ := goldenMessage(t)
	err := newMailer(t, s.config(TLSStartTLS)).Send(context.Background(), msg)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("want a STARTTLS error, got %v", err)
	}
	if len(s.messages()) != 0 {
		t.Fatal("message delivered in clear text although starttls was configured")
	}
}

func TestSendImplicitTLS(t *testing.T) {
	s := (&sink{}).start(t, modeImplicit)
	msg, _ := goldenMessage(t)
	c := s.config(TLSImplicit)
	c.RootCAs = testPool(t)
	if err := newMailer(t, c).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, s, msg, true)
}

const testPassword = "s3cret-Pa55word"

func TestSendAuth(t *testing.T) {
	cases := []struct {
		name  string
		mode  sinkMode
		tls   string
		mechs []string
	}{
		{"plain over starttls", modeStartTLS, TLSStartTLS, []string{sasl.Plain, sasl.Login}},
		{"plain over implicit tls", modeImplicit, TLSImplicit, []string{sasl.Plain}},
		{"plain to loopback without tls", modePlain, TLSNone, []string{sasl.Plain}},
		{"login only (Microsoft 365)", modeStartTLS, TLSStartTLS, []string{sasl.Login}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := (&sink{user: "scimsync", pass: testPassword, mechs: c.mechs}).start(t, c.mode)
			msg, _ := goldenMessage(t)
			cfg := s.config(c.tls)
			cfg.RootCAs = testPool(t)
			cfg.Username, cfg.Password = "scimsync", testPassword
			if err := newMailer(t, cfg).Send(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			if r := checkDelivered(t, s, msg, c.mode != modePlain); r.authed != "scimsync" {
				t.Errorf("authenticated as %q", r.authed)
			}
		})
	}
}

func TestSendAuthRejected(t *testing.T) {
	for _, mech := range []string{sasl.Plain, sasl.Login} {
		t.Run(mech, func(t *testing.T) {
			s := (&sink{user: "scimsync", pass: "another-password", mechs: []string{mech}}).start(t, modeStartTLS)
			msg, _ := goldenMessage(t)
			cfg := s.config(TLSStartTLS)
			cfg.RootCAs = testPool(t)
			cfg.Username, cfg.Password = "scimsync", testPassword
			err := newMailer(t, cfg).Send(context.Background(), msg)
			t.Logf("error: %v", err)
			if err == nil || !strings.Contains(err.Error(), "535") {
				t.Fatalf("want a 535 error, got %v", err)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Fatalf("error leaks the password: %v", err)
			}
			if len(s.messages()) != 0 {
				t.Fatal("message delivered without authentication")
			}
		})
	}
}

func TestSendRejectedAtData(t *testing.T) {
	s := (&sink{rejectData: true}).start(t, modePlain)
	msg, _ := goldenMessage(t)
	err := newMailer(t, s.config(TLSNone)).Send(context.Background(), msg)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "554") || !strings.Contains(err.Error(), "DATA") {
		t.Fatalf("want a 554 error at DATA, got %v", err)
	}
}

func TestSendServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	msg, _ := goldenMessage(t)
	m := newMailer(t, SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "a@example.com", To: []string{"b@example.com"}})
	start := time.Now()
	err = m.Send(context.Background(), msg)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("want a connection error, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v to notice a refused connection", d)
	}
}

// silentServer accepts connections and never speaks, like a relay behind a black-holing firewall.
func silentServer(t *testing.T) int {
	t.Helper()
	addr, _ := scimserver.Silent(t)
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestSendContextTimeout(t *testing.T) {
	port := silentServer(t)
	msg, _ := goldenMessage(t)
	m := newMailer(t, SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "a@example.com", To: []string{"b@example.com"}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Send(ctx, msg)
	t.Logf("error: %v", err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want DeadlineExceeded, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Send took %v after a 200ms deadline", d)
	}
}

func TestSendContextCancelled(t *testing.T) {
	port := silentServer(t)
	msg, _ := goldenMessage(t)
	m := newMailer(t, SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "a@example.com", To: []string{"b@example.com"}})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := m.Send(ctx, msg)
	t.Logf("error: %v", err)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want Canceled, got %v", err)
	}
}

func TestSendConfigTimeout(t *testing.T) {
	port := silentServer(t)
	msg, _ := goldenMessage(t)
	m := newMailer(t, SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSImplicit, From: "a@example.com",
		To: []string{"b@example.com"}, Timeout: 200 * time.Millisecond})
	start := time.Now()
	if err := m.Send(context.Background(), msg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want DeadlineExceeded, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Send took %v with a 200ms timeout", d)
	}
}

func TestNewMailerValidates(t *testing.T) {
	ok := SMTPConfig{Host: "smtp.example.com", Port: 587, From: "scimsync@example.com", To: []string{"a@example.com"}}
	cases := []struct {
		name string
		edit func(*SMTPConfig)
		want string // empty: valid
	}{
		{"valid", func(*SMTPConfig) {}, ""},
		{"empty tls means starttls", func(c *SMTPConfig) { c.TLS = "" }, ""},
		{"no host", func(c *SMTPConfig) { c.Host = "" }, "invalid host"},
		{"port 0", func(c *SMTPConfig) { c.Port = 0 }, "port"},
		{"port 65536", func(c *SMTPConfig) { c.Port = 65536 }, "port"},
		{"bad tls", func(c *SMTPConfig) { c.TLS = "ssl" }, "tls must be"},
		{"bad from", func(c *SMTPConfig) { c.From = "not an address" }, "from address"},
		{"no recipients", func(c *SMTPConfig) { c.To = nil }, "no recipients"},
		{"bad recipient", func(c *SMTPConfig) { c.To = []string{"a@example.com", "nope"} }, "recipient"},
		{"password without user", func(c *SMTPConfig) { c.Password = testPassword }, "needs a username"},
		{"clear-text auth to a remote relay", func(c *SMTPConfig) {
			c.TLS, c.Username, c.Password = TLSNone, "u", testPassword
		}, "clear text"},
		{"clear-text auth to loopback", func(c *SMTPConfig) {
			c.Host, c.TLS, c.Username, c.Password = "127.0.0.1", TLSNone, "u", testPassword
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			_, err := NewMailer(cfg, nil)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			case err != nil && strings.Contains(err.Error(), testPassword):
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

type staticToken struct {
	tok   string
	err   error
	calls int
}

func (s *staticToken) Token(context.Context) (string, error) {
	s.calls++
	return s.tok, s.err
}

func TestSendXOAUTH2(t *testing.T) {
	const token = "eyJ0eXAiOiJKV1QiLCJhbGciOi.test-access-token"
	for _, mode := range []sinkMode{modeStartTLS, modeImplicit} {
		s := (&sink{user: "alerts@contoso.example", pass: token, mechs: []string{"XOAUTH2", sasl.Login}}).start(t, mode)
		msg, _ := goldenMessage(t)
		tlsMode := TLSStartTLS
		if mode == modeImplicit {
			tlsMode = TLSImplicit
		}
		cfg := s.config(tlsMode)
		cfg.RootCAs = testPool(t)
		src := &staticToken{tok: token}
		cfg.Username, cfg.Auth, cfg.Tokens = "alerts@contoso.example", AuthXOAUTH2, src
		if err := newMailer(t, cfg).Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		if r := checkDelivered(t, s, msg, true); r.authed != "alerts@contoso.example" {
			t.Errorf("authenticated as %q", r.authed)
		}
		if src.calls != 1 {
			t.Errorf("token asked %d times, want 1", src.calls)
		}
	}
}

func TestSendXOAUTH2Failures(t *testing.T) {
	tokenErr := errors.New("AADSTS7000215: invalid client secret")
	cases := []struct {
		name  string
		mechs []string
		src   *staticToken
		want  func(error) bool
	}{
		{"token refused by the relay", []string{"XOAUTH2"}, &staticToken{tok: "wrong"},
			func(err error) bool { return strings.Contains(err.Error(), "535") }},
		{"no token", []string{"XOAUTH2"}, &staticToken{err: tokenErr},
			func(err error) bool { return errors.Is(err, tokenErr) }},
		{"relay without XOAUTH2", []string{sasl.Plain}, &staticToken{tok: "t"},
			func(err error) bool { return strings.Contains(err.Error(), "not XOAUTH2") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := (&sink{user: "alerts@contoso.example", pass: "right", mechs: c.mechs}).start(t, modeStartTLS)
			msg, _ := goldenMessage(t)
			cfg := s.config(TLSStartTLS)
			cfg.RootCAs = testPool(t)
			cfg.Username, cfg.Auth, cfg.Tokens = "alerts@contoso.example", AuthXOAUTH2, c.src
			err := newMailer(t, cfg).Send(context.Background(), msg)
			t.Logf("error: %v", err)
			if err == nil || !c.want(err) {
				t.Fatalf("unexpected error %v", err)
			}
			if len(s.messages()) != 0 {
				t.Fatal("message delivered without authentication")
			}
		})
	}
}

func TestNewMailerXOAUTH2NeedsTokens(t *testing.T) {
	_, err := NewMailer(SMTPConfig{Host: "smtp.office365.com", Port: 587, Username: "a@b.example", Auth: AuthXOAUTH2,
		From: "a@b.example", To: []string{"c@b.example"}}, nil)
	if err == nil {
		t.Fatal("xoauth2 without a token source accepted")
	}
	_, err = NewMailer(SMTPConfig{Host: "smtp.office365.com", Port: 587, Auth: "cram-md5",
		From: "a@b.example", To: []string{"c@b.example"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "cram-md5") {
		t.Fatalf("unknown auth: %v", err)
	}
}
