package targetauth

import (
	"context"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Client is an OAuth 2.0 client registration at the provider.
type Client struct {
	TokenURL     string
	AuthorizeURL string
	ClientID     string
	// ClientSecret is empty for a public client (authorization code with PKCE only).
	ClientSecret string
	// PostSecret sends the secret in the form body (client_secret_post) instead of HTTP Basic
	// authentication (client_secret_basic, RFC 6749 §2.3.1's default).
	PostSecret bool
	Scopes     []string
	// Audience is sent as the audience parameter of a client credentials request.
	Audience string
	// HTTPClient talks to the token endpoint; nil means http.DefaultClient.
	HTTPClient *http.Client
}

func (c Client) authStyle() oauth2.AuthStyle {
	if c.PostSecret || c.ClientSecret == "" {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// ClientCredentials is a token source for the client credentials grant (RFC 6749 §4.4): the token is
// cached until it nearly expires and fetched again after a 401.
type ClientCredentials struct {
	*cache
}

type ccGrant struct {
	cfg clientcredentials.Config
	hc  *http.Client
}

// NewClientCredentials builds the source; nothing is requested until the first Token.
func NewClientCredentials(c Client) *ClientCredentials {
	g := &ccGrant{hc: c.HTTPClient, cfg: clientcredentials.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: c.TokenURL, Scopes: c.Scopes,
		AuthStyle: c.authStyle(),
	}}
	if c.Audience != "" {
		g.cfg.EndpointParams = url.Values{"audience": {c.Audience}}
	}
	return &ClientCredentials{cache: newCache(g)}
}

func (g *ccGrant) fetch(ctx context.Context) (*oauth2.Token, error) {
	tok, err := g.cfg.Token(withClient(ctx, g.hc))
	if err != nil {
		return nil, classify(err)
	}
	return tok, nil
}
