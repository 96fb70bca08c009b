package epixeltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
)

const prefix = "/api/v1"

type env struct {
	t    *testing.T
	f    *Fake
	base string
}

func start(t *testing.T) *env {
	f := New()
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, f.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, f: f, base: srv.URL + prefix + "/"}
}

type answer struct {
	StatusCode int                 `json:"status_code"`
	Errors     map[string][]string `json:"errors"`
	Data       json.RawMessage     `json:"data"`
}

func (e *env) call(method, path, token string, body io.Reader, ctype string) (int, answer, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, body)
	req.Header.Set("apikey", APIKey)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	status, raw := fixture.Do(e.t, req)
	var a answer
	json.Unmarshal(raw, &a)
	return status, a, raw
}

func (e *env) login() string {
	e.t.Helper()
	_, _, raw := e.call("POST", "user/login/", "", strings.NewReader(`{"username":"`+Username+`","password":"`+Password+`"}`), "application/json")
	var tok struct{ Access string }
	json.Unmarshal(raw, &tok)
	if tok.Access == "" {
		e.t.Fatalf("login: %s", raw)
	}
	return tok.Access
}

func multipartBody(fields ...string) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	w.Close()
	return &buf, w.FormDataContentType()
}

func (e *env) post(path, token string, fields ...string) (int, answer) {
	e.t.Helper()
	body, ct := multipartBody(fields...)
	code, a, _ := e.call("POST", path, token, body, ct)
	return code, a
}

var valid = []string{"first_name", "Amira", "last_name", "Ben Salah", "email", "amira@example.com", "phone", "21620123456"}

func TestWrongAPIKeyIs403Envelope(t *testing.T) {
	e := start(t)
	req, _ := http.NewRequest("POST", e.base+"user/login/", strings.NewReader(`{}`))
	req.Header.Set("apikey", "nope")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != 403 || a.StatusCode != 403 || len(a.Errors["detail"]) != 1 {
		t.Errorf("got %d %+v", resp.StatusCode, a)
	}
}

func TestExpiredTokenIs401WithTheJWTMessage(t *testing.T) {
	e := start(t)
	now := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	e.f.SetClock(func() time.Time { return now })
	e.f.SetAccessTTL(time.Minute)
	tok := e.login()
	if code, _, _ := e.call("GET", "leads/list/", tok, nil, ""); code != 200 {
		t.Fatalf("fresh token: %d", code)
	}
	now = now.Add(2 * time.Minute)
	code, _, raw := e.call("GET", "leads/list/", tok, nil, "")
	want := `{"data":{},"errors":{"detail":["Given token not valid for any token type"]},"status_code":401}`
	if code != 401 || strings.TrimSpace(string(raw)) != want {
		t.Errorf("expired token: %d %s", code, raw)
	}
}

func TestTokenShapes(t *testing.T) {
	e := start(t)
	_, _, raw := e.call("POST", "user/login/", "", strings.NewReader(`{"username":"`+Username+`","password":"`+Password+`"}`), "application/json")
	var top struct{ Access, Refresh string }
	json.Unmarshal(raw, &top)
	e.f.SetTokenShape(InData)
	_, a, _ := e.call("POST", "user/token/refresh/", "", strings.NewReader(`{"refresh":"`+top.Refresh+`"}`), "application/json")
	var in struct{ Access string }
	json.Unmarshal(a.Data, &in)
	if top.Access == "" || top.Refresh == "" || in.Access == "" {
		t.Errorf("top-level %+v, in data %+v", top, in)
	}
	e.f.RevokeRefreshTokens()
	if code, _, _ := e.call("POST", "user/token/refresh/", "", strings.NewReader(`{"refresh":"`+top.Refresh+`"}`), "application/json"); code != 401 {
		t.Errorf("revoked refresh: %d", code)
	}
}

func TestCreateIsNotIdempotent(t *testing.T) {
	e := start(t)
	tok := e.login()
	for range 2 {
		if code, a := e.post("leads/create/lead/", tok, valid...); code != 201 {
			t.Fatalf("create: %d %+v", code, a)
		}
	}
	leads := e.f.Leads()
	if len(leads) != 2 || leads[0].Slug == leads[1].Slug || e.f.Writes() != 2 {
		t.Errorf("leads %+v, writes %d", leads, e.f.Writes())
	}
}

func TestCreateValidatesLikeTheCRM(t *testing.T) {
	long := strings.Repeat("é", 256)
	for _, tc := range []struct {
		name   string
		fields []string
		want   map[string][]string
	}{
		{"nothing", nil, map[string][]string{"first_name": {msgRequired}, "last_name": {msgRequired}, "email": {msgRequired}, "phone": {msgRequired}}},
		{"blank", []string{"first_name", " ", "last_name", "", "email", "a@b.co", "phone", "1"}, map[string][]string{"first_name": {msgBlank}, "last_name": {msgBlank}}},
		{"too long", append([]string{"location", long, "message", long, "first_name", long}, valid[2:]...), map[string][]string{"first_name": {msgTooLong}, "location": {msgTooLong}, "message": {msgTooLong}}},
		{"email and phone", append(append([]string{}, valid[:4]...), "email", "no@pe", "phone", "+21620123456"), map[string][]string{"email": {msgEmail}, "phone": {msgPhone}}},
		{"phone 16 digits", append(append([]string{}, valid[:6]...), "phone", "2162012345678901"), map[string][]string{"phone": {msgPhone}}},
		{"status and source", append(append([]string{}, valid...), "status", "hot", "source", "Tiktok"), map[string][]string{"status": {`"hot" is not a valid choice.`}, "source": {`"Tiktok" is not a valid choice.`}}},
		{"assignee", append(append([]string{}, valid...), "assignee", "ghost"), map[string][]string{"assignee": {msgAssignee}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t)
			code, a := e.post("leads/create/lead/", e.login(), tc.fields...)
			if code != 400 || a.StatusCode != 400 {
				t.Errorf("status %d / %d", code, a.StatusCode)
			}
			if diff := cmp.Diff(tc.want, a.Errors); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if len(e.f.Leads()) != 0 {
				t.Error("a refused lead was stored")
			}
		})
	}
}

func TestWritesMustBeMultipart(t *testing.T) {
	e := start(t)
	code, _, _ := e.call("POST", "leads/create/lead/", e.login(), strings.NewReader(`{"first_name":"A"}`), "application/json")
	if code != http.StatusUnsupportedMediaType {
		t.Errorf("JSON create: %d", code)
	}
}

func TestListFiltersBySubstringAndLinksOnTheRequestHost(t *testing.T) {
	e := start(t)
	for i := range 5 {
		e.f.AddLead(Lead{FirstName: "F", LastName: "L", Email: fmt.Sprintf("f%d@Example.com", i), Phone: fmt.Sprintf("2165000000%d", i)})
	}
	tok := e.login()
	_, a, _ := e.call("GET", "leads/list/?email=example.COM&phone=21650&limit=2&offset=2", tok, nil, "")
	var page struct {
		Count    int
		Next     string
		Previous string
		Results  []struct{ Email string }
	}
	json.Unmarshal(a.Data, &page)
	if page.Count != 5 || len(page.Results) != 2 || page.Results[0].Email != "f2@Example.com" {
		t.Errorf("page = %+v", page)
	}
	if !strings.HasPrefix(page.Next, e.base+"leads/list/?") || !strings.Contains(page.Next, "offset=4") || !strings.Contains(page.Previous, "offset=0") {
		t.Errorf("links next=%q previous=%q, want absolute under %s", page.Next, page.Previous, e.base)
	}
	e.f.SetListShape(BareArray)
	_, a, _ = e.call("GET", "leads/list/?phone=50000004&limit=2", tok, nil, "")
	var bare []struct{ Slug string }
	if err := json.Unmarshal(a.Data, &bare); err != nil || len(bare) != 1 {
		t.Errorf("bare = %s (%v)", a.Data, err)
	}
}

func TestNotesViewAndDeletes(t *testing.T) {
	e := start(t)
	slug := e.f.AddLead(Lead{FirstName: "A", LastName: "B", Email: "a@b.co", Phone: "1"})
	tok := e.login()
	if code, a := e.post("leads/create/leadnote/", tok, "slug", slug, "note", strings.Repeat("n", 500)); code != 400 || a.Errors["note"][0] != "Ensure this field has no more than 499 characters." {
		t.Errorf("long note: %d %+v", code, a)
	}
	code, a := e.post("leads/create/leadnote/", tok, "slug", slug, "note", strings.Repeat("ü", 499))
	var n struct {
		NoteID int `json:"note_id"`
	}
	json.Unmarshal(a.Data, &n)
	if code != 201 || n.NoteID == 0 {
		t.Fatalf("note: %d %+v", code, a)
	}
	_, a, _ = e.call("GET", "leads/view/lead/?slug="+slug, tok, nil, "")
	var v struct {
		Slug  string
		Notes []struct {
			NoteID int `json:"note_id"`
			Note   string
		}
	}
	json.Unmarshal(a.Data, &v)
	if v.Slug != slug || len(v.Notes) != 1 || v.Notes[0].NoteID != n.NoteID {
		t.Errorf("view = %+v", v)
	}
	if code, _ := e.post("leads/delete/leadnote/", tok, "note_id", fmt.Sprint(n.NoteID)); code != 200 || len(e.f.Leads()[0].Notes) != 0 {
		t.Errorf("delete note: %d", code)
	}
	if code, _ := e.post("leads/delete/lead/", tok, "slug", slug); code != 200 || len(e.f.Leads()) != 0 {
		t.Errorf("delete lead: %d", code)
	}
	if code, a := e.post("leads/delete/lead/", tok, "slug", slug); code != 400 || a.Errors["slug"][0] != "Requested lead already has a deleted status." {
		t.Errorf("second delete: %d %+v", code, a)
	}
	if code, _, _ := e.call("GET", "leads/view/lead/?slug="+slug, tok, nil, ""); code != 400 {
		t.Errorf("view deleted: %d", code)
	}
	if e.f.Writes() != 2 {
		t.Errorf("writes = %d, want the 2 note creations", e.f.Writes())
	}
}

func TestPerLeadRefusalsAre401(t *testing.T) {
	e := start(t)
	slug := e.f.AddLead(Lead{FirstName: "A", LastName: "B", Email: "a@b.co", Phone: "1"})
	e.f.DenyAccess(slug)
	tok := e.login()
	for target, want := range map[string]string{slug: "You are not owner of this lead.", "nope": "Requested lead does not esixt."} {
		code, a := e.post("leads/update/lead/", tok, "slug", target, "first_name", "X")
		if code != 401 || len(a.Errors["detail"]) != 1 || a.Errors["detail"][0] != want {
			t.Errorf("update %s: %d %+v, want 401 %q", target, code, a, want)
		}
	}
	if got := e.f.Leads()[0].FirstName; got != "A" {
		t.Errorf("refused update applied: first_name %q", got)
	}
}
