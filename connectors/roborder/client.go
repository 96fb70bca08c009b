// Package roborder reads the leads Roborder captures on Facebook and
// Instagram pages (API v1). See README.md for the endpoints and the field
// mapping.
package roborder

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
)

// Paths, relative to the instance's base URL.
const (
	loginPath = "api/v1/login"
	leadsPath = "api/v1/leads"
)

// Client is Roborder's API over the instance's shared HTTP client.
type Client struct {
	http *httpapi.Client
}

// NewClient builds the client for in: a dashboard token when auth has
// "token", otherwise a login with "email" and "password".
func NewClient(in *connectors.Instance) (*Client, error) {
	auth, err := authenticator(in)
	if err != nil {
		return nil, err
	}
	hc, err := in.HTTP(auth)
	if err != nil {
		return nil, err
	}
	return &Client{http: hc}, nil
}

// checkAuth accepts either credential form. A token wins when both are set:
// it needs no login round trip.
func checkAuth(in *connectors.Instance) error {
	if in.Auth["token"] != "" {
		return nil
	}
	if in.Auth["email"] == "" && in.Auth["password"] == "" {
		return fmt.Errorf("connectors.%s.auth: missing [token] (or [email password])", in.Name)
	}
	return in.RequireAuth("email", "password")
}

func authenticator(in *connectors.Instance) (httpapi.Authenticator, error) {
	if err := checkAuth(in); err != nil {
		return nil, err
	}
	if tok := in.Auth["token"]; tok != "" {
		// Dashboard tokens cannot be renewed: a 401 fails the run.
		return httpapi.StaticAuth{Headers: map[string]string{"Authorization": "Bearer " + tok}}, nil
	}
	email, password := in.Auth["email"], in.Auth["password"]
	return &httpapi.TokenAuth{
		// Roborder's tokens never expire on their own (zero Expiry); a 401
		// makes the client call Renew, which logs in again.
		Login: func(ctx context.Context, c *httpapi.Client) (httpapi.Token, error) {
			return login(ctx, c, email, password)
		},
		Set: func(req *http.Request, tok httpapi.Token) {
			req.Header.Set("Authorization", "Bearer "+tok.Value)
		},
	}, nil
}

// envelope is every Roborder answer: {"success","data","message"}. Success is
// a pointer so that an answer without the key is not read as a failure.
type envelope struct {
	Success *bool           `json:"success"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

func (e *envelope) failed() bool { return e.Success != nil && !*e.Success }

func login(ctx context.Context, c *httpapi.Client, email, password string) (httpapi.Token, error) {
	resp, err := c.Do(ctx, &httpapi.Request{
		Method: http.MethodPost,
		Path:   loginPath,
		JSON:   map[string]string{"email": email, "password": password},
		NoAuth: true,
		Label:  "login",
	})
	if err != nil {
		return httpapi.Token{}, err
	}
	// Decoding errors quote the body near the fault; a login body holds the
	// token, not yet registered for redaction, so they are not passed on.
	var env envelope
	if httpapi.DecodeJSON(resp.Body, &env) != nil {
		return httpapi.Token{}, fmt.Errorf("%s: login: answer is not the documented JSON (%d bytes)", c.Name(), len(resp.Body))
	}
	if env.failed() {
		return httpapi.Token{}, fmt.Errorf("%w: %s: login refused: %q", connectors.ErrConfig, c.Name(), c.Redact(env.Message))
	}
	var data struct {
		AccessToken string `json:"access_token"`
	}
	if httpapi.DecodeJSON(env.Data, &data) != nil {
		return httpapi.Token{}, fmt.Errorf("%s: login: data is not an object with access_token", c.Name())
	}
	if data.AccessToken == "" {
		return httpapi.Token{}, fmt.Errorf("%s: login answered without data.access_token", c.Name())
	}
	return httpapi.Token{Value: data.AccessToken}, nil
}

// Listing is one answer of the leads endpoint, whatever its shape.
type Listing struct {
	// Leads holds each lead's JSON as it came.
	Leads []json.RawMessage
	// Paginated is true when data was a Laravel paginator; only then may
	// there be another page.
	Paginated bool
	// Next is the paginator's next_page_url; "" on the last page.
	Next string
}

// DecodeLeads reads a leads answer. data may be a single lead object, an
// array of leads, a Laravel paginator, or null. success:false is an error
// carrying the vendor's message.
func DecodeLeads(body []byte) (Listing, error) {
	var env envelope
	if err := httpapi.DecodeJSON(body, &env); err != nil {
		return Listing{}, err
	}
	if env.failed() {
		return Listing{}, fmt.Errorf("roborder refused: %q", env.Message)
	}
	if env.Success == nil && len(env.Data) == 0 {
		// Neither key: not an answer of this API (an error page, a proxy's JSON).
		return Listing{}, fmt.Errorf("answer has neither success nor data (message %q)", env.Message)
	}
	data := bytes.TrimSpace(env.Data)
	switch {
	case len(data) == 0 || string(data) == "null":
		return Listing{}, nil
	case data[0] == '[':
		var leads []json.RawMessage
		if err := httpapi.DecodeJSON(data, &leads); err != nil {
			return Listing{}, fmt.Errorf("data: %w", err)
		}
		return Listing{Leads: leads}, nil
	case data[0] == '{':
		return decodeObject(data)
	}
	return Listing{}, fmt.Errorf("data is neither a lead, a list of leads nor a paginator (starts with %q)", data[:1])
}

// decodeObject tells a paginator from a single lead: a paginator has a
// "data" array and at least one of Laravel's paging keys.
func decodeObject(data []byte) (Listing, error) {
	var keys map[string]json.RawMessage
	if err := httpapi.DecodeJSON(data, &keys); err != nil {
		return Listing{}, fmt.Errorf("data: %w", err)
	}
	if len(keys) == 0 {
		return Listing{}, nil // "data":{} — nothing to read
	}
	_, hasData := keys["data"]
	_, hasNext := keys["next_page_url"]
	_, hasCurrent := keys["current_page"]
	_, hasLast := keys["last_page"]
	if !hasData || !(hasNext || hasCurrent || hasLast) {
		return Listing{Leads: []json.RawMessage{json.RawMessage(data)}}, nil
	}
	// The keys are already split out: decode the two that matter, not the
	// whole paginator again. A null next_page_url leaves Next "".
	l := Listing{Paginated: true}
	if err := httpapi.DecodeJSON(keys["data"], &l.Leads); err != nil {
		return Listing{}, fmt.Errorf("data (paginator): data: %w", err)
	}
	if hasNext {
		if err := json.Unmarshal(keys["next_page_url"], &l.Next); err != nil {
			return Listing{}, fmt.Errorf("data (paginator): next_page_url: %w", err)
		}
	}
	return l, nil
}

// page fetches one answer of the leads endpoint: the first page by number,
// later ones by the paginator's absolute link (checked against the base
// URL's host by the HTTP client).
func (c *Client) page(ctx context.Context, link string, label string) (Listing, error) {
	req := &httpapi.Request{Method: http.MethodGet, Path: c.upgrade(link), Label: label}
	if link == "" {
		req.Path, req.Query = leadsPath, url.Values{"page": {"1"}}
	}
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		return Listing{}, connectors.ConfigError(err)
	}
	l, err := DecodeLeads(resp.Body)
	if err != nil {
		return Listing{}, fmt.Errorf("%s: %s: %w", c.http.Name(), label, err)
	}
	return l, nil
}

// upgrade turns an http:// link on the base URL's own host into https://
// when the base URL is https. Laravel behind a TLS-terminating proxy that it
// does not trust builds its paginator links with http://; following them
// as given would be refused as another origin (or, worse, sent in clear).
func (c *Client) upgrade(link string) string {
	base := c.http.Base()
	u, err := url.Parse(link)
	if err != nil || base.Scheme != "https" || u.Scheme != "http" || !strings.EqualFold(u.Host, base.Host) {
		return link
	}
	u.Scheme = "https"
	return u.String()
}
