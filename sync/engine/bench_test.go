package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// BenchmarkEngineInitialCycle10k measures the engine alone (an in-memory directory, the real SCIM
// client against the in-process target): everything a cycle costs except reading Graph. Users report
// to one of 100 managers, so the creates run in two waves.
func BenchmarkEngineInitialCycle10k(b *testing.B) {
	const n = 10000
	users := make([]directory.User, n)
	for i := range users {
		id := fmt.Sprintf("u%05d", i)
		attrs := mapping.AttributeMap{
			"objectId": mapping.Str(id), "userPrincipalName": mapping.Str(id + "@contoso.com"), "mail": mapping.Str(id + "@contoso.com"),
			"givenName": mapping.Str("Given"), "surname": mapping.Str(id), "jobTitle": mapping.Str("Account Executive"),
			"telephoneNumber": mapping.Str("+1 425 555 0100"), "mailNickname": mapping.Str(id), "preferredLanguage": mapping.Str("en-US"),
			"state": mapping.Str("WA"), "country": mapping.Str("United States"), "accountEnabled": mapping.Bool(true),
		}
		if i >= 100 {
			attrs["manager"] = mapping.Str(fmt.Sprintf("u%05d", i%100))
		}
		users[i] = directory.User{ID: id, Attributes: attrs, ManagerKnown: true}
	}
	active, err := mapping.Compile("Not([IsSoftDeleted])", mapping.CompileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	table := &mapping.Table{Mappings: []mapping.Mapping{
		{Target: "userName", Kind: mapping.Direct, Attribute: "userPrincipalName", Matching: 1},
		{Target: "active", Kind: mapping.Expression, Expr: active, Type: mapping.TypeBoolean},
		{Target: "title", Kind: mapping.Direct, Attribute: "jobTitle"},
		{Target: `emails[type eq "work"].value`, Kind: mapping.Direct, Attribute: "mail"},
		{Target: "name.givenName", Kind: mapping.Direct, Attribute: "givenName"},
		{Target: "name.familyName", Kind: mapping.Direct, Attribute: "surname"},
		{Target: `phoneNumbers[type eq "work"].value`, Kind: mapping.Direct, Attribute: "telephoneNumber"},
		{Target: "externalId", Kind: mapping.Direct, Attribute: "mailNickname"},
		{Target: "locale", Kind: mapping.Direct, Attribute: "preferredLanguage"},
		{Target: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", Kind: mapping.Direct, Attribute: "manager", Type: mapping.TypeReference},
		{Target: "urn:ietf:params:scim:schemas:extension:Gong:2.0:User:stateOrProvince", Kind: mapping.Direct, Attribute: "state"},
		{Target: "urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country", Kind: mapping.Direct, Attribute: "country"},
	}}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		srv := scimserver.New(scimserver.Options{Token: "t"})
		url := srv.Start()
		c, err := scimclient.New(scimclient.Options{BaseURL: url, Token: "t", Concurrency: 4})
		if err != nil {
			b.Fatal(err)
		}
		st, err := store.Open(filepath.Join(b.TempDir(), "s.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		e := New(&fakeDir{users: users}, scimTarget(c), st, Options{Users: table, Scope: ScopeAll, Concurrency: 4, Fingerprint: "f",
			Policy: plan.Policy{Create: true, Update: true, Delete: true}})
		b.StartTimer()
		rep, err := e.Cycle(context.Background(), true)
		b.StopTimer()
		if err != nil || rep.Created != n || rep.Linked != 0 {
			b.Fatalf("cycle: %v; created %d, manager links %d", err, rep.Created, rep.Linked)
		}
		b.ReportMetric(float64(c.Stats().Requests)/n, "requests/user")
		st.Close()
		srv.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/user")
}
