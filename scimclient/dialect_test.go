package scimclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scimsync/scimsync/scimclient"
)

// The bodies below are written out by hand from the shape table of docs/scim.md (Entra's default mode) and
// RFC 7644 §3.5.2.1, not produced by the builders under test.
const (
	bodyFiltered = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"Replace","path":"title","value":"CEO"},
		{"op":"Add","path":"phoneNumbers[type eq \"work\"].value","value":"+1 555 0100"}]}`
	bodyElement = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"Replace","path":"title","value":"CEO"},
		{"op":"Add","path":"phoneNumbers","value":[{"type":"work","value":"+1 555 0100"}]}]}`
	bodyTitleOnly = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"Replace","path":"title","value":"CEO"}]}`
)

var (
	changesWithPhone = []scimclient.Change{
		{Path: "title", Value: "CEO"},
		{Path: `phoneNumbers[type eq "work"].value`, Value: "+1 555 0100", Add: true},
	}
	changesTitleOnly = []scimclient.Change{{Path: "title", Value: "CEO"}}
)

// patchTarget is a SCIM endpoint that answers each PATCH by the shape of its body: filtered adds,
// element adds and PATCHes without a phone op (plain) each get their own scripted answer (status 0 =
// 200 with the resource). It records the bodies in arrival order.
type patchTarget struct {
	filtered, element, plain reply
	mu                       sync.Mutex
	paths                    []string
	bodies                   [][]byte
}

type reply struct {
	status   int
	scimType string
}

func (p *patchTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.paths = append(p.paths, r.Method+" "+r.URL.Path)
	p.bodies = append(p.bodies, body)
	p.mu.Unlock()
	var msg struct {
		Operations []struct {
			Path string `json:"path"`
		}
	}
	if r.Method != http.MethodPatch || json.Unmarshal(body, &msg) != nil {
		http.Error(w, "unexpected request", http.StatusTeapot)
		return
	}
	rep := p.plain
	for _, op := range msg.Operations {
		switch {
		case strings.HasPrefix(op.Path, "phoneNumbers["):
			rep = p.filtered
		case op.Path == "phoneNumbers":
			rep = p.element
		}
	}
	w.Header().Set("Content-Type", "application/scim+json")
	if rep.status == 0 {
		fmt.Fprintf(w, `{"schemas":[%q],"id":%q,"userName":"u"}`, scimclient.SchemaUser, strings.TrimPrefix(r.URL.Path, "/scim/Users/"))
		return
	}
	w.WriteHeader(rep.status)
	fmt.Fprintf(w, `{"schemas":[%q],"status":"%d","scimType":%q,"detail":"scripted"}`, scimclient.SchemaError, rep.status, rep.scimType)
}

func (p *patchTarget) requests() ([]string, [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...), append([][]byte(nil), p.bodies...)
}

func startPatchTarget(t *testing.T, pt *patchTarget, mode scimclient.Mode) (*scimclient.Client, *observer.ObservedLogs) {
	t.Helper()
	srv := httptest.NewServer(pt) // binds 127.0.0.1
	t.Cleanup(srv.Close)
	core, logs := observer.New(zapcore.InfoLevel)
	c, err := scimclient.New(scimclient.Options{BaseURL: srv.URL + "/scim", Token: token, Mode: mode,
		Logger: zap.New(core), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

// expectBodies compares the recorded PATCH bodies with the expected JSON texts, as JSON values.
func expectBodies(t *testing.T, got [][]byte, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d:\n%s", len(got), len(want), joinBodies(got))
	}
	for i := range want {
		var g, w any
		if err := json.Unmarshal(got[i], &g); err != nil {
			t.Fatalf("request %d: body is not JSON: %s", i+1, got[i])
		}
		if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatalf("expected body %d is not JSON: %v", i+1, err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("request %d body:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

func joinBodies(bs [][]byte) string {
	var b strings.Builder
	for _, x := range bs {
		b.Write(x)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestUpdateUserLearnsElementAdds(t *testing.T) {
	for _, scimType := range []string{"noTarget", "invalidPath"} {
		t.Run(scimType, func(t *testing.T) {
			pt := &patchTarget{filtered: reply{http.StatusBadRequest, scimType}}
			c, logs := startPatchTarget(t, pt, scimclient.ModeDefault)
			ctx := context.Background()
			if err := c.UpdateUser(ctx, "u1", changesWithPhone); err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
			paths, bodies := pt.requests()
			expectBodies(t, bodies, bodyFiltered, bodyElement)
			if want := []string{"PATCH /scim/Users/u1", "PATCH /scim/Users/u1"}; !reflect.DeepEqual(paths, want) {
				t.Errorf("requests %v, want %v", paths, want)
			}
			if d := c.Dialect(); !d.ElementAdds {
				t.Fatalf("dialect not learned: %+v", d)
			}
			if n := logs.FilterMessageSnippet("value-filtered paths").Len(); n != 1 {
				t.Errorf("%d log entries about the learned dialect, want 1", n)
			}

			// From now on the element form goes out first, and alone.
			if err := c.UpdateUser(ctx, "u2", changesWithPhone); err != nil {
				t.Fatalf("UpdateUser after learning: %v", err)
			}
			_, bodies = pt.requests()
			expectBodies(t, bodies[2:], bodyElement)
			if n := logs.FilterMessageSnippet("value-filtered paths").Len(); n != 1 {
				t.Errorf("%d log entries about the learned dialect after a second PATCH, want 1", n)
			}
		})
	}
}

func TestUpdateUserBothFormsRejected(t *testing.T) {
	pt := &patchTarget{filtered: reply{http.StatusBadRequest, "noTarget"}, element: reply{http.StatusBadRequest, "invalidValue"}}
	c, logs := startPatchTarget(t, pt, scimclient.ModeDefault)
	ctx := context.Background()
	err := c.UpdateUser(ctx, "u1", changesWithPhone)
	if err == nil {
		t.Fatal("UpdateUser succeeded; both forms were rejected")
	}
	// The element form's failure decides the kind; the filtered form's is kept beside it.
	var first *scimclient.Error
	if !errors.As(err, &first) || first.ScimType != "invalidValue" {
		t.Errorf("errors.As gives %+v, want the element form's invalidValue", first)
	}
	var types []string
	var walk func(error)
	walk = func(e error) {
		if se, ok := e.(*scimclient.Error); ok {
			types = append(types, se.ScimType)
			return
		}
		if u, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	if want := []string{"invalidValue", "noTarget"}; !reflect.DeepEqual(types, want) {
		t.Errorf("wrapped scimTypes %v, want %v (err: %v)", types, want, err)
	}
	if !errors.Is(err, scimclient.ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false: %v", err)
	}
	_, bodies := pt.requests()
	expectBodies(t, bodies, bodyFiltered, bodyElement)
	if c.Dialect().ElementAdds {
		t.Error("dialect learned although the element form failed")
	}
	if logs.Len() != 0 {
		t.Errorf("unexpected log entries: %v", logs.All())
	}
	// Nothing was learned, so the next object starts with Entra's shape again.
	if err := c.UpdateUser(ctx, "u2", changesWithPhone); err == nil {
		t.Fatal("second UpdateUser succeeded")
	}
	_, bodies = pt.requests()
	expectBodies(t, bodies[2:], bodyFiltered, bodyElement)
}

func TestUpdateUserFilteredAddAccepted(t *testing.T) {
	pt := &patchTarget{element: reply{http.StatusBadRequest, "invalidValue"}}
	c, logs := startPatchTarget(t, pt, scimclient.ModeDefault)
	if err := c.UpdateUser(context.Background(), "u1", changesWithPhone); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	_, bodies := pt.requests()
	expectBodies(t, bodies, bodyFiltered)
	if c.Dialect().ElementAdds || logs.Len() != 0 {
		t.Errorf("dialect %+v, logs %v: nothing should be learned", c.Dialect(), logs.All())
	}
}

// Only a path rejection of a PATCH that has a filtered add earns the second request.
func TestUpdateUserNoResend(t *testing.T) {
	cases := []struct {
		name    string
		mode    scimclient.Mode
		reply   reply
		changes []scimclient.Change
		want    string
	}{
		{"other 400", scimclient.ModeDefault, reply{http.StatusBadRequest, "invalidValue"}, changesWithPhone, bodyFiltered},
		{"no filtered add", scimclient.ModeDefault, reply{http.StatusBadRequest, "noTarget"}, changesTitleOnly, bodyTitleOnly},
		{"strict sends elements already", scimclient.ModeStrict, reply{http.StatusBadRequest, "noTarget"}, changesWithPhone,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
				{"op":"add","path":"phoneNumbers","value":[{"type":"work","value":"+1 555 0100"}]},
				{"op":"replace","path":"title","value":"CEO"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Every answer but the first is a path rejection, so a resend would show as a second body.
			pt := &patchTarget{filtered: tc.reply, element: tc.reply, plain: tc.reply}
			c, _ := startPatchTarget(t, pt, tc.mode)
			if err := c.UpdateUser(context.Background(), "u1", tc.changes); !errors.Is(err, scimclient.ErrInvalid) {
				t.Errorf("UpdateUser: %v, want the target's 400", err)
			}
			_, bodies := pt.requests()
			expectBodies(t, bodies, tc.want)
			if c.Dialect().ElementAdds {
				t.Error("dialect learned")
			}
		})
	}
}

func TestUpdateUserSeededDialect(t *testing.T) {
	pt := &patchTarget{filtered: reply{http.StatusBadRequest, "noTarget"}}
	c, logs := startPatchTarget(t, pt, scimclient.ModeDefault)
	c.SetDialect(scimclient.Dialect{ElementAdds: true})
	if err := c.UpdateUser(context.Background(), "u1", changesWithPhone); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	_, bodies := pt.requests()
	expectBodies(t, bodies, bodyElement)
	if logs.Len() != 0 {
		t.Errorf("a seeded dialect is not news, but was logged: %v", logs.All())
	}
}

// Objects patched at once all recover, and the lesson is logged once whatever the interleaving.
func TestUpdateUserConcurrentLearnsOnce(t *testing.T) {
	pt := &patchTarget{filtered: reply{http.StatusBadRequest, "noTarget"}}
	c, logs := startPatchTarget(t, pt, scimclient.ModeDefault)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.UpdateUser(context.Background(), fmt.Sprintf("u%d", i), changesWithPhone) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("UpdateUser: %v", err)
		}
	}
	if got := logs.FilterMessageSnippet("value-filtered paths").Len(); got != 1 {
		t.Errorf("%d log entries, want 1", got)
	}
	_, bodies := pt.requests()
	if len(bodies) < n+1 || len(bodies) > 2*n {
		t.Errorf("%d requests for %d objects, want between %d and %d", len(bodies), n, n+1, 2*n)
	}
}

func TestIsPathRejected(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&scimclient.Error{Kind: scimclient.ErrInvalid, Status: 400, ScimType: "noTarget"}, true},
		{&scimclient.Error{Kind: scimclient.ErrInvalid, Status: 400, ScimType: "invalidPath"}, true},
		{&scimclient.Error{Kind: scimclient.ErrInvalid, Status: 400, ScimType: "NOTARGET"}, true},
		{fmt.Errorf("user u1: %w", &scimclient.Error{Kind: scimclient.ErrInvalid, Status: 400, ScimType: "noTarget"}), true},
		{&scimclient.Error{Kind: scimclient.ErrInvalid, Status: 400, ScimType: "invalidValue"}, false},
		{&scimclient.Error{Kind: scimclient.ErrInvalid, Status: 400, Detail: "noTarget"}, false},
		{&scimclient.Error{Kind: scimclient.ErrNotFound, Status: 404, ScimType: "noTarget"}, false},
		{errors.New("400 noTarget"), false},
		{nil, false},
	}
	for i, tc := range cases {
		if got := scimclient.IsPathRejected(tc.err); got != tc.want {
			t.Errorf("case %d (%v): got %v, want %v", i, tc.err, got, tc.want)
		}
	}
}

// Two sub-attributes of one new element become one element, not two of the same type.
func TestElementAddsMergeOneElement(t *testing.T) {
	ops := scimclient.UserPatch(scimclient.ModeStrict, []scimclient.Change{
		{Path: `addresses[type eq "work"].streetAddress`, Value: "1 Main St", Add: true},
		{Path: `addresses[type eq "work"].postalCode`, Value: "98052", Add: true},
		{Path: `addresses[type eq "home"].postalCode`, Value: "10001", Add: true},
	})
	got, _ := json.Marshal(ops)
	want := `[{"op":"add","path":"addresses","value":[{"postalCode":"98052","streetAddress":"1 Main St","type":"work"}]},` +
		`{"op":"add","path":"addresses","value":[{"postalCode":"10001","type":"home"}]}]`
	if string(got) != want {
		t.Errorf("ops\n got %s\nwant %s", got, want)
	}
}
