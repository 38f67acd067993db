package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Pages are decoded here rather than by the SDK's models. The SDK still builds every request (URL
// template, $select, headers) and sends it through its adapter (authentication, allowed hosts,
// middleware, error mapping), but asks for the raw body ("[]byte") instead of a model: materialising
// a models.User builds a map of ~200 field deserializers per object plus a kiota parse tree, which
// cost ~32 KB and ~470 allocations per user more than encoding/json into the small records below,
// which read only what the reader uses (BenchmarkUsersFullRound10k: 432 MB -> 109 MB per round).

// odataErrors maps every error status to Graph's error body, as the generated request builders do.
var odataErrors = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

var errEmptyResponse = errors.New("empty response")

// getPage GETs link with the reader's retries and decodes the body into a fresh T. A body that is not
// valid JSON of T's shape is an error (not retried), so a malformed page can never turn into a partial
// round.
//
// link is a plain string fixed before the first attempt, and every attempt builds a fresh request
// from it. A request builder must not be reused across attempts: kiota's RequestInformation shares
// the builder's path-parameter map, and GetUri of a WithUrl builder empties that map (SetUri), so a
// second attempt from the same builder expands the bare template — a users delta round that lost its
// $deltatoken on a retried 429 and silently read the whole directory. The attempt's context also
// carries link, so the transport refuses a request whose tokens differ from it (linkGuard).
func getPage[T any](r *Reader, ctx context.Context, what, link string) (*T, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: invalid URL: %w", what, err)
	}
	var page *T
	err = r.call(ctx, what, func(ctx context.Context) error {
		info := abs.NewRequestInformation()
		info.Method = abs.GET
		info.SetUri(*u) // a copy: nothing of this attempt reaches the next one
		info.Headers.AddAll(throttleHeaders())
		info.Headers.TryAdd("Accept", "application/json")
		res, err := r.adapter.SendPrimitive(withLink(ctx, u), info, "[]byte", odataErrors)
		if err != nil {
			return err
		}
		body, _ := res.([]byte)
		if len(body) == 0 { // 204 or an empty 200
			return errEmptyResponse
		}
		p := new(T)
		if err := json.Unmarshal(body, p); err != nil {
			return decodeError(err, "body")
		}
		page = p
		return nil
	})
	return page, err
}

// requestURL expands a request builder's URL template (path, $select, ...) once into the URL that
// every attempt of the request then sends. Call it on a fresh builder.
func requestURL(info *abs.RequestInformation, err error) (string, error) {
	if err != nil {
		return "", err
	}
	u, err := info.GetUri()
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// decodeError words a decoding failure for an admin: where in the body it broke, without this
// package's type names. part is what was decoded, where the offset counts from: "body", or "value"
// (a delta page's records, decoded apart).
func decodeError(err error, part string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := te.Field
		if where == "" {
			where = part
		}
		return fmt.Errorf("malformed page: %s is a JSON %s (offset %d of its %s)", where, te.Value, te.Offset, part)
	}
	return fmt.Errorf("malformed page: %w", err)
}

// walkDelta reads a delta round's pages in order from link and hands each page's records to take. The
// next page is requested as soon as this one's nextLink is known, so Graph serves it while take
// converts this one; the requests still go one at a time, in order, each with its own retries. It
// returns the round's deltaLink and how many pages it read.
func walkDelta[R any](r *Reader, ctx context.Context, what, link string, take func([]*R) error) (string, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a page still in flight when take fails is abandoned
	type got struct {
		page *deltaPage
		err  error
	}
	fetch := func(link string, n int) chan got {
		ch := make(chan got, 1)
		go func() {
			p, err := getPage[deltaPage](r, ctx, pageName(what, n), link)
			ch <- got{p, err}
		}()
		return ch
	}
	pending := fetch(link, 1)
	for n := 1; ; n++ {
		g := <-pending
		if g.err != nil {
			return "", n, g.err
		}
		next, done, err := r.nextLink(what, g.page.NextLink, g.page.DeltaLink, n)
		if err != nil {
			return "", n, err
		}
		if done == "" {
			pending = fetch(next, n+1)
		}
		var records []*R
		if len(g.page.Value) > 0 {
			if err := json.Unmarshal(g.page.Value, &records); err != nil {
				return "", n, fmt.Errorf("graph: %s: %w", pageName(what, n), decodeError(err, "value"))
			}
		}
		g.page = nil
		if err := take(records); err != nil {
			return "", n, err
		}
		if done != "" {
			return done, n, nil
		}
	}
}

// deltaPage is one page of a users or groups delta round. Its records (Value) are decoded once the
// next page is asked for: only the links are needed for that, and decoding a page of 200 users held
// the next request back by as long as it took (2–3 ms a page; BenchmarkUsersFullRound10k, 10,000
// users from the emulated Graph: 276–311 → 224–251 ms). Value entries are decoded into pointers so
// that a JSON null entry is skipped, as the SDK did.
type deltaPage struct {
	Value     json.RawMessage `json:"value"`
	NextLink  *string         `json:"@odata.nextLink"`
	DeltaLink *string         `json:"@odata.deltaLink"`
}

// mark records that an annotation was present, whatever its value (even null), and the reason of an
// @removed annotation. Presence is what Graph's annotations mean, so a plain pointer (nil for both
// absent and null) would not do.
type mark struct {
	present bool
	reason  string
}

func (m *mark) UnmarshalJSON(b []byte) error {
	m.present = true
	// The reason is informational: an @removed of any other shape still means removed, and an
	// unknown reason is treated as a soft delete by the caller.
	var v struct {
		Reason any `json:"reason"`
	}
	if json.Unmarshal(b, &v) == nil {
		m.reason, _ = v.Reason.(string)
	}
	return nil
}

// reference is one entry of manager@delta, members@delta or an expanded manager.
type reference struct {
	ID      string `json:"id"`
	Type    string `json:"@odata.type"`
	Removed mark   `json:"@removed"`
}

// refs is a relationship annotation (manager@delta, members@delta): present tells "this record says
// something about the relationship" apart from "unchanged"; null counts as an empty list.
type refs struct {
	present bool
	items   []reference
}

func (l *refs) UnmarshalJSON(b []byte) error {
	l.present = true
	if string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, &l.items)
}

// userRecord holds the user properties of the attribute table in graph/directory (and nothing
// else). Strings and booleans are pointers so that an absent or null property stays unset rather than
// becoming "" or false. TestDecoderCoversAttributeTable fails when the table gains a property this
// struct does not read.
type userRecord struct {
	ID      string `json:"id"`
	Removed mark   `json:"@removed"`
	// ManagerDelta is the delta annotation; Manager the $expand=manager of a plain GET.
	ManagerDelta refs       `json:"manager@delta"`
	Manager      *reference `json:"manager"`

	AccountEnabled                *bool                `json:"accountEnabled"`
	BusinessPhones                []string             `json:"businessPhones"`
	ProxyAddresses                []string             `json:"proxyAddresses"`
	OtherMails                    []string             `json:"otherMails"`
	OnPremisesExtensionAttributes *extensionAttributes `json:"onPremisesExtensionAttributes"`
	UserPrincipalName             *string              `json:"userPrincipalName"`
	DisplayName                   *string              `json:"displayName"`
	GivenName                     *string              `json:"givenName"`
	Surname                       *string              `json:"surname"`
	Mail                          *string              `json:"mail"`
	MailNickname                  *string              `json:"mailNickname"`
	JobTitle                      *string              `json:"jobTitle"`
	Department                    *string              `json:"department"`
	CompanyName                   *string              `json:"companyName"`
	EmployeeID                    *string              `json:"employeeId"`
	EmployeeType                  *string              `json:"employeeType"`
	EmployeeHireDate              *string              `json:"employeeHireDate"`
	MobilePhone                   *string              `json:"mobilePhone"`
	FaxNumber                     *string              `json:"faxNumber"`
	OfficeLocation                *string              `json:"officeLocation"`
	StreetAddress                 *string              `json:"streetAddress"`
	City                          *string              `json:"city"`
	State                         *string              `json:"state"`
	Country                       *string              `json:"country"`
	PostalCode                    *string              `json:"postalCode"`
	UsageLocation                 *string              `json:"usageLocation"`
	PreferredLanguage             *string              `json:"preferredLanguage"`
	UserType                      *string              `json:"userType"`
	OnPremisesSamAccountName      *string              `json:"onPremisesSamAccountName"`
	OnPremisesImmutableID         *string              `json:"onPremisesImmutableId"`
	OnPremisesDistinguishedName   *string              `json:"onPremisesDistinguishedName"`
	OnPremisesDomainName          *string              `json:"onPremisesDomainName"`
	OnPremisesSecurityIdentifier  *string              `json:"onPremisesSecurityIdentifier"`
	OnPremisesUserPrincipalName   *string              `json:"onPremisesUserPrincipalName"`
}

// userProperties reads a userRecord by Graph property name, which is how the attribute table names
// them. Values are *string, *bool, []string or *extensionAttributes.
var userProperties = map[string]func(*userRecord) any{
	"id":                            func(u *userRecord) any { return &u.ID },
	"accountEnabled":                func(u *userRecord) any { return u.AccountEnabled },
	"businessPhones":                func(u *userRecord) any { return u.BusinessPhones },
	"proxyAddresses":                func(u *userRecord) any { return u.ProxyAddresses },
	"otherMails":                    func(u *userRecord) any { return u.OtherMails },
	"onPremisesExtensionAttributes": func(u *userRecord) any { return u.OnPremisesExtensionAttributes },
	"userPrincipalName":             func(u *userRecord) any { return u.UserPrincipalName },
	"displayName":                   func(u *userRecord) any { return u.DisplayName },
	"givenName":                     func(u *userRecord) any { return u.GivenName },
	"surname":                       func(u *userRecord) any { return u.Surname },
	"mail":                          func(u *userRecord) any { return u.Mail },
	"mailNickname":                  func(u *userRecord) any { return u.MailNickname },
	"jobTitle":                      func(u *userRecord) any { return u.JobTitle },
	"department":                    func(u *userRecord) any { return u.Department },
	"companyName":                   func(u *userRecord) any { return u.CompanyName },
	"employeeId":                    func(u *userRecord) any { return u.EmployeeID },
	"employeeType":                  func(u *userRecord) any { return u.EmployeeType },
	"employeeHireDate":              func(u *userRecord) any { return u.EmployeeHireDate },
	"mobilePhone":                   func(u *userRecord) any { return u.MobilePhone },
	"faxNumber":                     func(u *userRecord) any { return u.FaxNumber },
	"officeLocation":                func(u *userRecord) any { return u.OfficeLocation },
	"streetAddress":                 func(u *userRecord) any { return u.StreetAddress },
	"city":                          func(u *userRecord) any { return u.City },
	"state":                         func(u *userRecord) any { return u.State },
	"country":                       func(u *userRecord) any { return u.Country },
	"postalCode":                    func(u *userRecord) any { return u.PostalCode },
	"usageLocation":                 func(u *userRecord) any { return u.UsageLocation },
	"preferredLanguage":             func(u *userRecord) any { return u.PreferredLanguage },
	"userType":                      func(u *userRecord) any { return u.UserType },
	"onPremisesSamAccountName":      func(u *userRecord) any { return u.OnPremisesSamAccountName },
	"onPremisesImmutableId":         func(u *userRecord) any { return u.OnPremisesImmutableID },
	"onPremisesDistinguishedName":   func(u *userRecord) any { return u.OnPremisesDistinguishedName },
	"onPremisesDomainName":          func(u *userRecord) any { return u.OnPremisesDomainName },
	"onPremisesSecurityIdentifier":  func(u *userRecord) any { return u.OnPremisesSecurityIdentifier },
	"onPremisesUserPrincipalName":   func(u *userRecord) any { return u.OnPremisesUserPrincipalName },
}

// extensionAttributes is Graph's onPremisesExtensionAttributes complex type.
type extensionAttributes struct {
	A1  *string `json:"extensionAttribute1"`
	A2  *string `json:"extensionAttribute2"`
	A3  *string `json:"extensionAttribute3"`
	A4  *string `json:"extensionAttribute4"`
	A5  *string `json:"extensionAttribute5"`
	A6  *string `json:"extensionAttribute6"`
	A7  *string `json:"extensionAttribute7"`
	A8  *string `json:"extensionAttribute8"`
	A9  *string `json:"extensionAttribute9"`
	A10 *string `json:"extensionAttribute10"`
	A11 *string `json:"extensionAttribute11"`
	A12 *string `json:"extensionAttribute12"`
	A13 *string `json:"extensionAttribute13"`
	A14 *string `json:"extensionAttribute14"`
	A15 *string `json:"extensionAttribute15"`
}

// get returns extensionAttributeN by its property name, nil when unset or unknown.
func (e *extensionAttributes) get(name string) *string {
	if e == nil {
		return nil
	}
	switch name {
	case "extensionAttribute1":
		return e.A1
	case "extensionAttribute2":
		return e.A2
	case "extensionAttribute3":
		return e.A3
	case "extensionAttribute4":
		return e.A4
	case "extensionAttribute5":
		return e.A5
	case "extensionAttribute6":
		return e.A6
	case "extensionAttribute7":
		return e.A7
	case "extensionAttribute8":
		return e.A8
	case "extensionAttribute9":
		return e.A9
	case "extensionAttribute10":
		return e.A10
	case "extensionAttribute11":
		return e.A11
	case "extensionAttribute12":
		return e.A12
	case "extensionAttribute13":
		return e.A13
	case "extensionAttribute14":
		return e.A14
	case "extensionAttribute15":
		return e.A15
	}
	return nil
}

// groupRecord holds the group properties of the attribute table and the members@delta annotation.
type groupRecord struct {
	ID              string  `json:"id"`
	Removed         mark    `json:"@removed"`
	MembersDelta    refs    `json:"members@delta"`
	DisplayName     *string `json:"displayName"`
	Description     *string `json:"description"`
	Mail            *string `json:"mail"`
	MailNickname    *string `json:"mailNickname"`
	MailEnabled     *bool   `json:"mailEnabled"`
	SecurityEnabled *bool   `json:"securityEnabled"`
}

// groupProperties is userProperties for groups.
var groupProperties = map[string]func(*groupRecord) any{
	"id":              func(g *groupRecord) any { return &g.ID },
	"displayName":     func(g *groupRecord) any { return g.DisplayName },
	"description":     func(g *groupRecord) any { return g.Description },
	"mail":            func(g *groupRecord) any { return g.Mail },
	"mailNickname":    func(g *groupRecord) any { return g.MailNickname },
	"mailEnabled":     func(g *groupRecord) any { return g.MailEnabled },
	"securityEnabled": func(g *groupRecord) any { return g.SecurityEnabled },
}

// assignmentPage is one page of appRoleAssignedTo.
type assignmentPage struct {
	Value []*struct {
		PrincipalID   *string `json:"principalId"`
		PrincipalType *string `json:"principalType"`
		AppRoleID     *string `json:"appRoleId"`
	} `json:"value"`
	NextLink *string `json:"@odata.nextLink"`
}

// servicePrincipalPage is the app's service principal with its role definitions.
type servicePrincipalPage struct {
	AppRoles []*struct {
		ID          *string `json:"id"`
		Value       *string `json:"value"`
		DisplayName *string `json:"displayName"`
	} `json:"appRoles"`
}
