package scimserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/scimclient"
)

// seed10k fills a server with 10,000 Gong users, the size the benchmarks and the demo work with.
func seed10k(b *testing.B) *Server {
	s := New(Options{})
	for i := 0; i < 10000; i++ {
		u := scimclient.BuildUser(map[string]any{
			"userName": fmt.Sprintf("user%05d@contoso.com", i), "active": true,
			`emails[type eq "work"].value`: fmt.Sprintf("user%05d@contoso.com", i),
			"name.givenName":               "G", "name.familyName": "F",
		})
		if err := s.Seed(u); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkServerFilter measures lookups in-process (no network), by index and by full scan.
func BenchmarkServerFilter(b *testing.B) {
	s := seed10k(b)
	for name, f := range map[string]string{
		"userName-indexed": `userName eq "user05000@contoso.com"`,
		"email-scan":       `emails[type eq "work" and value eq "user05000@contoso.com"]`,
	} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/scim/v2/Users?filter="+url.QueryEscape(f), nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code != 200 || !strings.Contains(w.Body.String(), `"totalResults":1`) {
					b.Fatalf("%d %s", w.Code, w.Body.String())
				}
			}
		})
	}
}

// BenchmarkServerPatch measures one PATCH of a user among 10,000, in-process.
func BenchmarkServerPatch(b *testing.B) {
	s := seed10k(b)
	id := s.Users()[5000]["id"].(string)
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"title","value":"AE"},{"op":"Replace","path":"active","value":"False"}]}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPatch, "/scim/v2/Users/"+id, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/scim+json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Body.String())
		}
	}
}
