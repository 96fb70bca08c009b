package netcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// apiTime is how dates are sent: ISO 8601 in UTC with milliseconds, as in
// the vendor's request samples ("2021-10-01T00:00:00.000Z").
const apiTime = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(apiTime) }

// client speaks the Bot Open API over the instance's shared HTTP client.
type client struct {
	http *httpapi.Client
}

// newTokenAuth logs in with the app credentials. The token is sent bare in
// Authorization (no "Bearer"), renewed a minute before the expiry login
// announced, and again after a 401.
func newTokenAuth(appID, appSecret string, now func() time.Time) *httpapi.TokenAuth {
	return &httpapi.TokenAuth{
		Login: func(ctx context.Context, c *httpapi.Client) (httpapi.Token, error) {
			resp, err := c.Do(ctx, &httpapi.Request{
				Method: http.MethodPost,
				Path:   "login",
				JSON:   map[string]string{"appId": appID, "appSecret": appSecret},
				NoAuth: true,
				Label:  "login",
			})
			if err != nil {
				if httpapi.IsStatus(err, 400, 401, 403, 404, 409) {
					return httpapi.Token{}, fmt.Errorf("%w: login refused, check auth app_id and app_secret: %w", connectors.ErrConfig, err)
				}
				return httpapi.Token{}, err
			}
			tok, err := parseLogin(resp.Body, now())
			if err != nil {
				return httpapi.Token{}, fmt.Errorf("%s: login: %w", c.Name(), err)
			}
			return tok, nil
		},
		Set:    func(req *http.Request, tok httpapi.Token) { req.Header.Set("Authorization", tok.Value) },
		Margin: time.Minute,
		Now:    now,
	}
}

type loginResponse struct {
	AuthToken string          `json:"authToken"`
	ExpireAt  json.RawMessage `json:"expireAt"`
	ExpiresAt json.RawMessage `json:"expiresAt"`
}

// parseLogin reads {"authToken","expireAt"} (or "expiresAt"). The expiry is
// accepted as an RFC 3339 string, as epoch seconds or milliseconds (number or
// digit string), or as a small number of seconds to live. An expiry that is
// missing or unreadable leaves the token without one: it is then renewed
// only when the service answers 401, which httpapi handles.
func parseLogin(body []byte, now time.Time) (httpapi.Token, error) {
	var lr loginResponse
	if err := httpapi.DecodeJSON(body, &lr); err != nil {
		return httpapi.Token{}, err
	}
	tok := httpapi.Token{Value: strings.TrimSpace(lr.AuthToken)}
	if tok.Value == "" {
		return httpapi.Token{}, errors.New("answer has no authToken")
	}
	raw := lr.ExpireAt
	if isNull(raw) {
		raw = lr.ExpiresAt
	}
	if exp, err := parseExpiry(raw, now); err == nil {
		tok.Expiry = exp
	}
	return tok, nil
}

// ttlCutoff separates a time-to-live in seconds from an epoch timestamp: no
// token is issued for 30 years, and no epoch worth reading is before 2001.
const ttlCutoff = 1e9

func parseExpiry(raw json.RawMessage, now time.Time) (time.Time, error) {
	if isNull(raw) {
		return time.Time{}, nil
	}
	if n, ok := jsonNumber(raw); ok && n > 0 && n < ttlCutoff {
		return now.Add(time.Duration(n * float64(time.Second))), nil
	}
	return parseTimeValue(raw, time.UTC)
}

// parseTimeValue reads a vendor timestamp given as a JSON string (any form
// lead.ParseTime knows, or epoch digits) or a JSON number (epoch seconds, or
// milliseconds when it is too large to be seconds). null and "" are the zero
// time.
func parseTimeValue(raw json.RawMessage, loc *time.Location) (time.Time, error) {
	if isNull(raw) {
		return time.Time{}, nil
	}
	if n, ok := jsonNumber(raw); ok {
		return epoch(n), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("unrecognised timestamp %s", shorten(string(raw), 64))
	}
	return lead.ParseTime(s, loc)
}

// epochMillisCutoff: a seconds value this large is beyond the year 33000, so
// it must be milliseconds.
const epochMillisCutoff = 1e12

func epoch(n float64) time.Time {
	if n >= epochMillisCutoff {
		return time.UnixMilli(int64(n)).UTC()
	}
	return time.Unix(int64(n), 0).UTC()
}

// jsonNumber reads a JSON number, or a JSON string of digits, as a float.
func jsonNumber(raw json.RawMessage) (float64, bool) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
		if s == "" || strings.Trim(s, "0123456789.") != "" {
			return 0, false
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	return n, err == nil
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null" || s == `""`
}

// flexInt decodes a JSON number or a numeric string.
type flexInt struct {
	V   int
	Set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	n, ok := jsonNumber(b)
	if !ok {
		return fmt.Errorf("expected a number, got %s", shorten(string(b), 32))
	}
	f.V, f.Set = int(n), true
	return nil
}

// flexBool decodes hasNextPage, which the service sends as a boolean or as
// 0/1 (numbers or strings).
type flexBool struct {
	V   bool
	Set bool
}

func (f *flexBool) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	switch strings.ToLower(s) {
	case "true", "1":
		f.V, f.Set = true, true
	case "false", "0":
		f.V, f.Set = false, true
	default:
		return fmt.Errorf("expected a boolean or 0/1, got %s", shorten(string(b), 32))
	}
	return nil
}

// usersPage is one answer of POST users.
type usersPage struct {
	Users       []json.RawMessage `json:"users"`
	Page        flexInt           `json:"page"`
	Pages       flexInt           `json:"pages"`
	Total       flexInt           `json:"total"`
	Limit       flexInt           `json:"limit"`
	HasNextPage flexBool          `json:"hasNextPage"`
}

// more reports whether a page after page (the one asked for) exists: not
// when the page is empty, when hasNextPage says no, or when page >= pages.
// With neither hasNextPage nor pages, a full page means there may be more.
func (p *usersPage) more(page, limit int) bool {
	if len(p.Users) == 0 {
		return false
	}
	if p.HasNextPage.Set && !p.HasNextPage.V {
		return false
	}
	if p.Pages.Set && p.Pages.V > 0 && page >= p.Pages.V {
		return false
	}
	if !p.HasNextPage.Set && !(p.Pages.Set && p.Pages.V > 0) {
		return len(p.Users) >= limit
	}
	return true
}

// users asks for one page of the users whose last interaction is in [start, end].
func (c *client) users(ctx context.Context, channels []int, start, end time.Time, page, limit int, label string) (*usersPage, error) {
	var p usersPage
	// channelIds is mandatory: the service answers 500 without it.
	body := map[string]any{"channelIds": channels}
	if err := c.postPage(ctx, "users", body, start, end, page, limit, label, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// postPage POSTs body, with startDate and endDate set to [start, end], to
// path for one page of limit items, and decodes the answer into out. A
// refused credential or a 403/404 comes back as a configuration error.
func (c *client) postPage(ctx context.Context, path string, body map[string]any, start, end time.Time, page, limit int, label string, out any) error {
	body["startDate"] = formatTime(start)
	body["endDate"] = formatTime(end)
	_, err := c.http.JSON(ctx, &httpapi.Request{
		Method: http.MethodPost,
		Path:   path,
		Query:  pageQuery(page, limit),
		JSON:   body,
		Label:  label,
	}, out)
	return connectors.ConfigError(err)
}

// apiUser is one element of users[].
type apiUser struct {
	UserID          httpapi.Text    `json:"userId"`
	BotUserID       httpapi.Text    `json:"botUserId"`
	ChannelName     string          `json:"channelName"`
	UserName        string          `json:"userName"`
	Name            string          `json:"name"`
	CreatedDate     json.RawMessage `json:"createdDate"`
	FirstInteracted json.RawMessage `json:"first interacted date"`
	LastInteracted  json.RawMessage `json:"last interacted date"`
}

// botUser is what transcripts tells of the user beyond the messages.
type botUser struct {
	CustomFields map[string]json.RawMessage `json:"customFields"`
	Tags         []json.RawMessage          `json:"tags"`
}

// transcriptsPage is one answer of POST transcripts.
type transcriptsPage struct {
	BotUser           botUser           `json:"botUser"`
	Transcripts       []json.RawMessage `json:"transcripts"`
	PaginationDetails struct {
		Page  flexInt `json:"page"`
		Pages flexInt `json:"pages"`
		Total flexInt `json:"total"`
		Limit flexInt `json:"limit"`
	} `json:"paginationDetails"`
}

// more reports whether a page after page exists, per paginationDetails; with
// no page count, a full page means there may be more.
func (p *transcriptsPage) more(page, limit int) bool {
	if len(p.Transcripts) == 0 {
		return false
	}
	if pd := p.PaginationDetails; pd.Pages.Set && pd.Pages.V > 0 {
		return page < pd.Pages.V
	}
	return len(p.Transcripts) >= limit
}

func (c *client) transcripts(ctx context.Context, botUserID string, channel int, start, end time.Time, page, limit int, label string) (*transcriptsPage, error) {
	var p transcriptsPage
	body := map[string]any{"botUserId": botUserID, "channelId": channel}
	if err := c.postPage(ctx, "transcripts", body, start, end, page, limit, label, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

type usage struct {
	TotalMessages flexInt `json:"totalMessages"`
	TotalUsers    flexInt `json:"totalUsers"`
}

func (c *client) usage(ctx context.Context, month time.Time, channel int) (*usage, error) {
	label := fmt.Sprintf("botUsage %s channel %d", month.Format("2006-01"), channel)
	var u usage
	_, err := c.http.JSON(ctx, &httpapi.Request{
		Method: http.MethodGet,
		Path:   "botUsage",
		Query:  url.Values{"monthDate": {month.Format("2006-01-02")}, "channelId": {strconv.Itoa(channel)}},
		Label:  label,
	}, &u)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func pageQuery(page, limit int) url.Values {
	return url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(limit)}}
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}
