package targetauth

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrAuthorize matches every failure of the authorization code flow (a refused consent, a wrong state,
// no refresh token in the answer), so the CLI can give one exit code and a clear message.
var ErrAuthorize = errors.New("authorization failed")

// AuthorizeOptions configure one run of the authorization code flow.
type AuthorizeOptions struct {
	Client Client
	// Port is the loopback port of the redirect URI http://127.0.0.1:Port/callback (RFC 8252 §7.3); 0
	// picks a free one, for providers that accept any loopback port.
	Port int
	// Paste: do not listen; the admin opens the URL on any machine and pastes back the URL the browser
	// was redirected to (which fails to load there), for headless servers.
	Paste bool
	// Out receives the instructions and the URL to open; In is read in Paste mode.
	Out io.Writer
	In  io.Reader
}

// RedirectURI is the loopback redirect URI for port: the one to register at the provider.
func RedirectURI(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/callback"
}

// Authorize runs the authorization code flow with PKCE (S256) and state, and returns the refresh
// token; the verifier is fresh for each run (RFC 7636). The access token that comes with it is dropped: the daemon gets its own at its first refresh.
// ctx bounds the whole flow, the admin's visit to the provider included.
func Authorize(ctx context.Context, o AuthorizeOptions) (refreshToken string, err error) {
	var ln net.Listener
	port := o.Port
	if !o.Paste {
		// Listen first: a busy port fails before the admin has signed in, and port 0 (any free port,
		// for providers that ignore the loopback port as RFC 8252 §7.3 asks) becomes a real one.
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)))
		if err != nil {
			return "", fmt.Errorf("%w: cannot listen on 127.0.0.1:%d for the redirect (use --no-browser, or set target.auth.redirectPort to a free port registered at the provider): %w",
				ErrAuthorize, o.Port, err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
	}
	redirect := RedirectURI(port)
	cfg := o.Client.oauth2Config(redirect)
	verifier := oauth2.GenerateVerifier()
	state, err := randomToken()
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return "", err
	}
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))

	var code string
	if o.Paste {
		fmt.Fprintf(o.Out, "Open this URL in a browser on any machine and sign in as an admin of the app:\n\n  %s\n\n", authURL)
		fmt.Fprintf(o.Out, "The browser then goes to %s, which fails to load there; that is expected.\n", redirect)
		fmt.Fprintf(o.Out, "Paste that whole URL from the address bar here and press Enter:\n")
		code, err = readPasted(ctx, o.In, redirect, state)
	} else {
		fmt.Fprintf(o.Out, "Open this URL in a browser on this machine and sign in as an admin of the app:\n\n  %s\n\n", authURL)
		fmt.Fprintf(o.Out, "Waiting for the redirect to %s ...\n", redirect)
		code, err = serve(ctx, ln, state)
	}
	if err != nil {
		return "", err
	}
	tok, err := cfg.Exchange(withClient(ctx, o.Client.HTTPClient), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("%w: redeem the authorization code: %w", ErrAuthorize, classify(err))
	}
	if tok.RefreshToken == "" {
		return "", fmt.Errorf("%w: the provider issued no refresh token, so scimsync could not renew access; "+
			"check the provider's documentation for the scope that grants offline access (often offline_access) "+
			"and that the client may use the refresh_token grant", ErrAuthorize)
	}
	return tok.RefreshToken, nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// result is what the redirect carried: a code, or the provider's error.
type result struct {
	code string
	err  error
}

// fromRedirect checks a redirect's query: the state must be ours (RFC 6749 §10.12), then either a code
// or an error (RFC 6749 §4.1.2.1).
func fromRedirect(q url.Values, state string) result {
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return result{err: fmt.Errorf("%w: the redirect's state does not match this run (an old or forged redirect); run scimsync authorize again", ErrAuthorize)}
	}
	if e := q.Get("error"); e != "" {
		msg := oneLine(e, 100)
		if d := q.Get("error_description"); d != "" {
			msg += ": " + oneLine(d, 300)
		}
		return result{err: fmt.Errorf("%w: the provider answered %s", ErrAuthorize, msg)}
	}
	if q.Get("code") == "" {
		return result{err: fmt.Errorf("%w: the redirect carries neither a code nor an error", ErrAuthorize)}
	}
	return result{code: q.Get("code")}
}

func readPasted(ctx context.Context, in io.Reader, redirect, state string) (string, error) {
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(in)
		s.Buffer(make([]byte, 0, 64<<10), 64<<10)
		if s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var line string
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrAuthorize, ctx.Err())
	case l, ok := <-lines:
		if !ok {
			return "", fmt.Errorf("%w: no URL was pasted", ErrAuthorize)
		}
		line = strings.TrimSpace(l)
	}
	u, err := url.Parse(line)
	if err != nil || !strings.HasPrefix(line, redirect) {
		return "", fmt.Errorf("%w: the pasted text is not a URL starting with %s", ErrAuthorize, redirect)
	}
	r := fromRedirect(u.Query(), state)
	return r.code, r.err
}

// serve answers the loopback redirect on ln (127.0.0.1 only: RFC 8252 §8.3) until the first request
// to /callback, and shows the browser a page saying what happened.
func serve(ctx context.Context, ln net.Listener, state string) (string, error) {
	got := make(chan result, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		res := fromRedirect(r.URL.Query(), state)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if res.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<!doctype html><title>scimsync</title><p>scimsync was not authorized: %s</p>", html.EscapeString(res.err.Error()))
		} else {
			fmt.Fprint(w, "<!doctype html><title>scimsync</title><p>scimsync received the authorization. You can close this window.</p>")
		}
		select {
		case got <- res:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("%w: no redirect arrived: %w", ErrAuthorize, ctx.Err())
	case r := <-got:
		return r.code, r.err
	}
}
