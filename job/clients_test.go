package job

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUserAgentTransport: scimsync's product comes first, the SDK's follows, and the caller's request
// is not modified.
func TestUserAgentTransport(t *testing.T) {
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got <- r.Header.Get("User-Agent") }))
	defer srv.Close()
	c := &http.Client{Transport: uaTransport{ua: "scimsync/1.4.0", next: http.DefaultTransport}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("User-Agent", "kiota-go/1.5.4")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ua := <-got; ua != "scimsync/1.4.0 kiota-go/1.5.4" {
		t.Errorf("User-Agent %q", ua)
	}
	if req.Header.Get("User-Agent") != "kiota-go/1.5.4" {
		t.Error("the caller's request was modified")
	}
	req2, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req2.Header.Del("User-Agent")
	if resp, err = c.Do(req2); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ua := <-got; ua != "scimsync/1.4.0" {
		t.Errorf("User-Agent without a previous one: %q", ua)
	}
}
