// Package epixel connects leadsync to Epixel's leads & CRM API: the target
// every merged person is pushed into, and a source that reads the CRM's
// leads back (when its instance has a schedule).
package epixel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
)

// client is Epixel's API over the shared HTTP client.
type client struct {
	http     *httpapi.Client
	pageSize int
}

func newClient(in *connectors.Instance, pageSize int) (*client, error) {
	s := &session{
		apiKey:   in.Auth["api_key"],
		username: in.Auth["username"],
		password: in.Auth["password"],
		log:      in.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	h, err := in.HTTP(&httpapi.TokenAuth{Login: s.login, Set: s.set})
	if err != nil {
		return nil, err
	}
	return &client{http: h, pageSize: pageSize}, nil
}

// openRole is what NewSource and NewTarget both do first: read the options
// and build the client with their page size.
func openRole(in *connectors.Instance) (*options, *client, error) {
	opt, err := parseOptions(in)
	if err != nil {
		return nil, nil, err
	}
	c, err := newClient(in, opt.PageSize)
	if err != nil {
		return nil, nil, err
	}
	return opt, c, nil
}

// session holds what Epixel issued, in memory only. The access token lives
// minutes and comes with no expiry we can read, so it is renewed on 401:
// httpapi.TokenAuth calls login, which tries the refresh token first and
// logs in with the password when that fails.
type session struct {
	apiKey, username, password string
	log                        *slog.Logger

	mu      sync.Mutex
	refresh string
}

func (s *session) set(req *http.Request, tok httpapi.Token) {
	req.Header.Set("apikey", s.apiKey)
	req.Header.Set("Authorization", "Bearer "+tok.Value)
}

func (s *session) login(ctx context.Context, c *httpapi.Client) (httpapi.Token, error) {
	s.mu.Lock()
	refresh := s.refresh
	s.mu.Unlock()
	if refresh != "" {
		tok, err := s.renew(ctx, c, refresh)
		if err == nil || errors.Is(err, connectors.ErrConfig) || ctx.Err() != nil {
			return tok, err
		}
		// The refresh token has a lifetime too; the password still works.
		s.log.Debug("token refresh failed, logging in again", "connector", c.Name(), "err", err)
	}
	resp, err := c.Do(ctx, &httpapi.Request{
		Method: http.MethodPost, Path: "user/login/", Label: "login",
		JSON:   map[string]string{"username": s.username, "password": s.password},
		Header: s.keyHeader(), NoAuth: true,
	})
	if err != nil {
		if httpapi.IsStatus(err, 400, 401) {
			return httpapi.Token{}, fmt.Errorf("%w: epixel refused the username or password: %w", connectors.ErrConfig, err)
		}
		return httpapi.Token{}, wrongKey(err)
	}
	access, newRefresh, err := decodeTokens(resp.Body)
	if err != nil {
		return httpapi.Token{}, fmt.Errorf("%s: login answer: %w", c.Name(), err)
	}
	s.keep(newRefresh)
	return httpapi.Token{Value: access, Extra: map[string]string{"refresh": newRefresh}}, nil
}

// renew trades the refresh token for a new access token.
func (s *session) renew(ctx context.Context, c *httpapi.Client, refresh string) (httpapi.Token, error) {
	resp, err := c.Do(ctx, &httpapi.Request{
		Method: http.MethodPost, Path: "user/token/refresh/", Label: "token refresh",
		JSON:   map[string]string{"refresh": refresh},
		Header: s.keyHeader(), NoAuth: true,
	})
	if err != nil {
		return httpapi.Token{}, wrongKey(err)
	}
	access, rotated, err := decodeTokens(resp.Body)
	if err != nil {
		return httpapi.Token{}, fmt.Errorf("%s: token refresh answer: %w", c.Name(), err)
	}
	if rotated != "" {
		s.keep(rotated)
		refresh = rotated
	}
	return httpapi.Token{Value: access, Extra: map[string]string{"refresh": refresh}}, nil
}

func (s *session) keep(refresh string) {
	s.mu.Lock()
	s.refresh = refresh
	s.mu.Unlock()
}

// keyHeader carries the apikey on the login and refresh calls, which skip
// the Authenticator: Epixel wants the key on every call.
func (s *session) keyHeader() http.Header {
	return http.Header{"Apikey": {s.apiKey}}
}

// list reads leads/list/ with filter, page by page, calling visit with each
// page's label and items. The paginated shape is followed by its next links;
// the bare array is paged by offset until a short page. A server that ignores
// offset would answer the same page forever: a bare page with no new slug
// ends the listing.
func (c *client) list(ctx context.Context, filter url.Values, visit func(label string, items []jsonItem) error) error {
	offset := 0
	link := ""
	seen := map[string]bool{}
	for {
		req := &httpapi.Request{Method: http.MethodGet}
		if link != "" {
			req.Path = link
			req.Label = "leads " + linkLabel(link)
		} else {
			q := url.Values{}
			for k, v := range filter {
				q[k] = v
			}
			q.Set("offset", strconv.Itoa(offset))
			q.Set("limit", strconv.Itoa(c.pageSize))
			req.Path, req.Query = "leads/list/", q
			req.Label = fmt.Sprintf("leads offset %d", offset)
		}
		resp, err := c.http.Do(ctx, req)
		if err != nil {
			return err
		}
		page, err := decodeList(resp.Body)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", c.http.Name(), req.Label, err)
		}
		items := make([]jsonItem, len(page.Items))
		fresh := false
		for i, raw := range page.Items {
			items[i] = jsonItem{Raw: raw, Slug: slugOf(raw)}
			if !seen[items[i].Slug] {
				fresh = true
			}
			seen[items[i].Slug] = true
		}
		if !page.Paginated && offset > 0 && !fresh {
			return nil
		}
		if err := visit(req.Label, items); err != nil {
			return err
		}
		if page.Paginated {
			if page.Next == "" || len(page.Items) == 0 {
				return nil
			}
			u, err := c.http.Base().Parse(page.Next)
			if err != nil {
				return fmt.Errorf("%s: %s: bad next link: %w", c.http.Name(), req.Label, err)
			}
			if u.String() == link {
				return fmt.Errorf("%s: %s: next link points at the same page", c.http.Name(), req.Label)
			}
			link = u.String()
			continue
		}
		if len(page.Items) < c.pageSize {
			return nil
		}
		offset += len(page.Items)
	}
}

// jsonItem is one lead of a list page, undecoded, with its slug.
type jsonItem struct {
	Raw  []byte
	Slug string
}

func slugOf(raw []byte) string {
	var s struct {
		Slug text `json:"slug"`
	}
	if httpapi.DecodeJSON(raw, &s) != nil {
		return ""
	}
	return string(s.Slug)
}

// linkLabel names a next-link page by its offset when it has one.
func linkLabel(link string) string {
	u, err := url.Parse(link)
	if err == nil {
		if off := u.Query().Get("offset"); off != "" {
			return "offset " + off
		}
		if p := u.Query().Get("page"); p != "" {
			return "page " + p
		}
	}
	return "next page"
}

// view reads one lead with its notes.
func (c *client) view(ctx context.Context, slug string) (apiLead, error) {
	resp, err := c.http.Do(ctx, &httpapi.Request{
		Method: http.MethodGet, Path: "leads/view/lead/", Query: url.Values{"slug": {slug}}, Label: "view lead",
	})
	if err != nil {
		return apiLead{}, err
	}
	data, err := unwrap(resp.Body)
	if err != nil {
		return apiLead{}, fmt.Errorf("%s: view lead: %w", c.http.Name(), err)
	}
	l, _, err := decodeLead(data)
	if err != nil {
		return apiLead{}, fmt.Errorf("%s: view lead: %w", c.http.Name(), err)
	}
	return l, nil
}

// post sends a multipart write and returns the envelope's data.
func (c *client) post(ctx context.Context, path, label string, form []httpapi.Field, once bool) ([]byte, error) {
	resp, err := c.http.Do(ctx, &httpapi.Request{
		Method: http.MethodPost, Path: path, Form: form, Label: label, NoRetry: once,
	})
	if err != nil {
		return nil, err
	}
	data, err := unwrap(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %s answer: %w", c.http.Name(), label, err)
	}
	return data, nil
}

// idField reads key ("slug" or "note_id") from an object, as a string or
// a number; the other fields may be of any type. data is what unwrap
// returned, so it is valid JSON already (decodePart).
func idField(data []byte, key string) (string, error) { return idFieldWith(data, key, decodePart) }

// idFieldWith is idField with dec for its decoding. The object is decoded
// into the two keys the answers are read for, not into a map of all its
// fields: a create answer's lead has a dozen, and their names and values
// were a third of a push's decoding allocations.
func idFieldWith(data []byte, key string, dec decoder) (string, error) {
	var obj struct {
		Slug   json.RawMessage `json:"slug"`
		NoteID json.RawMessage `json:"note_id"`
	}
	if d := bytes.TrimSpace(data); len(d) == 0 || d[0] != '{' || dec(d, &obj) != nil {
		return "", fmt.Errorf("want an object with %q, got %s", key, snippet(data))
	}
	var v json.RawMessage
	switch key {
	case "slug":
		v = obj.Slug
	case "note_id":
		v = obj.NoteID
	default:
		panic("epixel: idField reads slug or note_id, not " + key)
	}
	var id text
	if v != nil && dec(v, &id) == nil && id != "" {
		return string(id), nil
	}
	return "", fmt.Errorf("no %q in the answer", key)
}
