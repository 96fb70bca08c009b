package robordertest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
)

func get(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return fixture.DoJSON(t, req)
}

func TestNonPaginatorShapesIgnorePage(t *testing.T) {
	for _, shape := range []Shape{Array, Single} {
		f := New()
		f.AddLeads(Lead{CustomerName: "A B", Phone: "22000001"}, Lead{CustomerName: "C D", Phone: "22000002"})
		f.SetShape(shape)
		srv := httptest.NewServer(f.Handler())
		_, p1 := get(t, srv.URL+"/api/v1/leads?page=1", Token)
		_, p2 := get(t, srv.URL+"/api/v1/leads?page=2", Token)
		srv.Close()
		if !cmp.Equal(p1, p2) {
			t.Errorf("shape %d: page 2 differs from page 1:\n%s", shape, cmp.Diff(p1, p2))
		}
		if p1["data"] == nil {
			t.Errorf("shape %d: no data", shape)
		}
	}
}

func TestPaginatorLinksAndCounts(t *testing.T) {
	f := New()
	for i := 0; i < 5; i++ {
		f.AddLeads(Lead{CustomerName: "X", Phone: "22000001"})
	}
	f.SetShape(Paginator)
	f.SetPerPage(2)
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	tests := []struct {
		page string
		n    int
		next any
	}{
		{"1", 2, srv.URL + "/api/v1/leads?page=2"},
		{"3", 1, nil},
		{"9", 0, nil},
		{"abc", 2, srv.URL + "/api/v1/leads?page=2"}, // Laravel reads a bad page as 1
	}
	for _, tt := range tests {
		_, body := get(t, srv.URL+"/api/v1/leads?page="+tt.page, Token)
		data := body["data"].(map[string]any)
		if n := len(data["data"].([]any)); n != tt.n || data["next_page_url"] != tt.next || data["total"] != float64(5) || data["last_page"] != float64(3) {
			t.Errorf("page %s: %d leads, next %v, total %v, last %v; want %d, %v, 5, 3", tt.page, n, data["next_page_url"], data["total"], data["last_page"], tt.n, tt.next)
		}
	}
}

func TestAuthAndLogin(t *testing.T) {
	f := New()
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()

	if code, body := get(t, srv.URL+"/api/v1/leads", ""); code != 401 || body["message"] != "Unauthenticated." {
		t.Errorf("no token: %d %v, want 401 Unauthenticated.", code, body)
	}
	login := func(email, password string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/login", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		return fixture.DoJSON(t, req)
	}
	if code, body := login(Email, "wrong"); code == 200 || body["success"] != false || body["message"] != "Unauthorised." {
		t.Errorf("wrong password: %d %v", code, body)
	}
	if code, body := login("", ""); code != 422 || body["errors"] == nil {
		t.Errorf("missing fields: %d %v, want 422 with errors", code, body)
	}
	code, body := login(Email, Password)
	if code != 200 || body["success"] != true {
		t.Fatalf("login: %d %v", code, body)
	}
	tok := body["data"].(map[string]any)["access_token"].(string)
	if code, _ := get(t, srv.URL+"/api/v1/leads", tok); code != 200 {
		t.Errorf("issued token: %d, want 200", code)
	}
	f.RevokeTokens()
	if code, _ := get(t, srv.URL+"/api/v1/leads", tok); code != 401 {
		t.Errorf("revoked token: %d, want 401", code)
	}
	if code, _ := get(t, srv.URL+"/api/v1/leads", Token); code != 200 {
		t.Errorf("dashboard token after revocation: %d, want 200", code)
	}
}
