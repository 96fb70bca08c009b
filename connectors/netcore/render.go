package netcore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leadsync/leadsync/lead"
)

// entry is one element of transcripts[]: who sent it, its type, and the
// payload under the key named by the type.
type entry struct {
	From      string
	Type      string
	CreatedAt json.RawMessage
	Payload   json.RawMessage
	raw       json.RawMessage
}

func decodeEntry(raw json.RawMessage) (entry, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return entry{}, fmt.Errorf("transcript entry is not an object: %s", shorten(string(raw), 64))
	}
	e := entry{CreatedAt: m["createdAt"], raw: raw}
	_ = json.Unmarshal(m["from"], &e.From)
	_ = json.Unmarshal(m["type"], &e.Type)
	e.From, e.Type = strings.TrimSpace(e.From), strings.TrimSpace(e.Type)
	if e.Type != "" {
		e.Payload = m[e.Type]
	}
	return e, nil
}

// sender maps `from` to a canonical role. The vendor documents User, Bot and
// Agent; anything else is the service speaking, so it counts as the bot.
func sender(from string) string {
	switch strings.ToLower(from) {
	case "user":
		return lead.SenderUser
	case "agent":
		return lead.SenderAgent
	}
	return lead.SenderBot
}

// message turns an entry into a canonical message. A createdAt that does not
// parse leaves At zero and is returned as a problem; the message is kept.
func (e entry) message(convID string, loc *time.Location) (lead.Message, error) {
	m := lead.Message{
		ID:     messageID(convID, e),
		Sender: sender(e.From),
		Text:   render(e),
	}
	if m.Sender == lead.SenderBot && e.From != "" && !strings.EqualFold(e.From, "bot") {
		m.Name = e.From
	}
	at, err := parseTimeValue(e.CreatedAt, loc)
	if err != nil {
		return m, fmt.Errorf("createdAt: %w", err)
	}
	m.At = at
	return m, nil
}

// messageID is stable across runs: the service gives messages no id, so it
// hashes what identifies one (conversation, time, sender, type, payload). The
// payload is hashed in canonical form (keys sorted, no spacing), so that the
// same message served with different formatting keeps its id.
func messageID(convID string, e entry) string {
	h := sha256.New()
	for _, part := range []string{convID, string(canonical(e.CreatedAt)), e.From, e.Type, string(canonical(e.Payload))} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func canonical(raw json.RawMessage) []byte {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

// render is a readable one-line text for an entry. Known types get a short
// rendering; any other type, or a known type whose payload has an unexpected
// shape, becomes "[type] <compact JSON>", so no message is ever dropped.
func render(e entry) string {
	typ := e.Type
	payload := e.Payload
	if typ == "" {
		typ, payload = "unknown", e.raw
	}
	var p any
	if len(bytes.TrimSpace(payload)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		if dec.Decode(&p) != nil {
			p = nil
		}
	}
	if r, ok := renderers[strings.ToLower(typ)]; ok && p != nil {
		if s, ok := r(typ, p); ok {
			return oneLine(s)
		}
	}
	return oneLine(generic(typ, payload))
}

// maxGeneric bounds the JSON shown for an unknown message type.
const maxGeneric = 200

func generic(typ string, payload json.RawMessage) string {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(payload)) == 0 || json.Compact(&buf, payload) != nil || buf.String() == "null" {
		return "[" + typ + "]"
	}
	return "[" + typ + "] " + shorten(buf.String(), maxGeneric)
}

type renderer func(typ string, p any) (string, bool)

var renderers = map[string]renderer{
	"text":         renderText,
	"image":        renderMedia,
	"video":        renderMedia,
	"audio":        renderMedia,
	"voice":        renderMedia,
	"file":         renderMedia,
	"document":     renderMedia,
	"doc":          renderMedia,
	"pdf":          renderMedia,
	"xls":          renderMedia,
	"ppt":          renderMedia,
	"sticker":      renderMedia,
	"gif":          renderMedia,
	"attachment":   renderAttachment,
	"reply":        renderReply,
	"dynamicreply": renderReply,
	"button":       renderReply,
	"buttonreply":  renderReply,
	"button_reply": renderReply,
	"quickreply":   renderReply,
	"list":         renderList,
	"dynamiclist":  renderList,
	"listreply":    renderList,
	"list_reply":   renderList,
	"location":     renderLocation,
	"order":        renderOrder,
	"template":     renderTemplate,
	"contact":      renderContact,
	"card":         renderCard,
	"carousel":     renderCarousel,
	"form":         renderForm,
	"productsingle": func(_ string, p any) (string, bool) {
		return tagged("product", str(p, "action.title", "body")), true
	},
	"productmulti": func(_ string, p any) (string, bool) {
		var items []string
		for _, sec := range list(get(p, "action.sections")) {
			for _, it := range list(get(sec, "items")) {
				items = appendNonEmpty(items, str(it, "title", "retailerId"))
			}
		}
		return titled("products", str(p, "header.text", "body"), items)
	},
}

func renderText(_ string, p any) (string, bool) {
	s := str(p, "", "message", "text", "body")
	return s, s != ""
}

func renderMedia(typ string, p any) (string, bool) {
	s := str(p, "", "caption", "title", "fileName", "filename", "name", "url", "link", "contentUrl")
	return tagged(strings.ToLower(typ), s), s != ""
}

func renderAttachment(_ string, p any) (string, bool) {
	s := str(p, "", "caption", "name", "contentUrl", "url", "contentType")
	return tagged("attachment", s), s != ""
}

// renderReply covers the bot's reply-button messages (body and buttons) and
// the user's button replies (a title).
func renderReply(_ string, p any) (string, bool) {
	if t := str(p, "", "title", "text"); t != "" {
		return tagged("reply", t), true
	}
	var buttons []string
	for _, path := range []string{"action.buttons", "actions.buttons", "buttons"} {
		for _, b := range list(get(p, path)) {
			buttons = appendNonEmpty(buttons, str(b, "", "title", "text", "reply.title"))
		}
	}
	return titled("reply", str(p, "body", "header.text"), buttons)
}

func renderList(_ string, p any) (string, bool) {
	if t := str(p, "", "title"); t != "" && get(p, "actions") == nil && get(p, "action") == nil {
		return tagged("list", t), true // a user's pick from a list
	}
	var items []string
	for _, path := range []string{"actions.sections", "action.sections", "sections"} {
		for _, sec := range list(get(p, path)) {
			for _, rows := range []string{"row", "rows", "items"} {
				for _, r := range list(get(sec, rows)) {
					items = appendNonEmpty(items, str(r, "", "title"))
				}
			}
		}
	}
	return titled("list", str(p, "header.text", "body", "actions.button_text"), items)
}

func renderLocation(_ string, p any) (string, bool) {
	lat, long := str(p, "latitude", "lat"), str(p, "longitude", "long", "lng")
	if lat == "" || long == "" {
		return "", false
	}
	s := "[location] " + lat + "," + long
	if name := str(p, "label", "name", "address"); name != "" {
		s += " (" + name + ")"
	}
	return s, true
}

func renderOrder(_ string, p any) (string, bool) {
	items := list(get(p, "items"))
	if items == nil {
		return "", false
	}
	var count, total float64
	priced := false
	currency := ""
	for _, it := range items {
		q, err := strconv.ParseFloat(str(it, "quantity"), 64)
		if err != nil || q <= 0 {
			q = 1
		}
		count += q
		if pr, err := strconv.ParseFloat(str(it, "price", "item_price"), 64); err == nil {
			total += q * pr
			priced = true
		}
		if currency == "" {
			currency = str(it, "currency")
		}
	}
	unit := "items"
	if count == 1 {
		unit = "item"
	}
	s := fmt.Sprintf("[order] %s %s", strconv.FormatFloat(count, 'f', -1, 64), unit)
	if priced {
		s += ", " + strings.TrimSpace(fmt.Sprintf("%.2f %s", total, currency))
	}
	return s, true
}

func renderTemplate(_ string, p any) (string, bool) {
	s := str(p, "", "name", "templateName", "elementName", "body")
	return tagged("template", s), s != ""
}

func renderContact(_ string, p any) (string, bool) {
	s := strings.TrimSpace(strings.Join([]string{str(p, "firstName"), str(p, "lastName"), str(p, "phoneNumber")}, " "))
	return tagged("contact", s), s != ""
}

func renderCard(_ string, p any) (string, bool) {
	s := str(p, "title", "subtitle")
	return tagged("card", s), s != ""
}

func renderCarousel(_ string, p any) (string, bool) {
	var titles []string
	for _, c := range list(p) {
		titles = appendNonEmpty(titles, str(c, "title"))
	}
	return tagged("carousel", strings.Join(titles, ", ")), len(titles) > 0
}

func renderForm(_ string, p any) (string, bool) {
	s := str(p, "title", "name")
	return tagged("form", s), s != ""
}

func tagged(tag, s string) string {
	if s == "" {
		return "[" + tag + "]"
	}
	return "[" + tag + "] " + s
}

// titled renders "[tag] title: a, b", dropping whichever part is empty; it
// declines when both are, so the entry falls back to the generic rendering.
func titled(tag, title string, items []string) (string, bool) {
	switch {
	case title == "" && len(items) == 0:
		return "", false
	case len(items) == 0:
		return tagged(tag, title), true
	case title == "":
		return tagged(tag, strings.Join(items, ", ")), true
	}
	return tagged(tag, title+": "+strings.Join(items, ", ")), true
}

// get follows a dotted path of object keys.
func get(v any, path string) any {
	if path == "" {
		return v
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str returns the first path that holds a non-empty scalar, as text. The
// path "" is the value itself.
func str(v any, paths ...string) string {
	for _, p := range paths {
		switch x := get(v, p).(type) {
		case string:
			if s := strings.TrimSpace(x); s != "" {
				return s
			}
		case json.Number:
			return x.String()
		case bool:
			return strconv.FormatBool(x)
		}
	}
	return ""
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func appendNonEmpty(l []string, s string) []string {
	if s == "" {
		return l
	}
	return append(l, s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
