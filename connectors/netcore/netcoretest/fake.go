// Package netcoretest is a fake Netcore Bot Open API 1.0.0 server, written
// from vendors.md: login with app credentials and expiring bare tokens, users
// filtered by last interaction and channel, transcripts with the service's
// 3-month and limit rules, and bot usage.
package netcoretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/leadsync/leadsync/connectors/vendortest"
)

// Credentials the fake accepts.
const (
	AppID     = "netcore-app-id"
	AppSecret = "netcore-app-secret"
)

// Channels is the vendor's channel table, id to name.
var Channels = map[int]string{
	1010: "webchat", 1011: "workflow", 1012: "googleBusinessMessages", 1013: "general",
	1014: "whatsapp", 1015: "RCSBusinessMessages", 1016: "telegram", 1017: "facebook",
	1018: "sms", 1019: "hangoutsChat", 1020: "google", 1021: "instagramMessaging",
}

// ExpiryFormat is how login writes the token's expiry.
type ExpiryFormat int

// Expiry formats.
const (
	ExpiryRFC3339      ExpiryFormat = iota // "2024-05-01T10:00:00.000Z"
	ExpiryEpochSeconds                     // 1714557600
	ExpiryEpochMillis                      // 1714557600000
)

// HasNextShape is how users answers hasNextPage.
type HasNextShape int

// hasNextPage shapes.
const (
	Bool HasNextShape = iota // true / false
	Int                      // 1 / 0
)

// Shape gathers every response-shape choice.
type Shape struct {
	ExpiryKey    string // "expireAt" (default) or "expiresAt"
	ExpiryFormat ExpiryFormat
	HasNext      HasNextShape
	NameKey      string // "userName" (default) or "name"
}

// User is a bot user as the users endpoint lists it. Dates are strings, as
// the service sends them. LastInteracted drives the window filter; when it
// does not parse as RFC 3339 the user matches every window.
type User struct {
	UserID          string
	BotUserID       string
	ChannelName     string
	Name            string
	CreatedDate     string
	FirstInteracted string
	LastInteracted  string
}

// Entry is one transcript entry; Payload is served under the key named by Type.
type Entry struct {
	From      string // "User", "Bot", "Agent"
	Type      string
	Payload   any
	CreatedAt string
}

// MarshalJSON writes the vendor's shape: the payload keyed by the type.
func (e Entry) MarshalJSON() ([]byte, error) {
	m := map[string]any{"from": e.From, "type": e.Type, "createdAt": e.CreatedAt, "updatedAt": e.CreatedAt}
	if e.Payload != nil {
		m[e.Type] = e.Payload
	}
	return json.Marshal(m)
}

// BotUser is the transcripts answer's botUser object.
type BotUser struct {
	CustomFields map[string]any `json:"customFields"`
	Tags         []string       `json:"tags"`
}

// Usage is a botUsage answer.
type Usage struct {
	TotalMessages int `json:"totalMessages"`
	TotalUsers    int `json:"totalUsers"`
}

type convKey struct {
	channel   int
	botUserID string
}

// Fake is the fake server. It is safe for concurrent use.
type Fake struct {
	vendortest.Host

	mu           sync.Mutex
	now          func() time.Time
	ttl          time.Duration
	shape        Shape
	tokens       map[string]time.Time
	logins       int
	unauthorized int
	users        []User
	transcripts  map[convKey][]Entry
	botUsers     map[convKey]BotUser
	usage        map[string]Usage // "YYYY-MM-01/channel"
}

// New returns an empty fake: tokens live one hour, expireAt is RFC 3339,
// hasNextPage is a boolean, names are under userName.
func New() *Fake {
	f := &Fake{
		now:         time.Now,
		ttl:         time.Hour,
		tokens:      map[string]time.Time{},
		transcripts: map[convKey][]Entry{},
		botUsers:    map[convKey]BotUser{},
		usage:       map[string]Usage{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", f.login)
	mux.HandleFunc("POST /users", f.authed(f.listUsers))
	mux.HandleFunc("POST /transcripts", f.authed(f.listTranscripts))
	mux.HandleFunc("GET /botUsage", f.authed(f.botUsage))
	f.Host = vendortest.NewHost(mux)
	return f
}

// SetClock sets the fake's clock (token expiry, the 3-month rule).
func (f *Fake) SetClock(now func() time.Time) { f.mu.Lock(); f.now = now; f.mu.Unlock() }

// SetTokenTTL sets how long issued tokens live.
func (f *Fake) SetTokenTTL(d time.Duration) { f.mu.Lock(); f.ttl = d; f.mu.Unlock() }

// SetShape chooses every response shape at once.
func (f *Fake) SetShape(s Shape) { f.mu.Lock(); f.shape = s; f.mu.Unlock() }

// SetExpiryKey names login's expiry key: "expireAt" or "expiresAt".
func (f *Fake) SetExpiryKey(k string) { f.mu.Lock(); f.shape.ExpiryKey = k; f.mu.Unlock() }

// SetExpiryFormat chooses how login writes the expiry.
func (f *Fake) SetExpiryFormat(x ExpiryFormat) { f.mu.Lock(); f.shape.ExpiryFormat = x; f.mu.Unlock() }

// SetHasNextShape chooses hasNextPage as a boolean or 0/1.
func (f *Fake) SetHasNextShape(s HasNextShape) { f.mu.Lock(); f.shape.HasNext = s; f.mu.Unlock() }

// SetNameKey names the users' name key: "userName" or "name".
func (f *Fake) SetNameKey(k string) { f.mu.Lock(); f.shape.NameKey = k; f.mu.Unlock() }

// AddUsers appends users, served in the order added.
func (f *Fake) AddUsers(us ...User) { f.mu.Lock(); f.users = append(f.users, us...); f.mu.Unlock() }

// UpdateUser changes the stored user userID (a user interacting again moves
// its last interaction date); it reports whether the user exists.
func (f *Fake) UpdateUser(userID string, fn func(*User)) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.users {
		if f.users[i].UserID == userID {
			fn(&f.users[i])
			return true
		}
	}
	return false
}

// AddTranscript appends entries to a bot user's transcript.
func (f *Fake) AddTranscript(channelID int, botUserID string, es ...Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := convKey{channelID, botUserID}
	f.transcripts[k] = append(f.transcripts[k], es...)
}

// SetBotUser sets the botUser object transcripts answers for a bot user.
func (f *Fake) SetBotUser(channelID int, botUserID string, b BotUser) {
	f.mu.Lock()
	f.botUsers[convKey{channelID, botUserID}] = b
	f.mu.Unlock()
}

// SetUsage sets botUsage's answer for a month ("2024-05-01") and channel.
func (f *Fake) SetUsage(month string, channelID int, u Usage) {
	f.mu.Lock()
	f.usage[month+"/"+strconv.Itoa(channelID)] = u
	f.mu.Unlock()
}

// RevokeTokens makes every issued token answer 401, as after a revocation.
func (f *Fake) RevokeTokens() { f.mu.Lock(); clear(f.tokens); f.mu.Unlock() }

// Logins counts successful logins.
func (f *Fake) Logins() int { f.mu.Lock(); defer f.mu.Unlock(); return f.logins }

// Unauthorized counts API calls answered 401 (logins excluded).
func (f *Fake) Unauthorized() int { f.mu.Lock(); defer f.mu.Unlock(); return f.unauthorized }

func fail(w http.ResponseWriter, status int, msg string) {
	vendortest.WriteJSON(w, status, map[string]any{"statusCode": status, "message": msg})
}

func (f *Fake) login(w http.ResponseWriter, r *http.Request) {
	var body struct{ AppID, AppSecret string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(w, 400, "invalid request body")
		return
	}
	if body.AppID != AppID || body.AppSecret != AppSecret {
		fail(w, 401, "invalid appId or appSecret")
		return
	}
	tok := vendortest.RandomHex(16)

	f.mu.Lock()
	exp := f.now().Add(f.ttl).UTC()
	f.tokens[tok] = exp
	f.logins++
	key, format := f.shape.ExpiryKey, f.shape.ExpiryFormat
	f.mu.Unlock()

	if key == "" {
		key = "expireAt"
	}
	var v any = exp.Format("2006-01-02T15:04:05.000Z")
	switch format {
	case ExpiryEpochSeconds:
		v = exp.Unix()
	case ExpiryEpochMillis:
		v = exp.UnixMilli()
	}
	vendortest.WriteJSON(w, 200, map[string]any{"authToken": tok, key: v})
}

// authed checks the bare token in Authorization.
func (f *Fake) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		exp, ok := f.tokens[r.Header.Get("Authorization")]
		ok = ok && f.now().Before(exp)
		if !ok {
			f.unauthorized++
		}
		f.mu.Unlock()
		if !ok {
			fail(w, 401, "Unauthorized")
			return
		}
		h(w, r)
	}
}

func pageParams(r *http.Request, def, lo, hi int) (page, limit int, err error) {
	page, limit = 1, def
	if s := r.URL.Query().Get("page"); s != "" {
		if page, err = strconv.Atoi(s); err != nil || page < 1 {
			return 0, 0, fmt.Errorf("page must be an integer >= 1")
		}
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < lo || limit > hi {
			return 0, 0, fmt.Errorf("limit must be an integer in [%d .. %d]", lo, hi)
		}
	}
	return page, limit, nil
}

func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func inRange(s string, start, end time.Time) bool {
	t, ok := parseTime(s)
	if !ok {
		return true
	}
	return (start.IsZero() || !t.Before(start)) && (end.IsZero() || !t.After(end))
}

func (f *Fake) listUsers(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ChannelIDs []int  `json:"channelIds"`
		StartDate  string `json:"startDate"`
		EndDate    string `json:"endDate"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(w, 400, "invalid request body")
		return
	}
	if body.ChannelIDs == nil {
		// The real service crashes on a body without channelIds.
		fail(w, 500, "Cannot read properties of undefined (reading 'map')")
		return
	}
	for _, id := range body.ChannelIDs {
		if _, ok := Channels[id]; !ok {
			fail(w, 400, fmt.Sprintf("channelIds: %d is not a valid channel", id))
			return
		}
	}
	var start, end time.Time
	for _, d := range []struct {
		s string
		t *time.Time
	}{{body.StartDate, &start}, {body.EndDate, &end}} {
		if d.s == "" {
			continue
		}
		t, ok := parseTime(d.s)
		if !ok {
			fail(w, 400, "Date must be ISO format string in UTC")
			return
		}
		*d.t = t
	}
	page, limit, err := pageParams(r, 10, 1, 1000)
	if err != nil {
		fail(w, 400, err.Error())
		return
	}

	f.mu.Lock()
	shape := f.shape
	var match []User
	for _, u := range f.users {
		id := -1
		for cid, n := range Channels {
			if n == u.ChannelName {
				id = cid
			}
		}
		// A user on a channel outside the table is served whatever the filter:
		// the connector must cope with names it does not know.
		if (id == -1 || slices.Contains(body.ChannelIDs, id)) && inRange(u.LastInteracted, start, end) {
			match = append(match, u)
		}
	}
	f.mu.Unlock()

	nameKey := shape.NameKey
	if nameKey == "" {
		nameKey = "userName"
	}
	lo, hi := min((page-1)*limit, len(match)), min(page*limit, len(match))
	out := make([]map[string]any, 0, hi-lo)
	for _, u := range match[lo:hi] {
		m := map[string]any{
			"userId":                u.UserID,
			"channelName":           u.ChannelName,
			nameKey:                 u.Name,
			"createdDate":           u.CreatedDate,
			"first interacted date": u.FirstInteracted,
			"last interacted date":  u.LastInteracted,
		}
		if u.BotUserID != "" {
			m["botUserId"] = u.BotUserID
		}
		out = append(out, m)
	}
	pages := (len(match) + limit - 1) / limit
	next := page < pages
	var hasNext any = next
	if shape.HasNext == Int {
		hasNext = 0
		if next {
			hasNext = 1
		}
	}
	vendortest.WriteJSON(w, 200, map[string]any{
		"users": out, "page": page, "pages": pages, "total": len(match), "limit": limit, "hasNextPage": hasNext,
	})
}

func (f *Fake) listTranscripts(w http.ResponseWriter, r *http.Request) {
	var body struct {
		BotUserID string `json:"botUserId"`
		ChannelID int    `json:"channelId"`
		StartDate string `json:"startDate"`
		EndDate   string `json:"endDate"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(w, 400, "invalid request body")
		return
	}
	if body.BotUserID == "" {
		fail(w, 400, "botUserId is required")
		return
	}
	if _, ok := Channels[body.ChannelID]; !ok {
		fail(w, 400, "channelId must be one of the channel codes")
		return
	}
	page, limit, err := pageParams(r, 50, 25, 1000)
	if err != nil {
		fail(w, 400, err.Error())
		return
	}
	f.mu.Lock()
	now := f.now()
	f.mu.Unlock()
	start, end := now.AddDate(0, -3, 0), now
	if body.StartDate != "" {
		t, ok := parseTime(body.StartDate)
		if !ok {
			fail(w, 400, "startDate must be ISO format string in UTC")
			return
		}
		if t.Before(start) {
			fail(w, 400, "startDate must not be older than 3 months from current date")
			return
		}
		start = t
	}
	if body.EndDate != "" {
		t, ok := parseTime(body.EndDate)
		if !ok {
			fail(w, 400, "endDate must be ISO format string in UTC")
			return
		}
		end = t
	}

	f.mu.Lock()
	k := convKey{body.ChannelID, body.BotUserID}
	var match []Entry
	for _, e := range f.transcripts[k] {
		if inRange(e.CreatedAt, start, end) {
			match = append(match, e)
		}
	}
	bu, ok := f.botUsers[k]
	f.mu.Unlock()
	if !ok {
		bu = BotUser{CustomFields: map[string]any{}, Tags: []string{}}
	}

	lo, hi := min((page-1)*limit, len(match)), min(page*limit, len(match))
	pages := (len(match) + limit - 1) / limit
	vendortest.WriteJSON(w, 200, map[string]any{
		"botUser":           bu,
		"transcripts":       append([]Entry{}, match[lo:hi]...),
		"paginationDetails": map[string]any{"page": page, "pages": pages, "total": len(match), "limit": limit},
	})
}

func (f *Fake) botUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	month, err := time.Parse("2006-01-02", q.Get("monthDate"))
	if err != nil || month.Day() != 1 {
		fail(w, 400, "monthDate must be the first day of a month (YYYY-MM-01)")
		return
	}
	id, err := strconv.Atoi(q.Get("channelId"))
	if _, ok := Channels[id]; err != nil || !ok {
		fail(w, 400, "channelId must be one of the channel codes")
		return
	}
	f.mu.Lock()
	u := f.usage[q.Get("monthDate")+"/"+strconv.Itoa(id)]
	f.mu.Unlock()
	vendortest.WriteJSON(w, 200, u)
}
