package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/daemon/status"
)

// workPhones returns the values of a stored SCIMMY account's work phone numbers.
func workPhones(u map[string]any) []string {
	var out []string
	list, _ := u["phoneNumbers"].([]any)
	for _, it := range list {
		if m, ok := it.(map[string]any); ok && m["type"] == "work" {
			out = append(out, s(m["value"]))
		}
	}
	return out
}

// phonePatches sorts the PATCH requests of reqs that carry a work phone by shape: Entra's add on the
// filtered path, or a new element of phoneNumbers (RFC 7644 §3.5.2.1).
func phonePatches(t *testing.T, reqs []scimRequest) (filtered, element []scimRequest) {
	t.Helper()
	for _, r := range reqs {
		if r.Method != http.MethodPatch {
			continue
		}
		var p struct {
			Operations []struct {
				Op    string          `json:"op"`
				Path  string          `json:"path"`
				Value json.RawMessage `json:"value"`
			} `json:"Operations"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("PATCH body is not a PatchOp: %v: %s", err, r.Body)
		}
		for _, op := range p.Operations {
			switch {
			case op.Path == `phoneNumbers[type eq "work"].value`:
				filtered = append(filtered, r)
			case op.Path == "phoneNumbers":
				var els []map[string]any
				if err := json.Unmarshal(op.Value, &els); err != nil || len(els) != 1 || els[0]["type"] != "work" {
					t.Errorf("element add of phoneNumbers is not one work element: %s", op.Value)
				}
				element = append(element, r)
			}
		}
	}
	return filtered, element
}

// Defect 5 of "Correct under faults": in the default mode, adopting an account without a work phone
// sends Entra's add on phoneNumbers[type eq "work"].value, which SCIMMY, following RFC 7644
// §3.5.2.1, answers with 400 noTarget. scimsync must resend that object once with the phone as a new
// element, remember the lesson in the job's state, and send the element form directly afterwards,
// also from a new process.
func TestScenarioDefaultModeLearnsElementAdds(t *testing.T) {
	e := newScenario(t, scenarioConfig{compatibility: "default"})
	// The default mode links managers with a bare id, which SCIMMY's enterprise schema rejects; that
	// shape is not what this test is about.
	must(t, e.graph.SetManager(idBob, ""))
	preexisting := func(name string) string {
		return createRaw(t, e.scimmy, map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": upn(name), "active": true,
			"emails": []map[string]any{{"type": "work", "value": upn(name), "primary": true}},
		})
	}
	aliceID, erinID := preexisting("alice"), preexisting("erin")
	phone := func(id string) string { return "+1 425 555 01" + id[len(id)-2:] } // scenarioUser's businessPhones

	rep, reqs := e.cycle("first cycle")
	if rep.Adopted != 1 {
		t.Errorf("adopted %d, want 1 (alice)", rep.Adopted)
	}
	alice := to(reqs, aliceID)
	filtered, element := phonePatches(t, alice)
	if len(alice) != 2 || len(filtered) != 1 || len(element) != 1 || alice[0].Body == nil ||
		string(alice[0].Body) != string(filtered[0].Body) || string(alice[1].Body) != string(element[0].Body) {
		t.Fatalf("alice's requests: want the filtered add, then the element form, nothing else:%s", describe(alice))
	}
	if st := e.stats(); st.ByStatus["400"] != 1 {
		t.Errorf("SCIMMY answered %d requests with 400, want 1 (the filtered add): %v", st.ByStatus["400"], st.ByStatus)
	}

	// The state records the dialect, and `scimsync status` shows it.
	st, err := openState(e.job.Config(), true)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = status.Print(&out, e.job.Config(), st, 1, time.Now())
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := "dialect    filtered adds not supported → element form (learned "; !strings.Contains(out.String(), want) ||
		!strings.Contains(out.String(), "from "+e.scimURL+")") {
		t.Errorf("status lacks the learned dialect:\n%s", out.String())
	}

	// A new process (new job, new client) reads it back: erin's adoption sends the element form at once.
	e.reconfigure(scenarioConfig{compatibility: "default"})
	must(t, e.graph.Assign(idErin, "User"))
	before := e.stats()
	_, reqs = e.cycle("second cycle, new process")
	erin := to(reqs, erinID)
	filtered, element = phonePatches(t, reqs)
	if len(erin) != 1 || len(element) != 1 || len(filtered) != 0 || string(erin[0].Body) != string(element[0].Body) {
		t.Fatalf("second cycle: want one PATCH for erin, in the element form, and no filtered add:%s", describe(reqs))
	}
	if after := e.stats(); after.ByStatus["400"] != before.ByStatus["400"] {
		t.Errorf("second cycle got %d answers 400", after.ByStatus["400"]-before.ByStatus["400"])
	}

	users := e.dumpByName()
	for name, id := range map[string]string{"alice": idAlice, "erin": idErin} {
		u := e.mustUser(users, name)
		if got := workPhones(u); len(got) != 1 || got[0] != phone(id) {
			t.Errorf("%s's work phones %v, want exactly [%s]", name, got, phone(id))
		}
	}
	if got := s(users[upn("alice")]["id"]); got != aliceID {
		t.Errorf("alice's account was replaced: %s, want %s", got, aliceID)
	}
}
