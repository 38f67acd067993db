package scimclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
)

// TestCreateUserIDAnswers checks that CreateUserID, which reads only the id, accepts and refuses the
// same answers as CreateUser, which decodes the whole resource, with the same error.
func TestCreateUserIDAnswers(t *testing.T) {
	var body atomic.Value
	fault := func(*http.Request) *scimserver.Fault {
		return &scimserver.Fault{Status: 201, Body: body.Load().(string)}
	}
	_, c := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{})
	ctx := context.Background()
	for _, tt := range []struct {
		body, id string // id "" for ErrCompliance
	}{
		{`{"id":"a1","userName":"x","name":{"id":"inner"}}`, "a1"},
		{`{"id":"a1","id":"a2"}`, "a2"},
		{`{"\u0069d":"a\u00e9"}`, "aé"},
		{` {"meta":{"version":"W/\"1\""},"emails":[{"value":"x"}],"id":"z"} `, "z"},
		{`{"userName":"x"}`, ""},
		{`{"id":7}`, ""},
		{`{"id":""}`, ""},
		{`{"id":"a1","id":null}`, ""},
		{`{not json`, ""},
		{`{"id":"a1"} trailing`, ""},
		{`null`, ""},
		{`["a1"]`, ""},
		{`   `, ""},
	} {
		body.Store(tt.body)
		id, err := c.CreateUserID(ctx, gongUser("x"))
		r, werr := c.CreateUser(ctx, gongUser("x"))
		if tt.id != "" {
			if err != nil || id != tt.id || r.ID() != tt.id {
				t.Errorf("%q: CreateUserID = %q, %v; CreateUser id %q, %v; want %q", tt.body, id, err, r.ID(), werr, tt.id)
			}
			continue
		}
		var got, want *scimclient.Error
		if !errors.Is(err, scimclient.ErrCompliance) || !errors.As(err, &got) || !errors.As(werr, &want) {
			t.Errorf("%q: CreateUserID = %q, %v; CreateUser %v; want ErrCompliance from both", tt.body, id, err, werr)
			continue
		}
		if got.Detail != want.Detail || got.Status != want.Status {
			t.Errorf("%q: CreateUserID's error %q (%d), CreateUser's %q (%d)", tt.body, got.Detail, got.Status, want.Detail, want.Status)
		}
	}
}

// TestCreateUserIDConcurrent creates users from several goroutines, so answers are read into
// buffers that other requests used before, and reads each back by the id it got: a buffer handed
// back too early would show as a wrong or garbled id.
func TestCreateUserIDConcurrent(t *testing.T) {
	_, c := setup(t, scimserver.Options{}, scimclient.Options{Concurrency: 4})
	ctx := context.Background()
	const workers, each = 4, 50
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id, err := c.CreateUserID(ctx, gongUser(fmt.Sprintf("u%d-%d@x", w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				ids[w] = append(ids[w], id)
			}
		})
	}
	wg.Wait()
	for w := range workers {
		for i, id := range ids[w] {
			r, err := c.GetUser(ctx, id)
			if err != nil {
				t.Fatalf("user %d-%d, id %q: %v", w, i, id, err)
			}
			if want := fmt.Sprintf("u%d-%d@x", w, i); r["userName"] != want {
				t.Errorf("id %q is %v, want %s", id, r["userName"], want)
			}
		}
	}
}

// TestCreateUserValuesSendsBuildUsersBody compares the bodies on the wire: CreateUserValues against
// CreateUserID(BuildUser(values)), for values the direct encoder takes and for values it leaves to
// BuildUser.
func TestCreateUserValuesSendsBuildUsersBody(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	fault := func(r *http.Request) *scimserver.Fault {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		return &scimserver.Fault{Status: 201, Body: `{"id":"x"}`}
	}
	_, c := setup(t, scimserver.Options{Fault: fault}, scimclient.Options{})
	ctx := context.Background()
	withManager := gongValues("m@x")
	withManager[scimclient.SchemaEnterprise+":manager"] = "boss"
	withManager[`phoneNumbers[type eq "work"].value`] = []string{"1", "2"}
	declined := gongValues("d@x")
	declined["externalId"] = uint(7) // not a type the direct encoder takes
	for _, values := range []map[string]any{gongValues("a<b>@x"), withManager, declined} {
		bodies = nil
		if _, err := c.CreateUserValues(ctx, values); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateUserID(ctx, scimclient.BuildUser(values)); err != nil {
			t.Fatal(err)
		}
		if len(bodies) != 2 || bodies[0] != bodies[1] {
			t.Errorf("bodies differ:\n%q", bodies)
		}
	}
}
