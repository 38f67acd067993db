package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.yaml.in/yaml/v3"
)

// secretValues are every secret the fixtures load, including the certificate's private key.
func secretValues(c *Config) []string {
	out := []string{}
	for _, s := range []Secret{c.Source.Credential.Secret, c.Source.Credential.CertificatePassword, c.Target.Token} {
		if s.IsSet() {
			out = append(out, s.Reveal())
		}
	}
	if c.Notify != nil && c.Notify.SMTP.Password.IsSet() {
		out = append(out, c.Notify.SMTP.Password.Reveal())
	}
	if len(c.Source.Credential.Certificate) > 0 {
		out = append(out, "PRIVATE KEY", fmt.Sprintf("%x", c.Source.Credential.Certificate[:16]))
	}
	return out
}

func TestSecretsNeverRendered(t *testing.T) {
	for _, file := range []string{"testdata/example.yml", "testdata/full.yml"} {
		c := mustParseFile(t, file)
		secrets := secretValues(c)
		if len(secrets) < 3 {
			t.Fatalf("%s: expected several secrets, got %d", file, len(secrets))
		}
		var renders []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
			renders = append(renders,
				fmt.Sprintf(verb, c), fmt.Sprintf(verb, *c), fmt.Sprintf(verb, c.Source), fmt.Sprintf(verb, c.Source.Credential),
				fmt.Sprintf(verb, c.Target), fmt.Sprintf(verb, c.Target.Token), fmt.Sprintf(verb, c.Notify))
		}
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		renders = append(renders, string(j))
		y, err := yaml.Marshal(c.Target)
		if err != nil {
			t.Fatal(err)
		}
		renders = append(renders, string(y))

		var zbuf bytes.Buffer
		for _, enc := range []zapcore.Encoder{
			zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
			zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		} {
			log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&zbuf), zapcore.DebugLevel))
			log.Info("loaded", zap.Any("config", c), zap.Any("token", c.Target.Token), zap.Stringer("secret", c.Source.Credential.Secret),
				zap.Reflect("target", c.Target), zap.Any("credential", c.Source.Credential), zap.Any("notify", c.Notify))
			log.Sugar().Infow("sugar", "config", c, "token", c.Target.Token)
		}
		renders = append(renders, zbuf.String())

		var sbuf bytes.Buffer
		sl := slog.New(slog.NewJSONHandler(&sbuf, nil))
		sl.Info("loaded", "token", c.Target.Token, "target", c.Target, "config", c)
		sl = slog.New(slog.NewTextHandler(&sbuf, nil))
		sl.Info("loaded", "token", c.Target.Token, "credential", c.Source.Credential)
		renders = append(renders, sbuf.String())

		for i, r := range renders {
			for _, s := range secrets {
				if strings.Contains(r, s) {
					t.Errorf("%s: rendering %d leaks %q:\n%s", file, i, s, r)
				}
			}
		}
		if !strings.Contains(zbuf.String(), redacted) || !strings.Contains(string(j), redacted) {
			t.Errorf("%s: redaction marker missing", file)
		}
	}
}

func TestSecret(t *testing.T) {
	var zero Secret
	if zero.IsSet() || zero.Reveal() != "" || zero.String() != redacted {
		t.Errorf("zero Secret: %v %q", zero.IsSet(), zero.Reveal())
	}
	s := NewSecret("hunter2")
	if !s.IsSet() || s.Reveal() != "hunter2" {
		t.Errorf("Reveal = %q", s.Reveal())
	}
	type wrapper struct {
		hidden Secret // unexported: fmt cannot call its methods
	}
	if out := fmt.Sprintf("%+v %v", wrapper{s}, []Secret{s}); strings.Contains(out, "hunter2") {
		t.Errorf("leak through an unexported field: %s", out)
	}
}

func TestSecretFileTrimming(t *testing.T) {
	c := mustParseFile(t, "testdata/full.yml")
	if got := c.Target.Token.Reveal(); got != "target-token-from-file" {
		t.Errorf("token = %q", got)
	}
	if got := c.Notify.SMTP.Password.Reveal(); got != "smtp-pass" {
		t.Errorf("CRLF-terminated password = %q", got)
	}
}

func TestSecretErrorsNameNoValue(t *testing.T) {
	env := map[string]string{"SCIMSYNC_GRAPH_SECRET": "", "SCIMSYNC_TARGET_TOKEN": "tok-VALUE"}
	_, err := Parse([]byte(minimalHead+"users: {preset: gong}\n"), "test.yml", lookup(env))
	want := "test.yml:5:36: source.credential.secretEnv: environment variable SCIMSYNC_GRAPH_SECRET is empty"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "tok-VALUE") {
		t.Error("error leaks a secret")
	}
}

// TestSecretControlCharacters: a token with CR, LF, NUL or another control character would be sent in
// the Authorization header and fail every request the same way, so loading rejects it and names the
// key and where the value came from, never the value. A file may end with exactly one "\n" or "\r\n".
func TestSecretControlCharacters(t *testing.T) {
	head := authHead
	tests := []struct {
		name, file, env string
		want            string // the token loaded, or the error when wantErr
		wantErr         bool
	}{
		{"file, no newline", "s3k-r1t", "", "s3k-r1t", false},
		{"file, one LF trimmed", "s3k-r1t\n", "", "s3k-r1t", false},
		{"file, one CRLF trimmed", "s3k-r1t\r\n", "", "s3k-r1t", false},
		{"file, two LF", "s3k-r1t\n\n", "", "test.yml:10:3: target.tokenFile: the secret file /etc/scimsync/token contains a line feed (LF); a secret is one line without control characters (one trailing newline is trimmed)", true},
		{"file, CR only", "s3k-r1t\r", "", "test.yml:10:3: target.tokenFile: the secret file /etc/scimsync/token contains a carriage return (CR); a secret is one line without control characters (one trailing newline is trimmed)", true},
		{"file, LF inside", "s3k\nen\n", "", "contains a line feed (LF)", true},
		{"file, NUL", "s3k\x00en", "", "contains a NUL byte", true},
		{"file, tab", "s3k\ten", "", "contains a control character (U+0009)", true},
		{"file, DEL", "s3k\x7fen", "", "contains a control character (U+007F)", true},
		{"file, only a newline", "\n", "", "the secret file /etc/scimsync/token is empty", true},
		{"env, plain", "", "s3k-r1t", "s3k-r1t", false},
		{"env, trailing LF", "", "s3k-r1t\n", "test.yml:10:3: target.tokenEnv: environment variable TARGET_TOKEN contains a line feed (LF); a secret is one line without control characters", true},
		{"env, CR inside", "", "s3k\ren", "contains a carriage return (CR)", true},
		{"env, escape", "", "s3k\x1ben", "contains a control character (U+001B)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := head + "  tokenFile: /etc/scimsync/token\n"
			if tt.env != "" {
				text = head + "  tokenEnv: TARGET_TOKEN\n"
			}
			env := lookup(map[string]string{"SCIMSYNC_GRAPH_SECRET": "graph-secret", "TARGET_TOKEN": tt.env})
			read := func(p string) ([]byte, error) {
				if p != "/etc/scimsync/token" {
					return nil, fmt.Errorf("unexpected read of %s", p)
				}
				return []byte(tt.file), nil
			}
			c, err := parse([]byte(text), "test.yml", env, read)
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Target.Token.Reveal(); got != tt.want {
					t.Fatalf("s3ken %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3k") && !strings.Contains(tt.want, "s3k") {
				t.Fatalf("the secret leaked into %q", err)
			}
		})
	}
}
