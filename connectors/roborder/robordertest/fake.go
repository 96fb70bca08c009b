// Package robordertest is a fake Roborder API (v1) for tests and the demo:
// login, the leads list in each of the shapes vendors.md says the real
// service may answer in, and its error bodies.
package robordertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/leadsync/leadsync/connectors/vendortest"
)

// Credentials the fake accepts by default.
const (
	// Token is a dashboard-generated API token.
	Token    = "7|RoborderDashboardTokenForTests0001"
	Email    = "owner@shop.example"
	Password = "correct-horse-battery"
)

// Shape is how the leads endpoint answers.
type Shape int

const (
	// Array answers "data": [every lead] whatever the page asked.
	Array Shape = iota
	// Single answers "data": {the first lead} (as the vendor's own example
	// does), or null when there is none, whatever the page asked.
	Single
	// Paginator answers a Laravel length-aware paginator of PerPage leads.
	Paginator
)

// DefaultPerPage is Laravel's default page size.
const DefaultPerPage = 15

// Lead is a lead as Roborder serialises it.
type Lead struct {
	ID           int    `json:"id"`
	Code         string `json:"code"`
	CustomerName string `json:"customer_name"`
	Platform     string `json:"platform"`
	PageName     string `json:"page_name"`
	Phone        string `json:"phone"`
	Email        string `json:"email,omitempty"`
	CreatedAt    string `json:"created_at,omitempty"`
	UpdatedAt    string `json:"updated_at,omitempty"`
}

// Fake is the fake service. It is safe for concurrent use.
type Fake struct {
	vendortest.Host

	mu      sync.Mutex
	leads   []Lead
	nextID  int
	shape   Shape
	perPage int
	issued  map[string]bool // tokens handed out by login
	failure string          // when set, leads answers success:false with it
}

// New returns an empty fake answering in the Array shape.
func New() *Fake {
	f := &Fake{nextID: 1, perPage: DefaultPerPage, issued: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/login", f.login)
	mux.HandleFunc("GET /api/v1/leads", f.authed(f.list))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		vendortest.WriteJSON(w, http.StatusNotFound, map[string]string{
			"message": fmt.Sprintf("The route %s could not be found.", strings.TrimPrefix(r.URL.Path, "/")),
		})
	})
	f.Host = vendortest.NewHost(mux)
	return f
}

// SetShape chooses the answer shape of the leads endpoint.
func (f *Fake) SetShape(s Shape) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shape = s
}

// SetPerPage sets the paginator's page size (n >= 1).
func (f *Fake) SetPerPage(n int) {
	if n < 1 {
		panic("robordertest: per_page must be at least 1")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.perPage = n
}

// AddLeads stores leads in the order given. A zero ID gets the next free id
// and an empty Code gets "ORD-<id>".
func (f *Fake) AddLeads(ls ...Lead) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range ls {
		if l.ID == 0 {
			l.ID = f.nextID
		}
		if l.ID >= f.nextID {
			f.nextID = l.ID + 1
		}
		if l.Code == "" {
			l.Code = fmt.Sprintf("ORD-%05d", l.ID)
		}
		f.leads = append(f.leads, l)
	}
}

// RevokeTokens invalidates every token login issued (not the dashboard
// Token), as a logout elsewhere would: the next call with one gets 401.
func (f *Fake) RevokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued = map[string]bool{}
}

// SetFailure makes the leads endpoint answer HTTP 200 with
// {"success":false,"message":msg}; "" restores normal answers.
func (f *Fake) SetFailure(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failure = msg
}

// Unauthenticated is Laravel Sanctum's 401, as a fault to inject.
func Unauthenticated() vendortest.Fault {
	return vendortest.Fault{Status: http.StatusUnauthorized, Body: `{"message":"Unauthenticated."}`}
}

// TooManyAttempts is Laravel's throttle answer, as a fault to inject.
func TooManyAttempts(retryAfter string) vendortest.Fault {
	return vendortest.Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Body: `{"message":"Too Many Attempts."}`}
}

func (f *Fake) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		vendortest.WriteJSON(w, http.StatusBadRequest, map[string]any{"success": false, "message": "Invalid JSON body.", "data": []any{}})
		return
	}
	missing := map[string][]string{}
	if in.Email == "" {
		missing["email"] = []string{"The email field is required."}
	}
	if in.Password == "" {
		missing["password"] = []string{"The password field is required."}
	}
	if len(missing) > 0 {
		vendortest.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "The given data was invalid.", "errors": missing})
		return
	}
	if in.Email != Email || in.Password != Password {
		// The Laravel API starter's sendError: success:false, 404 by default.
		vendortest.WriteJSON(w, http.StatusNotFound, map[string]any{"success": false, "message": "Unauthorised.", "data": map[string]string{"error": "Unauthorised"}})
		return
	}
	tok := newToken()
	f.mu.Lock()
	f.issued[tok] = true
	f.mu.Unlock()
	vendortest.WriteJSON(w, http.StatusOK, map[string]any{
		"success": true,
		"data":    map[string]string{"access_token": tok, "name": "Shop Owner", "token_type": "Bearer"},
		"message": "User Login Successfully",
	})
}

func (f *Fake) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		valid := ok && (tok == Token || f.issued[tok])
		f.mu.Unlock()
		if !valid {
			vendortest.WriteJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthenticated."})
			return
		}
		next(w, r)
	}
}

func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	leads := append([]Lead(nil), f.leads...)
	shape, perPage, failure := f.shape, f.perPage, f.failure
	f.mu.Unlock()

	if failure != "" {
		vendortest.WriteJSON(w, http.StatusOK, map[string]any{"success": false, "data": []any{}, "message": failure})
		return
	}
	var data any
	switch shape {
	case Array:
		data = leads
	case Single:
		if len(leads) > 0 {
			data = leads[0]
		}
	case Paginator:
		data = paginate(leads, pageParam(r), perPage, externalURL(r))
	}
	vendortest.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "data": data, "message": "Get Leads successfully."})
}

// pageParam reads ?page= as Laravel does: anything that is not a positive
// integer is page 1.
func pageParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// paginate builds Laravel's LengthAwarePaginator JSON.
func paginate(leads []Lead, page, perPage int, path string) map[string]any {
	total := len(leads)
	last := max(1, (total+perPage-1)/perPage)
	from := min((page-1)*perPage, total)
	to := min(from+perPage, total)
	link := func(n int) any { return fmt.Sprintf("%s?page=%d", path, n) }
	var next, prev any
	if page < last {
		next = link(page + 1)
	}
	if page > 1 {
		prev = link(page - 1)
	}
	var fromN, toN any // null on an empty page, as Laravel does
	if to > from {
		fromN, toN = from+1, to
	}
	return map[string]any{
		"current_page":   page,
		"data":           append([]Lead{}, leads[from:to]...),
		"first_page_url": link(1),
		"from":           fromN,
		"last_page":      last,
		"last_page_url":  link(last),
		"links":          []any{},
		"next_page_url":  next,
		"path":           path,
		"per_page":       perPage,
		"prev_page_url":  prev,
		"to":             toN,
		"total":          total,
	}
}

// externalURL is the URL the client used for this endpoint, path prefix
// included: when the fake is mounted with http.StripPrefix, r.URL.Path lost
// the prefix but r.RequestURI still has it.
func externalURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := r.URL.Path
	if p, _, _ := strings.Cut(r.RequestURI, "?"); strings.HasSuffix(p, r.URL.Path) {
		path = p
	}
	return scheme + "://" + r.Host + path
}

func newToken() string { return "1|" + vendortest.RandomHex(20) }
