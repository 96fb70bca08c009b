// Package botpenguintest is a fake BotPenguin API for tests and the demo:
// the inbox chats list (lead and non-lead, both contact shapes, paged with
// no total) and the lead upsert, behind BotPenguin's token headers.
package botpenguintest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/leadsync/leadsync/connectors/vendortest"
)

// Identifiers and the token the fake accepts by default.
const (
	Token      = "bp-key-3f9a1c7e5d2b4a6890c1e2f3"
	BotID      = "65a1f0c2e4b0a1b2c3d4e5f6"
	CustomerID = "65a1efe0e4b0a1b2c3d4e001"
)

// Page sizes the fake allows; BotPenguin's own is not documented.
const (
	MinPageSize     = 2
	MaxPageSize     = 10
	DefaultPageSize = 10
)

// Shape is how the chats list writes a chat's contact details.
type Shape int

const (
	// PerChat writes each chat as its Nested field says.
	PerChat Shape = iota
	// Flat writes name, email, phone and dialCode at the top level.
	Flat
	// Nested writes profile.userDetails.{name,email,contact.phone{number,prefix}}.
	Nested
)

// Statuses the service accepts ("DEPENDANCY" is its spelling).
var Statuses = []string{"OPEN", "INPROGRESS", "REVIEW", "ONHOLD", "DEPENDANCY", "CLOSED"}

// LastMessage is a chat's last message summary.
type LastMessage struct {
	By      string `json:"by"`
	At      string `json:"at"`
	Text    string `json:"text,omitempty"`
	Channel string `json:"channel,omitempty"`
}

// Attribute is a custom attribute; Value may be any JSON value.
type Attribute struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// Note is a note on a chat.
type Note struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Chat is a chat as the fake stores it. The contact fields are written flat
// or nested as the Shape says.
type Chat struct {
	ID          string
	UUID        string
	Status      string
	CreatedAt   string
	UpdatedAt   string
	LastMessage *LastMessage
	Tags        []string
	Attributes  []Attribute
	Notes       []Note

	Name     string
	Email    string
	Phone    string // the number as typed
	DialCode string // "+91"; written as the nested prefix too

	// Lead lists the chat under type=lead; otherwise under type=non-lead.
	Lead bool
	// Nested chooses the contact shape in the PerChat shape.
	Nested bool
}

// Fake is the fake service. It is safe for concurrent use.
type Fake struct {
	vendortest.Host

	mu       sync.Mutex
	chats    []Chat
	shape    Shape
	pageSize int
}

// New returns an empty fake with page size DefaultPageSize and the PerChat shape.
func New() *Fake {
	f := &Fake{pageSize: DefaultPageSize}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /inbox/direct/chats", f.authed(f.list))
	mux.HandleFunc("PUT /inbox/direct/lead", f.authed(f.upsert))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
	})
	f.Host = vendortest.NewHost(mux)
	return f
}

// SetShape chooses how contact details are written.
func (f *Fake) SetShape(s Shape) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shape = s
}

// SetPageSize sets the chats per page, MinPageSize..MaxPageSize.
func (f *Fake) SetPageSize(n int) {
	if n < MinPageSize || n > MaxPageSize {
		panic("botpenguintest: page size out of range")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pageSize = n
}

// AddChats stores chats in the order given; an empty ID gets a fresh
// ObjectId-like one.
func (f *Fake) AddChats(cs ...Chat) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		if c.ID == "" {
			c.ID = objectID()
		}
		f.chats = append(f.chats, c)
	}
}

// Chat returns the stored chat with this uuid.
func (f *Fake) Chat(uuid string) (Chat, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.chats {
		if c.UUID == uuid {
			return c, true
		}
	}
	return Chat{}, false
}

// authed accepts the token in any one of the headers BotPenguin has
// documented, as the real service reads whichever it knows.
func (f *Fake) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := r.Header
		bearer, _ := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
		ok := h.Get("x-bot-token") == Token || h.Get("x-bp-token") == Token ||
			(bearer == Token && strings.EqualFold(h.Get("authtype"), "Key"))
		if !ok {
			fail(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		next(w, r)
	}
}

func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, k := range []string{"botId", "customerId", "page", "type"} {
		if q.Get(k) == "" {
			fail(w, http.StatusBadRequest, k+" is required")
			return
		}
	}
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		fail(w, http.StatusBadRequest, "page must be a positive number")
		return
	}
	typ := q.Get("type")
	if typ != "lead" && typ != "non-lead" {
		fail(w, http.StatusBadRequest, `type must be "lead" or "non-lead"`)
		return
	}
	if q.Get("botId") != BotID || q.Get("customerId") != CustomerID {
		fail(w, http.StatusNotFound, "Bot not found")
		return
	}

	f.mu.Lock()
	var match []Chat
	for _, c := range f.chats {
		if c.Lead == (typ == "lead") {
			match = append(match, c)
		}
	}
	shape, size := f.shape, f.pageSize
	f.mu.Unlock()

	from := min((page-1)*size, len(match))
	to := min(from+size, len(match))
	data := make([]map[string]any, 0, to-from)
	for _, c := range match[from:to] {
		data = append(data, render(c, shape))
	}
	ok(w, "Chats fetched successfully", data)
}

// render writes a chat as BotPenguin does, its contact in the chosen shape.
func render(c Chat, shape Shape) map[string]any {
	m := map[string]any{
		"_id":        c.ID,
		"uuid":       c.UUID,
		"status":     c.Status,
		"createdAt":  c.CreatedAt,
		"updatedAt":  c.UpdatedAt,
		"tags":       nonNil(c.Tags),
		"attributes": nonNil(c.Attributes),
		"notes":      nonNil(c.Notes),
	}
	if c.LastMessage != nil {
		m["lastMessage"] = c.LastMessage
	}
	nested := shape == Nested || (shape == PerChat && c.Nested)
	if !nested {
		m["name"], m["email"], m["phone"], m["dialCode"] = c.Name, c.Email, c.Phone, c.DialCode
		return m
	}
	m["profile"] = map[string]any{
		"userDetails": map[string]any{
			"name":  c.Name,
			"email": c.Email,
			"contact": map[string]any{
				"phone": map[string]any{"number": c.Phone, "prefix": c.DialCode},
			},
		},
	}
	return m
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type upsertBody struct {
	UUID       string      `json:"uuid"`
	BotID      string      `json:"botId"`
	CustomerID string      `json:"customerId"`
	AgentID    string      `json:"agentId"`
	Name       *string     `json:"name"`
	Email      *string     `json:"email"`
	Phone      *string     `json:"phone"`
	DialCode   *string     `json:"dialCode"`
	Status     *string     `json:"status"`
	Picture    *string     `json:"picture"`
	Tags       []string    `json:"tags"`
	Attributes []Attribute `json:"attributes"`
	Notes      []Note      `json:"notes"`
}

// upsert creates or updates the chat user uuid as a lead: given scalar
// fields replace, tags are added, attributes are set by key, notes appended.
func (f *Fake) upsert(w http.ResponseWriter, r *http.Request) {
	var b upsertBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		fail(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	for _, f := range []struct{ key, value string }{{"uuid", b.UUID}, {"botId", b.BotID}, {"customerId", b.CustomerID}} {
		if f.value == "" {
			fail(w, http.StatusBadRequest, f.key+" is required")
			return
		}
	}
	if b.BotID != BotID || b.CustomerID != CustomerID {
		fail(w, http.StatusNotFound, "Bot not found")
		return
	}
	if b.Status != nil && !slices.Contains(Statuses, *b.Status) {
		fail(w, http.StatusBadRequest, "status must be one of "+strings.Join(Statuses, ", "))
		return
	}
	if b.DialCode != nil && *b.DialCode != "" && !strings.HasPrefix(*b.DialCode, "+") {
		fail(w, http.StatusBadRequest, `dialCode must include the "+" sign`)
		return
	}

	f.mu.Lock()
	i := -1
	for j, c := range f.chats {
		if c.UUID == b.UUID {
			i = j
			break
		}
	}
	if i < 0 {
		f.chats = append(f.chats, Chat{ID: objectID(), UUID: b.UUID, Status: "OPEN"})
		i = len(f.chats) - 1
	}
	c := &f.chats[i]
	c.Lead = true
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.Name, b.Name)
	set(&c.Email, b.Email)
	set(&c.Phone, b.Phone)
	set(&c.DialCode, b.DialCode)
	set(&c.Status, b.Status)
	for _, t := range b.Tags {
		if !slices.Contains(c.Tags, t) {
			c.Tags = append(c.Tags, t)
		}
	}
	for _, a := range b.Attributes {
		replaced := false
		for k := range c.Attributes {
			if c.Attributes[k].Key == a.Key {
				c.Attributes[k].Value, replaced = a.Value, true
			}
		}
		if !replaced {
			c.Attributes = append(c.Attributes, a)
		}
	}
	c.Notes = append(c.Notes, b.Notes...)
	out := render(*c, f.shape)
	f.mu.Unlock()
	ok(w, "Lead updated successfully", out)
}

func ok(w http.ResponseWriter, msg string, data any) {
	vendortest.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": msg, "code": http.StatusOK, "data": data})
}

func fail(w http.ResponseWriter, status int, msg string) {
	vendortest.WriteJSON(w, status, map[string]any{"success": false, "message": msg, "code": status})
}

func objectID() string { return vendortest.RandomHex(12) }
