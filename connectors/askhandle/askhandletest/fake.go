// Package askhandletest is a fake AskHandle API, written from
// shared/vendors.md: Django REST Framework token auth, the leads list with
// whole-day date filters, rooms and messages, in either list shape
// (a bare array or DRF's {"count","next","previous","results"}), with DRF's
// error bodies.
package askhandletest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leadsync/leadsync/connectors/vendortest"
)

// Credentials the fake accepts by default.
const (
	APIKey   = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
	Username = "test"
	Password = "test-password"
)

// DRF's error bodies, as the fake sends them.
const (
	InvalidTokenBody   = `{"detail":"Invalid token."}`
	NoCredentialsBody  = `{"detail":"Authentication credentials were not provided."}`
	ThrottledBody      = `{"detail":"Request was throttled. Expected available in 12 seconds."}`
	BadCredentialsBody = `{"non_field_errors":["Unable to log in with provided credentials."]}`
	NotFoundBody       = `{"detail":"Not found."}`
)

// DefaultLimit is the page size of the paginated shape when the request
// sends no limit (DRF's PAGE_SIZE).
const DefaultLimit = 100

// Shape is how a list endpoint answers.
type Shape int

const (
	// Paginated is DRF's LimitOffsetPagination envelope.
	Paginated Shape = iota
	// BareArray is a JSON array; limit and offset still apply when sent.
	BareArray
)

// Endpoint names a list endpoint, for SetShape.
type Endpoint string

// The fake's list endpoints.
const (
	Leads    Endpoint = "leads"
	Rooms    Endpoint = "rooms"
	Messages Endpoint = "messages"
)

// RoomField is how a message's room is written.
type RoomField int

const (
	// RoomObject writes "room": {"uuid": "..."}.
	RoomObject RoomField = iota
	// RoomString writes "room": "...".
	RoomString
)

// Inline is what a room's "messages" array holds.
type Inline int

const (
	// InlineNone writes "messages": [].
	InlineNone Inline = iota
	// InlineObjects writes the room's message objects.
	InlineObjects
	// InlineUUIDs writes the room's message uuids.
	InlineUUIDs
)

// Lead is AskHandle's lead object.
type Lead struct {
	UUID          string `json:"uuid"`
	Nickname      string `json:"nickname"`
	Email         string `json:"email"`
	PhoneNumber   string `json:"phone_number"`
	Device        string `json:"device"`
	FromPageTitle string `json:"from_page_title"`
	Referrer      string `json:"referrer"`
	CreatedAt     string `json:"created_at"` // RFC 3339
}

// Room is AskHandle's room object; its messages are added with AddMessage.
type Room struct {
	UUID      string `json:"uuid"`
	Label     string `json:"label"`
	Name      string `json:"name"`
	Rating    *int   `json:"rating"` // 1..5 or null
	IsBotUse  bool   `json:"is_bot_use"`
	CreatedAt string `json:"created_at"`
}

// Message is AskHandle's message object; Room is the room's uuid, written
// as an object or a string per SetRoomField.
type Message struct {
	UUID            string `json:"uuid"`
	Nickname        string `json:"nickname"`
	Email           string `json:"email"`
	PhoneNumber     string `json:"phone_number"`
	Body            string `json:"body"`
	IsSupportSender bool   `json:"is_support_sender"`
	SentAt          string `json:"sent_at"`
	Room            string `json:"-"`
}

// Fake is the fake AskHandle API. It is safe for concurrent use.
type Fake struct {
	vendortest.Host

	mu        sync.Mutex
	leads     []Lead
	rooms     []Room
	messages  []Message
	shapes    map[Endpoint]Shape
	roomField RoomField
	inline    Inline
	token     string
	tokens    int
}

// New returns an empty fake answering in the paginated shape.
func New() *Fake {
	f := &Fake{shapes: map[Endpoint]Shape{}}
	f.token = f.nextToken()
	f.Host = vendortest.NewHost(http.HandlerFunc(f.serve))
	return f
}

// SetShape makes the endpoints (all when none is named) answer in shape s.
func (f *Fake) SetShape(s Shape, endpoints ...Endpoint) {
	if len(endpoints) == 0 {
		endpoints = []Endpoint{Leads, Rooms, Messages}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range endpoints {
		f.shapes[e] = s
	}
}

// SetRoomField chooses how messages write their room.
func (f *Fake) SetRoomField(rf RoomField) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roomField = rf
}

// SetInline chooses what rooms carry in their "messages" array.
func (f *Fake) SetInline(in Inline) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inline = in
}

// AddLead stores a lead.
func (f *Fake) AddLead(l Lead) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leads = append(f.leads, l)
}

// AddRoom stores a room.
func (f *Fake) AddRoom(r Room) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms = append(f.rooms, r)
}

// AddMessage stores a message of room m.Room.
func (f *Fake) AddMessage(m Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.messages = append(f.messages, m)
}

// Token is the token login currently issues.
func (f *Fake) Token() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token
}

// RevokeToken replaces the user's token, as deleting it in the dashboard
// does: the old one answers 401, and the next login issues the new one.
func (f *Fake) RevokeToken() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token = f.nextToken()
}

// Throttle answers the next times API requests with DRF's 429 and
// Retry-After.
func (f *Fake) Throttle(times int, retryAfter string) {
	f.Recorder().Inject(vendortest.Fault{Match: "/api/v1/", Times: times, Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Body: ThrottledBody})
}

func (f *Fake) nextToken() string {
	f.tokens++
	return fmt.Sprintf("%040x", 0xa5c0ffee0000+f.tokens)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if path == "/api/v1/auth/api-token" {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r)
			return
		}
		f.login(w, r)
		return
	}
	var list func(*http.Request) ([]any, Shape, error)
	switch r.URL.Path {
	case "/api/v1/leads/":
		list = f.listLeads
	case "/api/v1/rooms/":
		list = f.listRooms
	case "/api/v1/messages/":
		list = f.listMessages
	default:
		writeJSON(w, http.StatusNotFound, NotFoundBody)
		return
	}
	if !f.authorized(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r)
		return
	}
	items, shape, err := list(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	paginate(w, r, items, shape)
}

// authorized checks DRF TokenAuthentication: "Token <key>", the keyword
// case-insensitive, the key exact.
func (f *Fake) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	kw, key, ok := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(kw, "Token") {
		w.Header().Set("WWW-Authenticate", "Token")
		writeJSON(w, http.StatusUnauthorized, NoCredentialsBody)
		return false
	}
	f.mu.Lock()
	valid := ok && (key == APIKey || key == f.token)
	f.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", "Token")
		writeJSON(w, http.StatusUnauthorized, InvalidTokenBody)
		return false
	}
	return true
}

// login is DRF's obtain_auth_token: JSON or form body.
func (f *Fake) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(body, &in); err != nil {
			writeJSON(w, http.StatusBadRequest, fmt.Sprintf(`{"detail":%q}`, "JSON parse error - "+err.Error()))
			return
		}
	} else {
		in.Username, in.Password = r.FormValue("username"), r.FormValue("password")
	}
	fields := map[string][]string{}
	if in.Username == "" {
		fields["username"] = []string{"This field is required."}
	}
	if in.Password == "" {
		fields["password"] = []string{"This field is required."}
	}
	if len(fields) > 0 {
		b, _ := json.Marshal(fields)
		writeJSON(w, http.StatusBadRequest, string(b))
		return
	}
	if in.Username != Username || in.Password != Password {
		writeJSON(w, http.StatusBadRequest, BadCredentialsBody)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"token":%q}`, f.Token()))
}

// fieldErrors is DRF's 400 body: field -> messages.
type fieldErrors map[string][]string

func (e fieldErrors) Error() string {
	b, _ := json.Marshal(map[string][]string(e))
	return string(b)
}

// listLeads applies start_date and end_date, inclusive whole days on
// created_at (UTC), newest first.
func (f *Fake) listLeads(r *http.Request) ([]any, Shape, error) {
	q := r.URL.Query()
	errs := fieldErrors{}
	var from, to time.Time
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"start_date", &from}, {"end_date", &to}} {
		v := q.Get(p.key)
		if v == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			errs[p.key] = []string{"Enter a valid date."}
			continue
		}
		*p.dst = t
	}
	if len(errs) > 0 {
		return nil, 0, errs
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Parse each created_at once, not once per comparison.
	type dated struct {
		Lead
		created time.Time
	}
	leads := make([]dated, len(f.leads))
	for i, l := range f.leads {
		t, _ := time.Parse(time.RFC3339Nano, l.CreatedAt)
		leads[i] = dated{l, t}
	}
	sort.SliceStable(leads, func(i, j int) bool { return leads[i].created.After(leads[j].created) })
	var out []any
	for _, l := range leads {
		if !from.IsZero() || !to.IsZero() {
			t := l.created
			if t.IsZero() {
				continue // an unreadable created_at matches no date filter
			}
			d := t.UTC().Truncate(24 * time.Hour)
			if (!from.IsZero() && d.Before(from)) || (!to.IsZero() && d.After(to)) {
				continue
			}
		}
		out = append(out, l.Lead)
	}
	return out, f.shapes[Leads], nil
}

func (f *Fake) listRooms(*http.Request) ([]any, Shape, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// One pass over the messages, not one per room.
	byRoom := map[string][]any{}
	for _, m := range f.messages {
		switch f.inline {
		case InlineObjects:
			byRoom[m.Room] = append(byRoom[m.Room], f.messageJSON(m))
		case InlineUUIDs:
			byRoom[m.Room] = append(byRoom[m.Room], m.UUID)
		}
	}
	out := make([]any, 0, len(f.rooms))
	for _, room := range f.rooms {
		inline := byRoom[room.UUID]
		if inline == nil {
			inline = []any{} // "messages": [], never null
		}
		out = append(out, struct {
			Room
			Messages []any `json:"messages"`
		}{room, inline})
	}
	return out, f.shapes[Rooms], nil
}

func (f *Fake) listMessages(*http.Request) ([]any, Shape, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]any, 0, len(f.messages))
	for _, m := range f.messages {
		out = append(out, f.messageJSON(m))
	}
	return out, f.shapes[Messages], nil
}

// messageJSON writes a message with its room as configured; f.mu is held.
func (f *Fake) messageJSON(m Message) any {
	var room any = map[string]string{"uuid": m.Room}
	if f.roomField == RoomString {
		room = m.Room
	}
	return struct {
		Message
		Room any `json:"room"`
	}{m, room}
}

// paginate answers DRF's LimitOffsetPagination. An absent or bad limit is
// the default in the paginated shape and "everything" in the bare one; a
// bad offset is 0. Links are absolute on the request's own host and full
// path (as received, before any prefix was stripped).
func paginate(w http.ResponseWriter, r *http.Request, items []any, shape Shape) {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = DefaultLimit
		if shape == BareArray {
			limit = len(items)
		}
	}
	offset, err := strconv.Atoi(q.Get("offset"))
	if err != nil || offset < 0 {
		offset = 0
	}
	lo, hi := min(offset, len(items)), min(offset+limit, len(items))
	page := items[lo:hi]
	if page == nil {
		page = []any{}
	}
	if shape == BareArray {
		b, _ := json.Marshal(page)
		writeJSON(w, http.StatusOK, string(b))
		return
	}
	env := struct {
		Count    int     `json:"count"`
		Next     *string `json:"next"`
		Previous *string `json:"previous"`
		Results  []any   `json:"results"`
	}{Count: len(items), Results: page}
	if hi < len(items) {
		env.Next = link(r, limit, hi)
	}
	if offset > 0 {
		env.Previous = link(r, limit, max(offset-limit, 0))
	}
	b, _ := json.Marshal(env)
	writeJSON(w, http.StatusOK, string(b))
}

func link(r *http.Request, limit, offset int) *string {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		u = &url.URL{Path: r.URL.Path}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	q := r.URL.Query()
	q.Set("limit", strconv.Itoa(limit))
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	} else {
		q.Del("offset")
	}
	abs := url.URL{Scheme: scheme, Host: r.Host, Path: u.Path, RawQuery: q.Encode()}
	s := abs.String()
	return &s
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMethodNotAllowed, fmt.Sprintf(`{"detail":"Method \"%s\" not allowed."}`, r.Method))
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
