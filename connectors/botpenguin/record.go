package botpenguin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// apiChat is a BotPenguin inbox chat. Contact details come either flat
// (name, email, phone, dialCode) or nested under profile.userDetails; both
// are read and merged. An httpapi.Text comes trimmed.
type apiChat struct {
	ID          httpapi.Text      `json:"_id"`
	UUID        httpapi.Text      `json:"uuid"`
	Status      httpapi.Text      `json:"status"`
	CreatedAt   json.RawMessage   `json:"createdAt"`
	UpdatedAt   json.RawMessage   `json:"updatedAt"`
	LastMessage json.RawMessage   `json:"lastMessage"`
	Tags        []json.RawMessage `json:"tags"`
	Attributes  []struct {
		Key   httpapi.Text    `json:"key"`
		Value json.RawMessage `json:"value"`
	} `json:"attributes"`
	Notes []struct {
		Title       httpapi.Text `json:"title"`
		Description httpapi.Text `json:"description"`
	} `json:"notes"`

	Name     httpapi.Text `json:"name"`
	Email    httpapi.Text `json:"email"`
	Phone    httpapi.Text `json:"phone"`
	DialCode httpapi.Text `json:"dialCode"`
	Profile  *struct {
		UserDetails *struct {
			Name    httpapi.Text `json:"name"`
			Email   httpapi.Text `json:"email"`
			Contact *struct {
				Phone *struct {
					Number httpapi.Text `json:"number"`
					Prefix httpapi.Text `json:"prefix"`
				} `json:"phone"`
			} `json:"contact"`
		} `json:"userDetails"`
	} `json:"profile"`
}

// nested returns profile.userDetails' name, email, phone number and prefix.
func (c *apiChat) nested() (name, email, number, prefix string) {
	if c.Profile == nil || c.Profile.UserDetails == nil {
		return
	}
	u := c.Profile.UserDetails
	name, email = string(u.Name), string(u.Email)
	if u.Contact != nil && u.Contact.Phone != nil {
		number, prefix = string(u.Contact.Phone.Number), string(u.Contact.Phone.Prefix)
	}
	return
}

// defaultChannel is the channel of a chat whose last message names none: a
// BotPenguin bot is a website chatbot unless it says otherwise.
const defaultChannel = "chatbot"

// ToRecord maps one chat. A chat that cannot be read or has neither uuid
// nor _id is an error (it cannot be stored); a bad phone, email or date is a
// problem and the record is still returned.
func ToRecord(in *connectors.Instance, botID string, raw json.RawMessage) (lead.Record, []error, error) {
	var c apiChat
	if err := httpapi.DecodeRecord(raw, &c); err != nil {
		return lead.Record{}, nil, fmt.Errorf("unreadable chat: %w", err)
	}
	id := string(c.UUID)
	if id == "" {
		id = string(c.ID)
	}
	if id == "" {
		return lead.Record{}, nil, errors.New("chat without uuid or _id")
	}
	rec := lead.Record{
		Source:   in.Name,
		SourceID: id,
		Status:   string(c.Status),
		Channel:  channel(c.LastMessage),
		Context:  "botpenguin bot " + botID,
		Raw:      append([]byte(nil), raw...),
	}
	nName, nEmail, nNumber, nPrefix := c.nested()
	name := lead.CleanName(string(c.Name))
	if name == "" {
		name = lead.CleanName(nName)
	}
	rec.FirstName, rec.LastName = lead.SplitName(name)

	region := in.Region
	problems := rec.AddContacts(region,
		[]string{string(c.Email), nEmail},
		[]string{joinPhone(string(c.DialCode), string(c.Phone), region), joinPhone(nPrefix, nNumber, region)})

	for _, t := range c.Tags {
		if s := strings.TrimSpace(render(t)); s != "" {
			rec.Tags = append(rec.Tags, s)
		}
	}
	rec.Attributes = attributes(c)

	var err error
	if rec.CreatedAt, err = parseTime(c.CreatedAt, in.Location); err != nil {
		problems = append(problems, fmt.Errorf("createdAt: %w", err))
	}
	if rec.UpdatedAt, err = parseTime(c.UpdatedAt, in.Location); err != nil {
		problems = append(problems, fmt.Errorf("updatedAt: %w", err))
	}
	return rec, problems, nil
}

// attributes flattens the chat's custom attributes and notes into one map.
// Notes have no home in the canonical record (they are not a conversation:
// no sender, no time), so each becomes "note:<title>" = description; notes
// sharing a title are joined by a blank line, and an untitled note is
// "note:<position>" (from 1).
func attributes(c apiChat) map[string]string {
	m := map[string]string{}
	for _, a := range c.Attributes {
		k := string(a.Key)
		if k == "" {
			continue
		}
		m[k] = render(a.Value)
	}
	for i, n := range c.Notes {
		title := string(n.Title)
		if title == "" {
			title = strconv.Itoa(i + 1)
		}
		k := "note:" + title
		if prev, ok := m[k]; ok {
			m[k] = prev + "\n\n" + string(n.Description)
			continue
		}
		m[k] = string(n.Description)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// render turns an attribute value into text: a string as it is, null as "",
// anything else (numbers, booleans, objects) as compact JSON.
func render(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) == nil {
		return buf.String()
	}
	return string(v)
}

// channel reads the channel the last message came through; BotPenguin's
// chat list names it on lastMessage, when at all.
func channel(raw json.RawMessage) string {
	var lm struct {
		Channel  httpapi.Text `json:"channel"`
		Platform httpapi.Text `json:"platform"`
		Source   httpapi.Text `json:"source"`
	}
	if len(bytes.TrimSpace(raw)) == 0 || json.Unmarshal(raw, &lm) != nil {
		return defaultChannel
	}
	for _, c := range []httpapi.Text{lm.Channel, lm.Platform, lm.Source} {
		if s := strings.ToLower(string(c)); s != "" {
			return s
		}
	}
	return defaultChannel
}

// joinPhone puts a dial code ("+91", "91", "0091") in front of a number.
// A number already written with "+" or "00" carries its own code. When the
// number already starts with the code's digits and prefixing it again would
// not make a valid number, the number alone (with "+") is used: people type
// their full international number into the phone field.
func joinPhone(prefix, number, region string) string {
	number = strings.TrimSpace(number)
	if number == "" {
		return ""
	}
	if strings.HasPrefix(number, "+") || strings.HasPrefix(number, "00") {
		return number
	}
	code := digits(prefix)
	code = strings.TrimLeft(code, "0")
	if code == "" {
		return number
	}
	joined := "+" + code + number
	if _, err := lead.NormalizePhone(joined, region); err == nil {
		return joined
	}
	if d := digits(number); strings.HasPrefix(d, code) {
		if _, err := lead.NormalizePhone("+"+d, region); err == nil {
			return "+" + d
		}
	}
	return joined
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parseTime reads a chat timestamp: an ISO string (the usual form), epoch
// milliseconds or seconds as a number, or MongoDB's {"$date": ...}.
func parseTime(raw json.RawMessage, loc *time.Location) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		return lead.ParseTime(s, loc)
	case '{':
		var d struct {
			Date json.RawMessage `json:"$date"`
		}
		if err := json.Unmarshal(raw, &d); err != nil || len(d.Date) == 0 || d.Date[0] == '{' {
			return time.Time{}, fmt.Errorf("unrecognised timestamp %.40s", raw)
		}
		return parseTime(d.Date, loc)
	}
	n, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("unrecognised timestamp %.40s", raw)
	}
	if n >= 1e11 { // after 1973 in milliseconds, or after year 5138 in seconds
		return time.UnixMilli(int64(n)).UTC(), nil
	}
	return time.Unix(int64(n), 0).UTC(), nil
}
