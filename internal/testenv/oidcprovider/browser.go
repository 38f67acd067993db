//go:build linux || darwin

package oidcprovider

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input([^>]*)>`)
	attrRE  = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// Consent does what an admin does in a browser with the URL `scimsync authorize` prints: it follows
// the provider's redirects, signs in on the development login page (any login works), approves the
// consent page, and stops at the loopback redirect to http://127.0.0.1:PORT/callback, which it returns
// without requesting it. Deliver requests it, as the browser would.
func Consent(ctx context.Context, authURL string) (redirect string, err error) {
	jar, _ := cookiejar.New(nil)
	var found string
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/callback" && strings.HasPrefix(req.URL.Host, "127.0.0.1:") && req.URL.Scheme == "http" {
			found = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return "", err
	}
	for step := 0; step < 8; step++ {
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if found != "" {
			return found, nil
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("oidcprovider: %s answered %d: %s", resp.Request.URL.Path, resp.StatusCode, body)
		}
		m := formRE.FindSubmatch(body)
		if m == nil {
			return "", fmt.Errorf("oidcprovider: no form on %s: %s", resp.Request.URL.Path, body)
		}
		action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
		if err != nil {
			return "", err
		}
		form := url.Values{}
		for _, in := range inputRE.FindAllSubmatch(m[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRE.FindAllSubmatch(in[1], -1) {
				attrs[string(a[1])] = html.UnescapeString(string(a[2]))
			}
			switch attrs["name"] {
			case "":
			case "login":
				form.Set("login", "admin@example.com")
			case "password":
				form.Set("password", "any")
			default:
				form.Set(attrs["name"], attrs["value"])
			}
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return "", errors.New("oidcprovider: the provider did not redirect to the loopback callback within 8 steps")
}

// Deliver requests the redirect URL, as the browser does after consent, and returns the status and
// page that scimsync's listener answered.
func Deliver(ctx context.Context, redirect string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, redirect, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
