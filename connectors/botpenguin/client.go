// Package botpenguin reads the leads a BotPenguin chatbot collects (its inbox
// chats) and can write a lead back. See README.md for the endpoints and the
// field mapping.
package botpenguin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
)

// Paths, relative to the instance's base URL.
const (
	chatsPath = "inbox/direct/chats"
	leadPath  = "inbox/direct/lead"
)

// Chat types of the chats endpoint.
const (
	TypeLead    = "lead"
	TypeNonLead = "non-lead"
)

// Statuses are the status words BotPenguin knows ("DEPENDANCY" is the
// vendor's spelling).
var Statuses = []string{"OPEN", "INPROGRESS", "REVIEW", "ONHOLD", "DEPENDANCY", "CLOSED"}

// Options are BotPenguin's type-specific instance keys.
type Options struct {
	BotID      string `yaml:"bot_id"`
	CustomerID string `yaml:"customer_id"`
}

// decodeOptions reads and checks the options; errors name the key.
func decodeOptions(in *connectors.Instance) (Options, error) {
	var o Options
	if err := in.DecodeOptions(&o); err != nil {
		return o, err
	}
	o.BotID, o.CustomerID = strings.TrimSpace(o.BotID), strings.TrimSpace(o.CustomerID)
	if o.BotID == "" {
		return o, fmt.Errorf("connectors.%s.bot_id: required (the bot's id from its script or page URL)", in.Name)
	}
	if o.CustomerID == "" {
		return o, fmt.Errorf("connectors.%s.customer_id: required (the account's user id from the bot script)", in.Name)
	}
	return o, nil
}

// Client is BotPenguin's API over the instance's shared HTTP client, bound
// to one bot of one customer account.
type Client struct {
	http       *httpapi.Client
	botID      string
	customerID string
}

// NewClient builds the client for in.
func NewClient(in *connectors.Instance) (*Client, error) {
	if err := in.RequireAuth("token"); err != nil {
		return nil, err
	}
	o, err := decodeOptions(in)
	if err != nil {
		return nil, err
	}
	hc, err := in.HTTP(authenticator(in.Auth["token"]))
	if err != nil {
		return nil, err
	}
	return &Client{http: hc, botID: o.BotID, customerID: o.CustomerID}, nil
}

// authenticator sends the one token in all three forms BotPenguin has
// documented: the service reads whichever it knows, and which one a given
// deployment knows is not documented. The token is static: a 401 fails the run.
func authenticator(token string) httpapi.Authenticator {
	return httpapi.StaticAuth{Headers: map[string]string{
		"x-bot-token":   token,
		"x-bp-token":    token,
		"Authorization": "Bearer " + token,
		"authtype":      "Key",
	}}
}

// envelope is every BotPenguin answer. Success is a pointer so that an
// answer without the key is not read as a failure.
type envelope struct {
	Success *bool           `json:"success"`
	Message string          `json:"message"`
	Code    json.RawMessage `json:"code"`
	Data    json.RawMessage `json:"data"`
}

func (e *envelope) failed() bool { return e.Success != nil && !*e.Success }

func decodeEnvelope(body []byte) (envelope, error) {
	var env envelope
	if err := httpapi.DecodeJSON(body, &env); err != nil {
		return env, err
	}
	if env.failed() {
		return env, fmt.Errorf("botpenguin refused: %q", env.Message)
	}
	if env.Success == nil && len(env.Data) == 0 {
		// Neither key: not an answer of this API (an error page, a proxy's JSON).
		return env, fmt.Errorf("answer has neither success nor data (message %q)", env.Message)
	}
	return env, nil
}

// DecodeChats reads one chats page: the raw JSON of each chat. null or a
// missing data is an empty page.
func DecodeChats(body []byte) ([]json.RawMessage, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return nil, err
	}
	data := bytes.TrimSpace(env.Data)
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	if data[0] != '[' {
		return nil, fmt.Errorf("data is not a list of chats (starts with %q)", data[:1])
	}
	var chats []json.RawMessage
	if err := httpapi.DecodeJSON(data, &chats); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return chats, nil
}

// Chats fetches page (from 1) of the bot's chats of type typ (TypeLead or
// TypeNonLead). label names the page in errors.
func (c *Client) Chats(ctx context.Context, page int, typ, label string) ([]json.RawMessage, error) {
	resp, err := c.http.Do(ctx, &httpapi.Request{
		Method: http.MethodGet,
		Path:   chatsPath,
		Query: url.Values{
			"botId":      {c.botID},
			"customerId": {c.customerID},
			"page":       {strconv.Itoa(page)},
			"type":       {typ},
		},
		Label: label,
	})
	if err != nil {
		return nil, connectors.ConfigError(err)
	}
	chats, err := DecodeChats(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.http.Name(), label, err)
	}
	return chats, nil
}

// Attribute is one custom attribute of a chat.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Note is one note on a chat.
type Note struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// LeadUpdate is a lead write-back: UUID names the chat user, every other
// field is optional and left out when empty.
type LeadUpdate struct {
	UUID       string      `json:"uuid"`
	Name       string      `json:"name,omitempty"`
	Email      string      `json:"email,omitempty"`
	Phone      string      `json:"phone,omitempty"`
	DialCode   string      `json:"dialCode,omitempty"` // with its "+", added when missing
	Status     string      `json:"status,omitempty"`   // one of Statuses
	Tags       []string    `json:"tags,omitempty"`
	Attributes []Attribute `json:"attributes,omitempty"`
	Notes      []Note      `json:"notes,omitempty"`
	AgentID    string      `json:"agentId,omitempty"`
}

type upsertBody struct {
	BotID      string `json:"botId"`
	CustomerID string `json:"customerId"`
	LeadUpdate
}

// UpsertLead creates or updates the lead u.UUID of the client's bot
// (PUT inbox/direct/lead). The call is keyed by uuid, so a retry cannot
// make a second lead. It checks what BotPenguin would refuse before sending.
func (c *Client) UpsertLead(ctx context.Context, u LeadUpdate) error {
	u.UUID = strings.TrimSpace(u.UUID)
	if u.UUID == "" {
		return errors.New("botpenguin: lead upsert: uuid is required")
	}
	if u.Status != "" {
		u.Status = strings.ToUpper(strings.TrimSpace(u.Status))
		if !slices.Contains(Statuses, u.Status) {
			return fmt.Errorf("botpenguin: lead upsert: status %q is not one of %v", u.Status, Statuses)
		}
	}
	if d := strings.TrimSpace(u.DialCode); d != "" && !strings.HasPrefix(d, "+") {
		u.DialCode = "+" + d
	}
	label := "lead upsert"
	resp, err := c.http.Do(ctx, &httpapi.Request{
		Method: http.MethodPut,
		Path:   leadPath,
		JSON:   upsertBody{BotID: c.botID, CustomerID: c.customerID, LeadUpdate: u},
		Label:  label,
	})
	if err != nil {
		return connectors.ConfigError(err)
	}
	if _, err := decodeEnvelope(resp.Body); err != nil {
		return fmt.Errorf("%s: %s: %w", c.http.Name(), label, err)
	}
	return nil
}
