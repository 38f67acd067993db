package scimserver

import (
	"net/http"
	"strings"

	"github.com/scimsync/scimsync/scimclient"
)

// Discovery endpoints (RFC 7643 §5-7). Entra reads /Schemas for some gallery apps; scimsync's
// validate command may too. The attribute lists are short on purpose: they name what Gong supports.

func attr(name, typ string, extra map[string]any) map[string]any {
	a := map[string]any{"name": name, "type": typ, "multiValued": false, "required": false,
		"caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

func (s *Server) schemaResources() []map[string]any {
	userAttrs := []any{
		attr("userName", "string", map[string]any{"required": true, "uniqueness": "server", "caseExact": s.opts.CaseExactUserName}),
		attr("externalId", "string", map[string]any{"caseExact": true}),
		attr("active", "boolean", nil),
		attr("displayName", "string", nil),
		attr("title", "string", nil),
		attr("locale", "string", nil),
		attr("timezone", "string", nil),
		attr("name", "complex", map[string]any{"subAttributes": []any{
			attr("givenName", "string", nil), attr("familyName", "string", nil), attr("formatted", "string", nil)}}),
		attr("emails", "complex", map[string]any{"multiValued": true, "subAttributes": []any{
			attr("value", "string", nil), attr("type", "string", nil), attr("primary", "boolean", nil)}}),
		attr("phoneNumbers", "complex", map[string]any{"multiValued": true, "subAttributes": []any{
			attr("value", "string", nil), attr("type", "string", nil)}}),
	}
	out := []map[string]any{
		{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}, "id": scimclient.SchemaUser, "name": "User",
			"attributes": userAttrs},
		{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}, "id": scimclient.SchemaGroup, "name": "Group",
			"attributes": []any{
				attr("displayName", "string", map[string]any{"required": true, "uniqueness": "server"}),
				attr("externalId", "string", map[string]any{"caseExact": true}),
				attr("members", "complex", map[string]any{"multiValued": true, "subAttributes": []any{
					attr("value", "string", map[string]any{"caseExact": true, "mutability": "immutable"})}}),
			}},
	}
	for _, e := range s.exts {
		var attrs []any
		switch {
		case strings.EqualFold(e, scimclient.SchemaEnterprise):
			attrs = []any{attr("employeeNumber", "string", nil), attr("department", "string", nil),
				attr("manager", "complex", map[string]any{"subAttributes": []any{attr("value", "string", nil)}})}
		case strings.EqualFold(e, scimclient.SchemaGong):
			attrs = []any{attr("stateOrProvince", "string", nil), attr("country", "string", nil)}
		default:
			attrs = []any{}
		}
		name := e[strings.LastIndexByte(e, ':')+1:]
		out = append(out, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
			"id": e, "name": name + " extension", "attributes": attrs})
	}
	return out
}

func listOf(items []map[string]any) map[string]any {
	return map[string]any{"schemas": []string{scimclient.SchemaListResponse}, "totalResults": len(items),
		"startIndex": 1, "itemsPerPage": len(items), "Resources": items}
}

func (s *Server) serveSchemas(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errf(http.StatusMethodNotAllowed, "", "read-only"))
		return
	}
	writeJSON(w, http.StatusOK, listOf(s.schemaResources()))
}

func (s *Server) serveResourceTypes(w http.ResponseWriter, r *http.Request, base string) {
	if r.Method != http.MethodGet {
		writeError(w, errf(http.StatusMethodNotAllowed, "", "read-only"))
		return
	}
	var ext []any
	for _, e := range s.exts {
		ext = append(ext, map[string]any{"schema": e, "required": false})
	}
	rt := "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	writeJSON(w, http.StatusOK, listOf([]map[string]any{
		{"schemas": []string{rt}, "id": "User", "name": "User", "endpoint": "/Users", "schema": scimclient.SchemaUser,
			"schemaExtensions": ext, "meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/User"}},
		{"schemas": []string{rt}, "id": "Group", "name": "Group", "endpoint": "/Groups", "schema": scimclient.SchemaGroup,
			"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/Group"}},
	}))
}

func (s *Server) serveSPC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errf(http.StatusMethodNotAllowed, "", "read-only"))
		return
	}
	no := map[string]any{"supported": false}
	bulk := map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0}
	if s.opts.Bulk != nil {
		ops, size := s.opts.Bulk.limits()
		bulk = map[string]any{"supported": true, "maxOperations": ops, "maxPayloadSize": size}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":        []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"patch":          map[string]any{"supported": true},
		"bulk":           bulk,
		"filter":         map[string]any{"supported": true, "maxResults": 1000},
		"changePassword": no, "sort": no, "etag": no,
		"authenticationSchemes": []any{map[string]any{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
			"description": "Authentication with a bearer token", "primary": true}},
	})
}
