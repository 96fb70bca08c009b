// Package epixeltest is a fake of Epixel's leads & CRM API, written from
// /work/shared/vendors.md: apikey and short-lived bearer tokens, the
// {"status_code","errors","data"} envelope, lead listing with substring
// filters, multipart writes validated by the CRM's own rules, and a create
// that is not idempotent.
package epixeltest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leadsync/leadsync/connectors/vendortest"
)

// Credentials the fake accepts.
const (
	APIKey   = "epx-test-apikey-7d1c"
	Username = "leadsync@example.com"
	Password = "fake-epixel-password"
)

// TokenShape is where login and refresh put their tokens.
type TokenShape int

const (
	// TopLevel answers {"refresh","access"} as the JWT library does.
	TopLevel TokenShape = iota
	// InData wraps them in the envelope: {"status_code":200,"errors":{},"data":{"refresh","access"}}.
	InData
)

// ListShape is what leads/list/ puts in the envelope's data.
type ListShape int

const (
	// Paginated answers {"count","next","previous","results"} with absolute links.
	Paginated ListShape = iota
	// BareArray answers the page as a bare array (limit and offset still apply).
	BareArray
)

// Statuses are the CRM's lead status choices.
var Statuses = []string{"prospect", "tentative", "potential", "closed", "contact", "customer"}

// DefaultSourceChoices are the source choices of a new fake.
var DefaultSourceChoices = []string{"Website", "Facebook", "Instagram", "WhatsApp", "Telegram", "Chatbot", "Other"}

// DefaultLimit is the page size when a list call sends no limit.
const DefaultLimit = 10

// Lead is a lead as the CRM holds it.
type Lead struct {
	Slug      string
	FirstName string
	LastName  string
	Email     string
	Phone     string
	Status    string
	Source    string
	Location  string
	Message   string
	Assignee  string
	CreatedAt time.Time
	UpdatedAt time.Time
	Notes     []Note
}

// Note is a note on a lead.
type Note struct {
	ID        int
	Note      string
	CreatedAt time.Time
}

type stored struct {
	Lead
	deleted bool
	denied  bool
}

// Fake is the fake CRM. It is safe for concurrent use.
type Fake struct {
	vendortest.Host
	routes map[string]route

	mu         sync.Mutex
	now        func() time.Time
	ttl        time.Duration
	tokenShape TokenShape
	listShape  ListShape
	sources    []string
	assignees  []string
	leads      []*stored
	bySlug     map[string]*stored
	access     map[string]time.Time // token -> expiry
	refresh    map[string]bool
	seq        int
	noteSeq    int
	writes     int
}

// New returns an empty fake: tokens last five minutes, token keys at the top
// level, paginated lists, DefaultSourceChoices.
func New() *Fake {
	f := &Fake{
		now:     time.Now,
		ttl:     5 * time.Minute,
		sources: slices.Clone(DefaultSourceChoices),
		bySlug:  map[string]*stored{},
		access:  map[string]time.Time{},
		refresh: map[string]bool{},
	}
	f.routes = map[string]route{
		"user/login/":              {http.MethodPost, f.login, false},
		"user/token/refresh/":      {http.MethodPost, f.refreshToken, false},
		"leads/list/":              {http.MethodGet, f.list, true},
		"leads/view/lead/":         {http.MethodGet, f.view, true},
		"leads/create/lead/":       {http.MethodPost, f.write(true, f.create), true},
		"leads/update/lead/":       {http.MethodPost, f.write(true, f.update), true},
		"leads/delete/lead/":       {http.MethodPost, f.write(false, f.deleteLead), true},
		"leads/create/leadnote/":   {http.MethodPost, f.write(true, f.createNote), true},
		"leads/delete/leadnote/":   {http.MethodPost, f.write(false, f.deleteNote), true},
		"leads/appointments/list/": {http.MethodGet, f.appointments, true},
	}
	f.Host = vendortest.NewHost(http.HandlerFunc(f.serve))
	return f
}

// SetTokenShape chooses where login and refresh put the tokens.
func (f *Fake) SetTokenShape(s TokenShape) { f.mu.Lock(); f.tokenShape = s; f.mu.Unlock() }

// SetListShape chooses the shape of leads/list/'s data.
func (f *Fake) SetListShape(s ListShape) { f.mu.Lock(); f.listShape = s; f.mu.Unlock() }

// SetShape sets both shapes at once.
func (f *Fake) SetShape(t TokenShape, l ListShape) {
	f.mu.Lock()
	f.tokenShape, f.listShape = t, l
	f.mu.Unlock()
}

// SetAccessTTL sets the lifetime of access tokens issued from now on; zero
// means they never expire.
func (f *Fake) SetAccessTTL(d time.Duration) { f.mu.Lock(); f.ttl = d; f.mu.Unlock() }

// SetClock replaces the fake's clock (token expiry, timestamps).
func (f *Fake) SetClock(now func() time.Time) { f.mu.Lock(); f.now = now; f.mu.Unlock() }

// ExpireAccessTokens makes every access token issued so far invalid, as if
// their lifetime had passed; refresh tokens still work.
func (f *Fake) ExpireAccessTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.access)
}

// RevokeRefreshTokens makes every refresh token issued so far invalid: the
// client has to log in again.
func (f *Fake) RevokeRefreshTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.refresh)
}

// SetSourceChoices replaces the deployment's source choices.
func (f *Fake) SetSourceChoices(choices ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sources = slices.Clone(choices)
}

// SetAssignees sets the users a lead may be assigned to.
func (f *Fake) SetAssignees(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.assignees = slices.Clone(names)
}

// AddLead stores l as it is (no validation) and returns its slug, made up
// when l has none. Zero timestamps become now.
func (f *Fake) AddLead(l Lead) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.Slug == "" {
		l.Slug = f.newSlug(l.FirstName, l.LastName)
	}
	now := f.now().UTC()
	if l.CreatedAt.IsZero() {
		l.CreatedAt = now
	}
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = l.CreatedAt
	}
	if l.Status == "" {
		l.Status = "prospect"
	}
	l.Notes = slices.Clone(l.Notes)
	for _, n := range l.Notes {
		f.noteSeq = max(f.noteSeq, n.ID)
	}
	s := &stored{Lead: l}
	f.leads = append(f.leads, s)
	f.bySlug[l.Slug] = s
	return l.Slug
}

// DenyAccess makes the user the fake logs in as not the owner of the lead:
// writes and views of it answer the CRM's per-lead 401.
func (f *Fake) DenyAccess(slug string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.bySlug[slug]; ok {
		s.denied = true
	}
}

// Leads returns the leads not deleted, in creation order, with their notes.
func (f *Fake) Leads() []Lead {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Lead
	for _, s := range f.leads {
		if s.deleted {
			continue
		}
		l := s.Lead
		l.Notes = slices.Clone(l.Notes)
		out = append(out, l)
	}
	return out
}

// Writes counts the authenticated POSTs that reached the create lead, update
// lead and create note endpoints, whether the CRM accepted them or not.
func (f *Fake) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// route is one endpoint: its method, its handler and whether it wants a
// bearer token.
type route struct {
	method string
	fn     func(http.ResponseWriter, *http.Request)
	auth   bool
}

// errs is the envelope's errors object: field -> messages.
type errs map[string][]string

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("apikey") != APIKey {
		reply(w, http.StatusForbidden, errs{"detail": {"Invalid API key."}}, map[string]any{})
		return
	}
	h, ok := f.routes[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		reply(w, http.StatusNotFound, errs{"detail": {"Not found."}}, map[string]any{})
		return
	}
	if r.Method != h.method {
		reply(w, http.StatusMethodNotAllowed, errs{"detail": {fmt.Sprintf("Method %q not allowed.", r.Method)}}, map[string]any{})
		return
	}
	if h.auth && !f.authorized(r) {
		reply(w, http.StatusUnauthorized, errs{"detail": {"Given token not valid for any token type"}}, map[string]any{})
		return
	}
	h.fn(w, r)
}

func (f *Fake) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	exp, ok := f.access[tok]
	return ok && (exp.IsZero() || f.now().Before(exp))
}

func reply(w http.ResponseWriter, status int, e errs, data any) {
	if e == nil {
		e = errs{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status_code": status, "errors": e, "data": data})
}

// body reads a login or refresh body: JSON, or a form as DRF also parses.
func body(r *http.Request) map[string]string {
	out := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if json.NewDecoder(r.Body).Decode(&m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok {
					out[k] = s
				}
			}
		}
		return out
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		r.ParseForm()
	}
	for k, v := range r.Form {
		out[k] = v[0]
	}
	return out
}

func token() string { return vendortest.RandomHex(12) }

func (f *Fake) login(w http.ResponseWriter, r *http.Request) {
	in := body(r)
	e := errs{}
	for _, k := range []string{"username", "password"} {
		if strings.TrimSpace(in[k]) == "" {
			e[k] = []string{"This field is required."}
		}
	}
	if len(e) > 0 {
		reply(w, http.StatusBadRequest, e, map[string]any{})
		return
	}
	if in["username"] != Username || in["password"] != Password {
		reply(w, http.StatusUnauthorized, errs{"detail": {"No active account found with the given credentials"}}, map[string]any{})
		return
	}
	f.mu.Lock()
	access, refresh := "acc."+token(), "ref."+token()
	f.access[access] = f.expiry()
	f.refresh[refresh] = true
	shape := f.tokenShape
	f.mu.Unlock()
	tokens(w, shape, map[string]string{"refresh": refresh, "access": access})
}

func (f *Fake) expiry() time.Time {
	if f.ttl <= 0 {
		return time.Time{}
	}
	return f.now().Add(f.ttl)
}

func tokens(w http.ResponseWriter, shape TokenShape, t map[string]string) {
	if shape == InData {
		reply(w, http.StatusOK, nil, t)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(t)
}

func (f *Fake) refreshToken(w http.ResponseWriter, r *http.Request) {
	in := body(r)
	if in["refresh"] == "" {
		reply(w, http.StatusBadRequest, errs{"refresh": {"This field is required."}}, map[string]any{})
		return
	}
	f.mu.Lock()
	if !f.refresh[in["refresh"]] {
		f.mu.Unlock()
		reply(w, http.StatusUnauthorized, errs{"detail": {"Token is invalid or expired"}, "code": {"token_not_valid"}}, map[string]any{})
		return
	}
	access := "acc." + token()
	f.access[access] = f.expiry()
	shape := f.tokenShape
	f.mu.Unlock()
	tokens(w, shape, map[string]string{"access": access})
}

// leadJSON is a lead on the wire. assignee is null when unset.
func leadJSON(l *Lead, withNotes bool) map[string]any {
	m := map[string]any{
		"slug": l.Slug, "first_name": l.FirstName, "last_name": l.LastName,
		"email": l.Email, "phone": l.Phone, "status": l.Status, "source": l.Source,
		"location": l.Location, "message": l.Message, "assignee": nil,
		"created_at": l.CreatedAt.UTC().Format(time.RFC3339Nano),
		"updated_at": l.UpdatedAt.UTC().Format(time.RFC3339Nano),
	}
	if l.Assignee != "" {
		m["assignee"] = l.Assignee
	}
	if withNotes {
		notes := []map[string]any{}
		for _, n := range l.Notes {
			notes = append(notes, noteJSON(n))
		}
		m["notes"] = notes
	}
	return m
}

func noteJSON(n Note) map[string]any {
	return map[string]any{"note_id": n.ID, "note": n.Note, "created_at": n.CreatedAt.UTC().Format(time.RFC3339Nano)}
}

func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset := intParam(q.Get("offset"), 0)
	limit := intParam(q.Get("limit"), DefaultLimit)
	if limit <= 0 {
		limit = DefaultLimit
	}
	email, phone := strings.ToLower(q.Get("email")), q.Get("phone")

	f.mu.Lock()
	var match []map[string]any
	for _, s := range f.leads {
		// Substring, case-insensitive, as a search box would: the client
		// must filter exact matches itself.
		if s.deleted || !strings.Contains(strings.ToLower(s.Email), email) || !strings.Contains(s.Phone, phone) {
			continue
		}
		match = append(match, leadJSON(&s.Lead, false))
	}
	shape := f.listShape
	f.mu.Unlock()

	total := len(match)
	page := match[min(offset, total):min(offset+limit, total)]
	if page == nil {
		page = []map[string]any{}
	}
	if shape == BareArray {
		reply(w, http.StatusOK, nil, page)
		return
	}
	var next, prev any
	if offset+limit < total {
		next = pageLink(r, offset+limit, limit)
	}
	if offset > 0 {
		prev = pageLink(r, max(offset-limit, 0), limit)
	}
	reply(w, http.StatusOK, nil, map[string]any{"count": total, "next": next, "previous": prev, "results": page})
}

func intParam(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return def
	}
	return n
}

// pageLink is an absolute link on the request's own host and path as the
// client sent it (RequestURI keeps a prefix that http.StripPrefix removed).
func pageLink(r *http.Request, offset, limit int) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		path = u.Path
	}
	q := r.URL.Query()
	q.Set("offset", strconv.Itoa(offset))
	q.Set("limit", strconv.Itoa(limit))
	return (&url.URL{Scheme: scheme, Host: r.Host, Path: path, RawQuery: q.Encode()}).String()
}

func (f *Fake) view(w http.ResponseWriter, r *http.Request) {
	slug := strings.TrimSpace(r.URL.Query().Get("slug"))
	if slug == "" {
		reply(w, http.StatusBadRequest, errs{"slug": {"This field is required and this may not be blank."}}, map[string]any{})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.bySlug[slug]
	switch {
	case !ok || s.deleted:
		reply(w, http.StatusBadRequest, errs{"slug": {"Requested slug is invalid."}}, map[string]any{})
	case s.denied:
		reply(w, http.StatusUnauthorized, errs{"detail": {"You are not owner of this lead."}}, map[string]any{})
	default:
		reply(w, http.StatusOK, nil, leadJSON(&s.Lead, true))
	}
}

func (f *Fake) appointments(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, nil, []any{})
}

// form parses a multipart write. The real API takes multipart/form-data;
// anything else is refused the way DRF refuses it, so a client that sends
// JSON or urlencoded bodies fails here as it would there.
func form(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		reply(w, http.StatusUnsupportedMediaType, errs{"detail": {fmt.Sprintf("Unsupported media type %q in request.", r.Header.Get("Content-Type"))}}, map[string]any{})
		return nil, false
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		reply(w, http.StatusBadRequest, errs{"detail": {"Multipart form parse error - " + err.Error()}}, map[string]any{})
		return nil, false
	}
	return url.Values(r.MultipartForm.Value), true
}

// write wraps a multipart write endpoint: a counted one bumps Writes before
// anything can refuse it, then fn runs on the parsed form under f.mu.
func (f *Fake) write(counted bool, fn func(http.ResponseWriter, url.Values)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if counted {
			f.mu.Lock()
			f.writes++
			f.mu.Unlock()
		}
		in, ok := form(w, r)
		if !ok {
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		fn(w, in)
	}
}

func (f *Fake) create(w http.ResponseWriter, in url.Values) {
	if e := f.validate(in, true); len(e) > 0 {
		reply(w, http.StatusBadRequest, e, map[string]any{})
		return
	}
	now := f.now().UTC()
	s := &stored{Lead: Lead{Slug: f.newSlug(in.Get("first_name"), in.Get("last_name")), Status: "prospect", CreatedAt: now, UpdatedAt: now}}
	apply(&s.Lead, in)
	f.leads = append(f.leads, s)
	f.bySlug[s.Slug] = s
	reply(w, http.StatusCreated, nil, leadJSON(&s.Lead, false))
}

func (f *Fake) update(w http.ResponseWriter, in url.Values) {
	slug := strings.TrimSpace(in.Get("slug"))
	if slug == "" {
		reply(w, http.StatusBadRequest, errs{"slug": {blankOrRequired(in, "slug")}}, map[string]any{})
		return
	}
	s, ok := f.bySlug[slug]
	if !ok || s.deleted {
		reply(w, http.StatusUnauthorized, errs{"detail": {"Requested lead does not esixt."}}, map[string]any{})
		return
	}
	if s.denied {
		reply(w, http.StatusUnauthorized, errs{"detail": {"You are not owner of this lead."}}, map[string]any{})
		return
	}
	if e := f.validate(in, false); len(e) > 0 {
		reply(w, http.StatusBadRequest, e, map[string]any{})
		return
	}
	apply(&s.Lead, in)
	s.UpdatedAt = f.now().UTC()
	reply(w, http.StatusOK, nil, leadJSON(&s.Lead, false))
}

func (f *Fake) deleteLead(w http.ResponseWriter, in url.Values) {
	slug := strings.TrimSpace(in.Get("slug"))
	s, found := f.bySlug[slug]
	switch {
	case slug == "":
		reply(w, http.StatusBadRequest, errs{"slug": {blankOrRequired(in, "slug")}}, map[string]any{})
	case !found:
		reply(w, http.StatusBadRequest, errs{"slug": {"Requested lead not found."}}, map[string]any{})
	case s.deleted:
		reply(w, http.StatusBadRequest, errs{"slug": {"Requested lead already has a deleted status."}}, map[string]any{})
	case s.denied:
		reply(w, http.StatusUnauthorized, errs{"detail": {"You can't delete this lead."}}, map[string]any{})
	default:
		s.deleted = true
		reply(w, http.StatusOK, nil, map[string]any{})
	}
}

func (f *Fake) createNote(w http.ResponseWriter, in url.Values) {
	slug := strings.TrimSpace(in.Get("slug"))
	s, found := f.bySlug[slug]
	e := errs{}
	switch {
	case slug == "":
		e["slug"] = []string{blankOrRequired(in, "slug")}
	case !found:
		e["slug"] = []string{"Requested lead not found."}
	case s.deleted:
		e["slug"] = []string{"Requested lead already has a deleted status."}
	}
	note := in.Get("note")
	switch {
	case strings.TrimSpace(note) == "":
		e["note"] = []string{blankOrRequired(in, "note")}
	case runeLen(note) > 499:
		e["note"] = []string{"Ensure this field has no more than 499 characters."}
	}
	if len(e) > 0 {
		reply(w, http.StatusBadRequest, e, map[string]any{})
		return
	}
	if s.denied {
		reply(w, http.StatusUnauthorized, errs{"detail": {"You can't add note on this lead."}}, map[string]any{})
		return
	}
	f.noteSeq++
	n := Note{ID: f.noteSeq, Note: note, CreatedAt: f.now().UTC()}
	s.Notes = append(s.Notes, n)
	reply(w, http.StatusCreated, nil, noteJSON(n))
}

func (f *Fake) deleteNote(w http.ResponseWriter, in url.Values) {
	raw := strings.TrimSpace(in.Get("note_id"))
	if raw == "" {
		reply(w, http.StatusBadRequest, errs{"note_id": {blankOrRequired(in, "note_id")}}, map[string]any{})
		return
	}
	id, err := strconv.Atoi(raw)
	if err != nil {
		reply(w, http.StatusBadRequest, errs{"note_id": {"Invalid note id."}}, map[string]any{})
		return
	}
	for _, s := range f.leads {
		for i, n := range s.Notes {
			if n.ID != id || s.deleted {
				continue
			}
			if s.denied {
				reply(w, http.StatusUnauthorized, errs{"detail": {"You can't delete this note."}}, map[string]any{})
				return
			}
			s.Notes = slices.Delete(s.Notes, i, i+1)
			reply(w, http.StatusOK, nil, map[string]any{})
			return
		}
	}
	reply(w, http.StatusBadRequest, errs{"note_id": {"Requested note not found."}}, map[string]any{})
}
