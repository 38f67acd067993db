package grant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecode(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	g := Grant{RefreshToken: "rt-secret", Client: "https://idp.example/token client-1", Authorized: t0, Rotated: t0.Add(time.Hour)}
	key := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)

	plain, err := Encode(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(plain, other); err != nil || got.RefreshToken != g.RefreshToken || got.Encrypted {
		t.Fatalf("plaintext grant: %+v, %v", got, err)
	}

	sealed, err := Encode(g, key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("rt-secret")) {
		t.Fatal("the sealed form holds the token in clear")
	}
	got, err := Decode(sealed, key)
	if err != nil || got.RefreshToken != g.RefreshToken || !got.Encrypted || got.Client != g.Client ||
		!got.Authorized.Equal(g.Authorized) || !got.Rotated.Equal(g.Rotated) {
		t.Fatalf("sealed grant: %+v, %v", got, err)
	}
	for name, k := range map[string][]byte{"no key": nil, "another key": other, "a short key": key[:16]} {
		got, err := Decode(sealed, k)
		if !errors.Is(err, ErrKey) || got == nil || got.RefreshToken != "" || got.Client != g.Client {
			t.Errorf("%s: %+v, %v; want ErrKey with the rest of the grant", name, got, err)
		}
	}

	// A sealed token moved to another client's entry does not open: the client is bound to it.
	var sg storedGrant
	if err := json.Unmarshal(sealed, &sg); err != nil {
		t.Fatal(err)
	}
	sg.Client = "https://idp.example/token client-2"
	moved, _ := json.Marshal(sg)
	if _, err := Decode(moved, key); !errors.Is(err, ErrKey) {
		t.Errorf("token moved to another client: %v, want ErrKey", err)
	}

	for _, raw := range []string{`{`, `{"alg":"rot13","token":"eA=="}`} {
		if _, err := Decode([]byte(raw), key); err == nil || errors.Is(err, ErrKey) {
			t.Errorf("%s: %v, want a damage error", raw, err)
		}
	}
}

func TestRenderingHidesToken(t *testing.T) {
	g := Grant{RefreshToken: "rt-secret", Client: "c"}
	for _, s := range []string{fmt.Sprint(g), fmt.Sprintf("%v %+v %#v %s", g, g, g, &g)} {
		if strings.Contains(s, "rt-secret") {
			t.Errorf("rendering shows the token: %s", s)
		}
	}
}
