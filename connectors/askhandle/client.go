// Package askhandle reads leads and chat rooms from AskHandle, an AI chat
// support widget, through its Django REST Framework API.
package askhandle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
)

// Endpoint paths, relative to the instance's base URL.
const (
	pathLogin    = "api/v1/auth/api-token"
	pathLeads    = "api/v1/leads/"
	pathRooms    = "api/v1/rooms/"
	pathMessages = "api/v1/messages/"
)

// authFor picks the credential form the instance configures: a dashboard
// api_key is sent as is; username and password are exchanged for a token at
// first use (and again after a 401, by httpapi). Both end up as
// "Authorization: Token <key>".
func authFor(in *connectors.Instance) (httpapi.Authenticator, error) {
	if err := checkAuth(in); err != nil {
		return nil, err
	}
	if key := in.Auth["api_key"]; key != "" {
		return httpapi.StaticAuth{Headers: map[string]string{"Authorization": "Token " + key}}, nil
	}
	user, pass := in.Auth["username"], in.Auth["password"]
	return &httpapi.TokenAuth{
		Login: func(ctx context.Context, c *httpapi.Client) (httpapi.Token, error) {
			return login(ctx, c, user, pass)
		},
		Set: func(req *http.Request, tok httpapi.Token) {
			req.Header.Set("Authorization", "Token "+tok.Value)
		},
		Now: in.Now,
	}, nil
}

// checkAuth accepts either api_key, or username and password.
func checkAuth(in *connectors.Instance) error {
	if in.Auth["api_key"] != "" {
		return nil
	}
	if in.Auth["username"] == "" && in.Auth["password"] == "" {
		return fmt.Errorf("connectors.%s.auth: missing [api_key] (or [username password])", in.Name)
	}
	return in.RequireAuth("username", "password")
}

// login exchanges username and password for the account's API token. Tokens
// do not expire; the token lives only in the client's memory.
func login(ctx context.Context, c *httpapi.Client, user, pass string) (httpapi.Token, error) {
	var out struct {
		Token string `json:"token"`
	}
	_, err := c.JSON(ctx, &httpapi.Request{
		Method: http.MethodPost,
		Path:   pathLogin,
		JSON:   map[string]string{"username": user, "password": pass},
		NoAuth: true,
		Label:  "login",
	}, &out)
	if err != nil {
		// DRF answers wrong credentials with 400 non_field_errors: retrying
		// cannot help, the configuration must change.
		if httpapi.IsStatus(err, 400, 401, 403) {
			return httpapi.Token{}, fmt.Errorf("%w: %w", connectors.ErrConfig, err)
		}
		return httpapi.Token{}, err
	}
	return httpapi.Token{Value: out.Token}, nil
}

// list is one decoded page of a list endpoint, in either shape vendors.md
// names: a bare JSON array, or DRF's {"count","next","previous","results"}.
type list struct {
	Items     []json.RawMessage
	Next      string // absolute URL of the next page; "" on the last page
	Paginated bool
}

// decodeList reads a list page in either shape.
func decodeList(body []byte) (list, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []json.RawMessage
		if err := httpapi.DecodeJSON(trimmed, &items); err != nil {
			return list{}, err
		}
		return list{Items: items}, nil
	}
	var env struct {
		Count   *int64             `json:"count"`
		Next    *string            `json:"next"`
		Results *[]json.RawMessage `json:"results"`
	}
	if err := httpapi.DecodeJSON(trimmed, &env); err != nil {
		return list{}, err
	}
	if env.Results == nil {
		return list{}, errors.New(`unexpected JSON: neither a list nor an object with "results"`)
	}
	l := list{Items: *env.Results, Paginated: true}
	if env.Next != nil {
		l.Next = strings.TrimSpace(*env.Next)
	}
	return l, nil
}

// pager walks every page of one list endpoint.
type pager struct {
	c        *httpapi.Client
	path     string
	query    url.Values // filters; limit and offset are added by the pager
	pageSize int
	// label names page n (from 1) that starts at item offset, for errors and Page labels.
	label func(n, offset int) string
}

// each calls fn with every page, in order. With the paginated shape it
// follows "next" (through the client, so a link to another host is refused);
// with a bare array it asks for the next offset until a page is shorter than
// the limit. It also stops when the server evidently ignores paging (a page
// longer than the limit, a page of items already seen, a "next" link already
// followed), so a vendor that answers the whole list every time cannot make
// it loop.
func (p *pager) each(ctx context.Context, fn func(label string, items []json.RawMessage) error) error {
	seenLinks := map[string]bool{}
	// Items are remembered by a 64-bit hash of their uuid, not the uuid: the
	// set spans a whole listing (every message of the account), and a hash
	// takes 8 bytes where a uuid string takes ~60. Two uuids colliding would
	// only make a page look less fresh; stopping needs every item of a page
	// to have been seen.
	seed := maphash.MakeSeed()
	seenItems := map[uint64]bool{}
	offset, next := 0, ""
	for n := 1; ; n++ {
		label := p.label(n, offset)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %s: %w", p.c.Name(), label, err)
		}
		req := &httpapi.Request{Method: http.MethodGet, Path: next, Label: label}
		if next == "" {
			q := url.Values{}
			for k, v := range p.query {
				q[k] = v
			}
			q.Set("limit", strconv.Itoa(p.pageSize))
			q.Set("offset", strconv.Itoa(offset))
			req.Path, req.Query = p.path, q
		}
		resp, err := p.c.Do(ctx, req)
		if err != nil {
			return connectors.ConfigError(err)
		}
		page, err := decodeList(resp.Body)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p.c.Name(), label, err)
		}
		fresh := 0
		for _, it := range page.Items {
			id := itemUUID(it)
			if id == "" {
				fresh++ // no uuid: cannot tell, so not a repeat
				continue
			}
			if h := maphash.String(seed, id); !seenItems[h] {
				seenItems[h] = true
				fresh++
			}
		}
		if len(page.Items) > 0 && fresh == 0 {
			return nil // the server answered a page we already had
		}
		if err := fn(label, page.Items); err != nil {
			return err
		}
		offset += len(page.Items)
		if page.Paginated {
			if page.Next == "" || seenLinks[page.Next] {
				return nil
			}
			seenLinks[page.Next] = true
			next = page.Next
			continue
		}
		if len(page.Items) != p.pageSize {
			return nil // shorter: the last page; longer: the server ignores limit
		}
	}
}

// itemUUID reads an item's uuid for loop detection; "" when it has none.
func itemUUID(raw json.RawMessage) string {
	var v struct {
		UUID flexString `json:"uuid"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return string(v.UUID)
}

// apiLead is the lead object.
type apiLead struct {
	UUID          flexString `json:"uuid"`
	Nickname      flexString `json:"nickname"`
	Email         flexString `json:"email"`
	PhoneNumber   flexString `json:"phone_number"`
	Device        flexString `json:"device"`
	FromPageTitle flexString `json:"from_page_title"`
	Referrer      flexString `json:"referrer"`
	CreatedAt     flexString `json:"created_at"`
}

// apiRoom is the room object. Messages may be inline objects (merged with
// the /messages/ list by uuid) or bare uuids (ignored: /messages/ has them).
type apiRoom struct {
	UUID      flexString        `json:"uuid"`
	Label     flexString        `json:"label"`
	Name      flexString        `json:"name"`
	Rating    json.RawMessage   `json:"rating"`
	IsBotUse  flexBool          `json:"is_bot_use"`
	CreatedAt flexString        `json:"created_at"`
	Messages  []json.RawMessage `json:"messages"`
}

// apiMessage is the message object.
type apiMessage struct {
	UUID            flexString `json:"uuid"`
	Nickname        flexString `json:"nickname"`
	Email           flexString `json:"email"`
	PhoneNumber     flexString `json:"phone_number"`
	Body            flexString `json:"body"`
	IsSupportSender flexBool   `json:"is_support_sender"`
	SentAt          flexString `json:"sent_at"`
	Room            roomRef    `json:"room"`
}

// roomRef is a message's room: {"uuid": "..."} or a bare uuid string.
type roomRef string

func (r *roomRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*r = ""
		return nil
	case len(b) > 0 && b[0] == '{':
		var v struct {
			UUID flexString `json:"uuid"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*r = roomRef(v.UUID)
		return nil
	}
	var s flexString
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("room: want an object with uuid or a uuid string, got %.40s", b)
	}
	*r = roomRef(s)
	return nil
}

// flexString is a vendor value that is text to us in any JSON scalar type.
type flexString = httpapi.Text

// flexBool accepts true/false, "true"/"false" and 0/1, as DRF serializers
// behind hand-written views sometimes answer; null is false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.Trim(string(bytes.TrimSpace(b)), `"`)) {
	case "true", "1":
		*f = true
	case "false", "0", "null", "":
		*f = false
	default:
		return fmt.Errorf("want a boolean, got %.40s", b)
	}
	return nil
}
