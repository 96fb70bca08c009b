package botpenguintest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
)

func call(t *testing.T, method, u string, headers map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return fixture.DoJSON(t, req)
}

func chatsURL(base string, q map[string]string) string {
	v := url.Values{"botId": {BotID}, "customerId": {CustomerID}, "page": {"1"}, "type": {"lead"}}
	for k, x := range q {
		if x == "" {
			v.Del(k)
		} else {
			v.Set(k, x)
		}
	}
	return base + "/inbox/direct/chats?" + v.Encode()
}

func TestAnyOneTokenHeaderIsAccepted(t *testing.T) {
	srv := httptest.NewServer(New().Handler())
	defer srv.Close()
	tests := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"x-bot-token", map[string]string{"x-bot-token": Token}, 200},
		{"x-bp-token", map[string]string{"x-bp-token": Token}, 200},
		{"bearer with authtype Key", map[string]string{"Authorization": "Bearer " + Token, "authtype": "Key"}, 200},
		{"bearer without authtype", map[string]string{"Authorization": "Bearer " + Token}, 401},
		{"wrong token", map[string]string{"x-bot-token": "nope"}, 401},
		{"none", nil, 401},
	}
	for _, tt := range tests {
		code, body := call(t, http.MethodGet, chatsURL(srv.URL, nil), tt.headers, "")
		if code != tt.status {
			t.Errorf("%s: status %d, want %d (%v)", tt.name, code, tt.status, body)
		}
		if code == 401 && (body["success"] != false || body["message"] != "Unauthorized") {
			t.Errorf("%s: 401 body %v, want BotPenguin's envelope", tt.name, body)
		}
	}
}

func TestChatsFilterByTypeAndPage(t *testing.T) {
	f := New()
	f.SetPageSize(2)
	f.AddChats(Chat{UUID: "l1", Lead: true}, Chat{UUID: "n1"}, Chat{UUID: "l2", Lead: true}, Chat{UUID: "l3", Lead: true})
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	auth := map[string]string{"x-bot-token": Token}
	uuids := func(q map[string]string) []string {
		_, body := call(t, http.MethodGet, chatsURL(srv.URL, q), auth, "")
		var out []string
		for _, c := range body["data"].([]any) {
			out = append(out, c.(map[string]any)["uuid"].(string))
		}
		return out
	}
	tests := []struct {
		q    map[string]string
		want string
	}{
		{map[string]string{"page": "1"}, "l1 l2"},
		{map[string]string{"page": "2"}, "l3"},
		{map[string]string{"page": "3"}, ""},
		{map[string]string{"type": "non-lead"}, "n1"},
	}
	for _, tt := range tests {
		if got := strings.Join(uuids(tt.q), " "); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.q, got, tt.want)
		}
	}
}

func TestChatsValidateQuery(t *testing.T) {
	srv := httptest.NewServer(New().Handler())
	defer srv.Close()
	auth := map[string]string{"x-bot-token": Token}
	tests := []struct {
		q      map[string]string
		status int
		msg    string
	}{
		{map[string]string{"botId": ""}, 400, "botId is required"},
		{map[string]string{"customerId": ""}, 400, "customerId is required"},
		{map[string]string{"page": "0"}, 400, "page must be a positive number"},
		{map[string]string{"type": "all"}, 400, `type must be "lead" or "non-lead"`},
		{map[string]string{"botId": "other"}, 404, "Bot not found"},
	}
	for _, tt := range tests {
		code, body := call(t, http.MethodGet, chatsURL(srv.URL, tt.q), auth, "")
		if code != tt.status || body["message"] != tt.msg || body["success"] != false {
			t.Errorf("%v: %d %v, want %d %q", tt.q, code, body, tt.status, tt.msg)
		}
	}
}

func TestContactShapes(t *testing.T) {
	f := New()
	f.AddChats(Chat{UUID: "a", Lead: true, Name: "Flat", Phone: "1", DialCode: "+91"}, Chat{UUID: "b", Lead: true, Nested: true, Name: "Nest", Phone: "2", DialCode: "+91"})
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	auth := map[string]string{"x-bot-token": Token}
	nestedOf := func() []bool {
		_, body := call(t, http.MethodGet, chatsURL(srv.URL, nil), auth, "")
		var out []bool
		for _, c := range body["data"].([]any) {
			m := c.(map[string]any)
			_, nested := m["profile"]
			_, flat := m["name"]
			if nested == flat {
				t.Fatalf("chat %v has both or neither contact shape", m)
			}
			out = append(out, nested)
		}
		return out
	}
	for _, tt := range []struct {
		shape Shape
		want  [2]bool
	}{{PerChat, [2]bool{false, true}}, {Flat, [2]bool{false, false}}, {Nested, [2]bool{true, true}}} {
		f.SetShape(tt.shape)
		if got := nestedOf(); got[0] != tt.want[0] || got[1] != tt.want[1] {
			t.Errorf("shape %d: nested %v, want %v", tt.shape, got, tt.want)
		}
	}
}

func TestUpsertValidates(t *testing.T) {
	srv := httptest.NewServer(New().Handler())
	defer srv.Close()
	auth := map[string]string{"x-bp-token": Token, "Content-Type": "application/json"}
	tests := []struct {
		body   string
		status int
		msg    string
	}{
		{`{"botId":"` + BotID + `","customerId":"` + CustomerID + `"}`, 400, "uuid is required"},
		{`{"uuid":"u","customerId":"` + CustomerID + `"}`, 400, "botId is required"},
		{`{"uuid":"u","botId":"` + BotID + `","customerId":"` + CustomerID + `","status":"WON"}`, 400, "status must be one of OPEN, INPROGRESS, REVIEW, ONHOLD, DEPENDANCY, CLOSED"},
		{`{"uuid":"u","botId":"` + BotID + `","customerId":"` + CustomerID + `","dialCode":"91"}`, 400, `dialCode must include the "+" sign`},
		{`{"uuid":"u","botId":"` + BotID + `","customerId":"` + CustomerID + `","name":"N"}`, 200, "Lead updated successfully"},
	}
	for _, tt := range tests {
		code, body := call(t, http.MethodPut, srv.URL+"/inbox/direct/lead", auth, tt.body)
		if code != tt.status || body["message"] != tt.msg {
			t.Errorf("%s: %d %v, want %d %q", tt.body, code, body, tt.status, tt.msg)
		}
	}
}

func TestSetPageSizeRefusesOutOfRange(t *testing.T) {
	for _, n := range []int{1, 11} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetPageSize(%d) accepted", n)
				}
			}()
			New().SetPageSize(n)
		}()
	}
}
