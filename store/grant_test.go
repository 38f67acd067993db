package store

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestGrantRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	when := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"encrypted", key}} {
		t.Run(tc.name, func(t *testing.T) {
			st, path := openTest(t)
			if g, err := st.Grant(tc.key); err != nil || g != nil {
				t.Fatalf("empty state: grant %v, err %v; want nil, nil", g, err)
			}
			const token = "rt-0123456789-secret-value"
			want := Grant{RefreshToken: token, Client: "https://idp.example/token client-a", Authorized: when, Rotated: when.Add(time.Hour)}
			if err := st.SetGrant(want, tc.key); err != nil {
				t.Fatal(err)
			}
			got, err := st.Grant(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if got.RefreshToken != token || got.Client != want.Client || !got.Authorized.Equal(when) ||
				!got.Rotated.Equal(want.Rotated) || got.Encrypted != (tc.key != nil) {
				t.Fatalf("got %+v (token equal: %t), want %+v", got, got.RefreshToken == token, want)
			}
			for _, s := range []string{fmt.Sprint(got), fmt.Sprintf("%+v", *got), fmt.Sprintf("%#v", got)} {
				if bytes.Contains([]byte(s), []byte(token)) {
					t.Fatalf("rendering shows the token: %s", s)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Without a key the token is stored as is (base64 in the JSON record); with one, neither the
			// token nor its base64 form may be in the file.
			b64 := base64.StdEncoding.EncodeToString([]byte(token))
			if tc.key != nil && (bytes.Contains(raw, []byte(token)) || bytes.Contains(raw, []byte(b64[:24]))) {
				t.Fatal("the encrypted state file holds the refresh token")
			}
			if tc.key == nil && !bytes.Contains(raw, []byte(b64[:24])) {
				t.Fatal("the plain record is not where the test expects it; the encrypted check proves nothing")
			}
		})
	}
}

func TestGrantWrongKey(t *testing.T) {
	st, _ := openTest(t)
	key := bytes.Repeat([]byte{1}, 32)
	if err := st.SetGrant(Grant{RefreshToken: "secret-rt", Client: "c"}, key); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string][]byte{"no key": nil, "other key": bytes.Repeat([]byte{2}, 32), "short key": {1, 2}} {
		g, err := st.Grant(k)
		if !errors.Is(err, ErrGrantKey) {
			t.Errorf("%s: err %v, want ErrGrantKey", name, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("secret-rt")) {
			t.Errorf("%s: error shows the token: %v", name, err)
		}
		if g != nil && g.RefreshToken != "" {
			t.Errorf("%s: a token came back", name)
		}
	}
	if err := st.ClearGrant(); err != nil {
		t.Fatal(err)
	}
	if g, err := st.Grant(key); g != nil || err != nil {
		t.Fatalf("after ClearGrant: %v, %v", g, err)
	}
}

func TestGrantSurvivesRestart(t *testing.T) {
	st, _ := openTest(t)
	if err := st.SetGrant(Grant{RefreshToken: "rt", Client: "c"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Restart(); err != nil {
		t.Fatal(err)
	}
	if g, err := st.Grant(nil); err != nil || g == nil || g.RefreshToken != "rt" {
		t.Fatalf("after Restart: %v, %v; `scimsync restart` must keep the authorization", g, err)
	}
}
