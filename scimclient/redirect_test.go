package scimclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scimsync/scimsync/scimclient"
)

// TestRedirectNotFollowed: a target answering 3xx must not make the client send anything to the
// Location, for any method, and the answer is a compliance failure (the tenant URL is wrong).
func TestRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		w.Header().Set("Content-Type", "application/scim+json")
		fmt.Fprint(w, `{"id":"x","schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}`)
	}))
	defer other.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		var here atomic.Int64
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			here.Add(1)
			http.Redirect(w, r, other.URL+r.URL.Path+"?sig=s3cret-signature", status)
		}))
		calls := map[string]func(c *scimclient.Client) error{
			"POST": func(c *scimclient.Client) error {
				_, err := c.CreateUser(context.Background(), gongUser("r@x"))
				return err
			},
			"PATCH": func(c *scimclient.Client) error {
				return c.PatchUser(context.Background(), "u1", scimclient.UserPatch(0, []scimclient.Change{{Path: "title", Value: "t"}}))
			},
			"GET": func(c *scimclient.Client) error {
				_, err := c.GetUser(context.Background(), "u1")
				return err
			},
			"DELETE": func(c *scimclient.Client) error { return c.DeleteUser(context.Background(), "u1") },
			"list": func(c *scimclient.Client) error {
				return c.ListUsers(context.Background(), 10, func(scimclient.Resource) error { return nil })
			},
			"test-connection": func(c *scimclient.Client) error { return c.TestConnection(context.Background(), "") },
		}
		for name, call := range calls {
			t.Run(fmt.Sprintf("%d %s", status, name), func(t *testing.T) {
				before := here.Load()
				// The caller's own http.Client follows redirects by default; the SCIM client must not.
				c, err := scimclient.New(scimclient.Options{BaseURL: target.URL + "/scim", Token: token, HTTPClient: &http.Client{}})
				if err != nil {
					t.Fatal(err)
				}
				err = call(c)
				if !errors.Is(err, scimclient.ErrCompliance) {
					t.Fatalf("err = %v, want ErrCompliance", err)
				}
				var se *scimclient.Error
				if !errors.As(err, &se) || se.Status != status {
					t.Fatalf("err = %#v, want status %d", err, status)
				}
				if msg := err.Error(); !strings.Contains(msg, "redirect to "+other.URL) || strings.Contains(msg, "s3cret") || strings.Contains(msg, token) {
					t.Fatalf("message %q must name the Location without its query or the token", msg)
				}
				if n := here.Load() - before; n != 1 {
					t.Fatalf("target got %d requests, want 1 (a 3xx is not retried)", n)
				}
				if n := elsewhere.Load(); n != 0 {
					t.Fatalf("the redirect's host got %d requests", n)
				}
			})
		}
		target.Close()
	}
}
