package rawload_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/emulator/rawload"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/scimclient"
)

func TestCreate(t *testing.T) {
	s := scimserver.New(scimserver.Options{Token: "tok"})
	base := s.Start()
	defer s.Close()
	res, err := rawload.Create(context.Background(), base, "tok", 200, 4)
	if err != nil || res.N != 200 || res.PerSecond <= 0 || len(s.Users()) != 200 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := rawload.Create(context.Background(), base, "wrong", 5, 2); err == nil {
		t.Fatal("401 not reported")
	}
}

func user(name, manager string) json.RawMessage {
	u := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}, "userName": name}
	if manager != "" {
		u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": manager}}
	}
	b, _ := json.Marshal(u)
	return b
}

func TestReplayInManagerWaves(t *testing.T) {
	recs := []rawload.Recorded{
		{ID: "c", Body: user("c@x", "b")},
		{ID: "b", Body: user("b@x", "a")},
		{ID: "a", Body: user("a@x", "")},
		{ID: "d", Body: user("d@x", "gone")},
	}
	if got, want := fmt.Sprint(rawload.Waves(recs)), "[[2 3] [1] [0]]"; got != want {
		t.Fatalf("waves %s, want %s", got, want)
	}
	s := scimserver.New(scimserver.Options{Token: "tok"})
	base := s.Start()
	defer s.Close()
	res, err := rawload.Replay(context.Background(), base, "tok", recs, 8)
	if err != nil || res.N != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	checkManagers(t, s)

	// The same through Bulk, one operation per request so that managers come from earlier requests.
	bs := scimserver.New(scimserver.Options{Token: "tok", Bulk: &scimserver.Bulk{MaxOperations: 1}})
	bbase := bs.Start()
	defer bs.Close()
	lim := scimclient.BulkLimits{Supported: true, MaxOperations: 1, MaxPayloadSize: 1 << 20}
	res, err = rawload.ReplayBulk(context.Background(), bbase, "tok", recs, 2, lim)
	if err != nil || res.N != 4 || bs.Requests()["POST /Bulk"] != 4 {
		t.Fatalf("bulk: %+v %v, %d Bulk requests", res, err, bs.Requests()["POST /Bulk"])
	}
	checkManagers(t, bs)
	if _, err := rawload.ReplayBulk(context.Background(), bbase, "tok", recs[2:3], 1, lim); err == nil {
		t.Fatal("a duplicate userName did not fail the Bulk replay")
	}
	if _, err := rawload.Replay(context.Background(), base, "tok", recs[2:3], 1); err == nil {
		t.Fatal("a duplicate userName did not fail the replay")
	}
}

func TestReadRecorded(t *testing.T) {
	recs, err := rawload.ReadRecorded(strings.NewReader("{\"id\":\"1\",\"body\":{\"userName\":\"a\"}}\n{\"id\":\"2\",\"body\":{}}\n"))
	if err != nil || len(recs) != 2 || recs[1].ID != "2" {
		t.Fatalf("%+v %v", recs, err)
	}
	if _, err := rawload.ReadRecorded(strings.NewReader("{\"id\":\"1\"}\nnot json\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a damaged line: %v", err)
	}
}

// checkManagers checks that c's manager is b and b's is a, by the ids the target gave them.
func checkManagers(t *testing.T, s *scimserver.Server) {
	t.Helper()
	for _, pair := range [][2]string{{"c@x", "b@x"}, {"b@x", "a@x"}} {
		u, m := s.UserByName(pair[0]), s.UserByName(pair[1])
		ext, _ := u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
		mgr, _ := ext["manager"].(map[string]any)
		if mgr["value"] != m.ID() {
			t.Errorf("%s has manager %v, want %s's new id %s", pair[0], mgr, pair[1], m.ID())
		}
	}
}
