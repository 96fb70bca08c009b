package askhandle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// Defaults for the instance's zero values.
const (
	defaultBackfill = 90 * 24 * time.Hour
	defaultOverlap  = 24 * time.Hour
	dateLayout      = "2006-01-02"
	channel         = "webchat"
)

// Source reads an AskHandle account: its leads, by created_at day window,
// then every chat room with its messages.
type Source struct {
	in   *connectors.Instance
	c    *httpapi.Client
	opts options
	loc  *time.Location
}

// NewSource builds the source role of an askhandle instance.
func NewSource(in *connectors.Instance) (connectors.Source, error) {
	opts, err := decodeOptions(in)
	if err != nil {
		return nil, err
	}
	auth, err := authFor(in)
	if err != nil {
		return nil, err
	}
	c, err := in.HTTP(auth)
	if err != nil {
		return nil, err
	}
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	return &Source{in: in, c: c, opts: opts, loc: loc}, nil
}

// cursor is the source's position: the newest lead created_at day seen, in
// the instance's zone. Rooms and messages have no date filter and are read in
// full every run, so they need no position.
type cursor struct {
	LeadsDate string `json:"leads_date,omitempty"`
}

func decodeCursor(b connectors.Cursor) (cursor, error) {
	var c cursor
	if len(b) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("unreadable cursor: %w", err)
	}
	if c.LeadsDate != "" {
		if _, err := time.Parse(dateLayout, c.LeadsDate); err != nil {
			return c, fmt.Errorf("unreadable cursor: leads_date %q", c.LeadsDate)
		}
	}
	return c, nil
}

// Pull emits the leads pages (the last one carries the new cursor), then the
// rooms pages.
func (s *Source) Pull(ctx context.Context, cur connectors.Cursor, emit func(connectors.Page) error) error {
	c, err := decodeCursor(cur)
	if err != nil {
		return fmt.Errorf("%s: %w", s.in.Name, err)
	}
	if err := s.pullLeads(ctx, c, emit); err != nil {
		return err
	}
	return s.pullRooms(ctx, emit)
}

// window returns the start_date and end_date of this run: from the cursor's
// day (or now minus backfill) minus the overlap, to today. Both filters are
// whole days, so the overlap is rounded up to whole days.
func (s *Source) window(c cursor) (start, end time.Time) {
	now := s.in.Now().In(s.loc)
	today := day(now)
	from := day(now.Add(-backfill(s.in.Backfill)))
	if c.LeadsDate != "" {
		from, _ = time.ParseInLocation(dateLayout, c.LeadsDate, s.loc)
	}
	overlap := s.in.Overlap
	if overlap <= 0 {
		overlap = defaultOverlap
	}
	days := int((overlap + 24*time.Hour - 1) / (24 * time.Hour))
	start = from.AddDate(0, 0, -days)
	if start.After(today) {
		start = today // a cursor ahead of the clock must not make an empty window
	}
	return start, today
}

func backfill(d time.Duration) time.Duration {
	if d <= 0 {
		return defaultBackfill
	}
	return d
}

func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// pullLeads reads the day window. The vendor's sort order is not documented
// (newest first is likely), so no page but the last can tell how far the
// window has been read: every page is emitted without a cursor, and only the
// last one moves it. A run that fails halfway re-reads the window next time;
// the engine's content hashes make that cheap.
func (s *Source) pullLeads(ctx context.Context, c cursor, emit func(connectors.Page) error) error {
	start, end := s.window(c)
	last := end.Format(dateLayout)
	newest := c.LeadsDate
	var held *connectors.Page
	p := &pager{
		c:        s.c,
		path:     pathLeads,
		query:    url.Values{"start_date": {start.Format(dateLayout)}, "end_date": {last}},
		pageSize: s.opts.PageSize,
		label:    func(_, offset int) string { return fmt.Sprintf("leads offset %d", offset) },
	}
	err := p.each(ctx, func(label string, items []json.RawMessage) error {
		page := connectors.Page{Label: label}
		for _, raw := range items {
			rec, created, probs := s.leadRecord(raw)
			page.Problems = append(page.Problems, probs...)
			if rec == nil {
				continue
			}
			page.Records = append(page.Records, *rec)
			// A created_at past today (a vendor clock or zone error) must not
			// push the cursor beyond the window's end.
			if !created.IsZero() {
				if d := created.In(s.loc).Format(dateLayout); d > newest && d <= last {
					newest = d
				}
			}
		}
		if held != nil {
			if err := emit(*held); err != nil {
				return err
			}
		}
		held = &page
		return nil
	})
	if err != nil {
		return err
	}
	if held == nil {
		return nil
	}
	if newest != "" {
		held.Cursor, _ = json.Marshal(cursor{LeadsDate: newest})
	}
	return emit(*held)
}

// leadRecord maps one lead. A lead without a uuid has no stable key and is
// skipped with a problem; any other oddity is a problem on a kept record.
func (s *Source) leadRecord(raw json.RawMessage) (*lead.Record, time.Time, []error) {
	var l apiLead
	if err := httpapi.DecodeRecord(raw, &l); err != nil {
		return nil, time.Time{}, []error{fmt.Errorf("lead %s: %w", rawID(raw), err)}
	}
	if l.UUID == "" {
		return nil, time.Time{}, []error{errors.New("lead without uuid skipped")}
	}
	id := string(l.UUID)
	rec := &lead.Record{
		Source:   s.in.Name,
		SourceID: id,
		Channel:  channel,
		Context:  leadContext(l),
		Raw:      append([]byte(nil), raw...),
	}
	rec.FirstName, rec.LastName = lead.SplitName(lead.CleanName(string(l.Nickname)))
	var probs []error
	for _, err := range rec.AddContacts(s.in.Region, []string{string(l.Email)}, []string{string(l.PhoneNumber)}) {
		probs = append(probs, fmt.Errorf("lead %s: %w", id, err))
	}
	attrs := map[string]string{}
	for k, v := range map[string]flexString{"device": l.Device, "from_page_title": l.FromPageTitle, "referrer": l.Referrer} {
		if v != "" {
			attrs[k] = string(v)
		}
	}
	if len(attrs) > 0 {
		rec.Attributes = attrs
	}
	created, err := lead.ParseTime(string(l.CreatedAt), s.loc)
	if err != nil {
		probs = append(probs, fmt.Errorf("lead %s: created_at: %w", id, err))
	}
	rec.CreatedAt = created
	return rec, created, probs
}

// leadContext is "askhandle widget: Pricing (via google.com, mobile)".
func leadContext(l apiLead) string {
	ctx := "askhandle widget"
	if l.FromPageTitle != "" {
		ctx += ": " + string(l.FromPageTitle)
	}
	var extra []string
	if ref := referrerHost(string(l.Referrer)); ref != "" {
		extra = append(extra, "via "+ref)
	}
	if l.Device != "" {
		extra = append(extra, string(l.Device))
	}
	if len(extra) > 0 {
		ctx += " (" + strings.Join(extra, ", ") + ")"
	}
	return ctx
}

// referrerHost shortens a referrer URL to its host; the full URL stays in
// the record's attributes.
func referrerHost(ref string) string {
	if u, err := url.Parse(ref); err == nil && u.Host != "" {
		return strings.TrimPrefix(u.Host, "www.")
	}
	return ref
}

// message is a decoded message with its parsed time. It keeps no copy of
// its raw JSON: the /messages/ list is held whole until the rooms are read
// (heldRooms: spooled to a file, or packed in memory), and a room's record
// carries the room's raw JSON only.
type message struct {
	apiMessage
	at time.Time
}

// pullRooms reads every message (the endpoint has no per-room or date filter
// documented), then the rooms page by page, each room with its messages.
// Messages whose room the rooms list did not return are emitted last, as
// rooms of their own, so no conversation is dropped silently.
func (s *Source) pullRooms(ctx context.Context, emit func(connectors.Page) error) error {
	byRoom, probs, err := s.readMessages(ctx)
	defer byRoom.close()
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	p := &pager{
		c:        s.c,
		path:     pathRooms,
		pageSize: s.opts.PageSize,
		label:    func(n, _ int) string { return fmt.Sprintf("rooms page %d", n) },
	}
	err = p.each(ctx, func(label string, items []json.RawMessage) error {
		page := connectors.Page{Label: label, Problems: probs}
		probs = nil // the messages' problems ride on the first rooms page
		for _, raw := range items {
			var r apiRoom
			if err := httpapi.DecodeRecord(raw, &r); err != nil {
				page.Problems = append(page.Problems, fmt.Errorf("room %s: %w", rawID(raw), err))
				continue
			}
			if r.UUID == "" {
				page.Problems = append(page.Problems, errors.New("room without uuid skipped"))
				continue
			}
			id := string(r.UUID)
			if listed[id] {
				continue // the list shifted between pages
			}
			listed[id] = true
			// take forgets the room's messages: what is left in byRoom
			// is only what the orphans page needs.
			held, err := byRoom.take(id)
			if err != nil {
				return fmt.Errorf("%s: room %s: %w", s.in.Name, id, err)
			}
			msgs, mprobs := s.mergeInline(id, r.Messages, held)
			page.Problems = append(page.Problems, mprobs...)
			rec, rprobs := s.roomRecord(r, raw, msgs)
			page.Records = append(page.Records, rec)
			page.Problems = append(page.Problems, rprobs...)
		}
		return emit(page)
	})
	if err != nil {
		return err
	}
	orphans := connectors.Page{Label: "messages of unlisted rooms", Problems: probs}
	ids := byRoom.rooms() // listed rooms were taken out of byRoom
	if len(ids) == 0 && len(probs) == 0 {
		return nil
	}
	for _, id := range ids {
		held, err := byRoom.take(id)
		if err != nil {
			return fmt.Errorf("%s: room %s: %w", s.in.Name, id, err)
		}
		rec, rprobs := s.roomRecord(apiRoom{UUID: flexString(id)}, nil, held)
		orphans.Records = append(orphans.Records, rec)
		orphans.Problems = append(orphans.Problems, rprobs...)
	}
	return emit(orphans)
}

// readMessages reads the whole /messages/ list, grouped by room uuid, into
// a spool file beside the state file (Instance.ScratchDir), or into memory
// when none can be made there. The caller closes what it returns, also
// with an error.
func (s *Source) readMessages(ctx context.Context) (heldRooms, []error, error) {
	byRoom, serr := newHeldRooms(s.in.ScratchDir)
	if serr != nil && s.in.Logger != nil {
		s.in.Logger.Warn("messages held in memory: no spool file could be made for them", "connector", s.in.Name, "err", serr)
	}
	var probs []error
	p := &pager{
		c:        s.c,
		path:     pathMessages,
		pageSize: s.opts.PageSize,
		label:    func(n, _ int) string { return fmt.Sprintf("messages page %d", n) },
	}
	err := p.each(ctx, func(_ string, items []json.RawMessage) error {
		for _, raw := range items {
			m, err := s.decodeMessage(raw)
			if err != nil {
				probs = append(probs, err)
				continue
			}
			if m.Room == "" {
				probs = append(probs, fmt.Errorf("message %s: no room, skipped", m.UUID))
				continue
			}
			if err := byRoom.add(string(m.Room), &m.apiMessage); err != nil {
				return fmt.Errorf("%s: %w", s.in.Name, err)
			}
		}
		return nil
	})
	return byRoom, probs, err
}

// heldMessages is one room's messages from the /messages/ list, held until
// the rooms list reaches the room: each message's texts packed back to back,
// a uvarint length before each, then its support flag (the room is the map
// key). Held as decoded structs, a message took ~290 bytes (a struct of
// eight strings, and each text its own allocation: BenchmarkHeldMessages);
// packed, about the size of its texts.
type heldMessages []byte

// heldTexts are the texts of m that heldMessages keeps, in their packed order.
func heldTexts(m *apiMessage) [6]*flexString {
	return [...]*flexString{&m.UUID, &m.Nickname, &m.Email, &m.PhoneNumber, &m.Body, &m.SentAt}
}

func (h heldMessages) add(m *apiMessage) heldMessages {
	texts := heldTexts(m)
	need := 1
	for _, t := range texts {
		need += max(1, (bits.Len(uint(len(*t)))+6)/7) + len(*t) // the uvarint's bytes, and the text
	}
	h = slices.Grow(h, need) // at most one allocation a message, not one per text
	for _, t := range texts {
		h = binary.AppendUvarint(h, uint64(len(*t)))
		h = append(h, *t...)
	}
	if m.IsSupportSender {
		return append(h, 1)
	}
	return append(h, 0)
}

// messages unpacks the room's messages, in the order they were added. Their
// texts share one string. Packing read back from a spool file may have been
// damaged: a length that runs past the end is an error.
func (h heldMessages) messages() ([]message, error) {
	all := string(h)
	var out []message
	for i := 0; i < len(h); {
		var m message
		for _, t := range heldTexts(&m.apiMessage) {
			n, k := binary.Uvarint(h[i:])
			if k <= 0 || n > uint64(len(h)-i-k) {
				return nil, errors.New("a damaged record")
			}
			i += k
			*t = flexString(all[i : i+int(n)])
			i += int(n)
		}
		if i >= len(h) {
			return nil, errors.New("a damaged record")
		}
		m.IsSupportSender = h[i] == 1
		out = append(out, m)
		i++
	}
	return out, nil
}

func (s *Source) decodeMessage(raw json.RawMessage) (message, error) {
	var m message
	if err := httpapi.DecodeRecord(raw, &m.apiMessage); err != nil {
		return m, fmt.Errorf("message %s: %w", rawID(raw), err)
	}
	return m, nil
}

// mergeInline merges a room's inline messages (objects; bare uuids are
// references to the /messages/ list and add nothing) with the /messages/
// ones, by uuid; the /messages/ copy wins.
func (s *Source) mergeInline(roomID string, inline []json.RawMessage, listed []message) ([]message, []error) {
	var out []message
	var probs []error
	index := map[string]int{}
	for _, raw := range inline {
		if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || trimmed[0] != '{' {
			continue
		}
		m, err := s.decodeMessage(raw)
		if err != nil {
			probs = append(probs, fmt.Errorf("room %s: %w", roomID, err))
			continue
		}
		if m.UUID != "" {
			if _, dup := index[string(m.UUID)]; dup {
				continue
			}
			index[string(m.UUID)] = len(out)
		}
		out = append(out, m)
	}
	for _, m := range listed {
		if i, ok := index[string(m.UUID)]; ok { // index holds no "" key
			out[i] = m
			continue
		}
		if m.UUID != "" {
			index[string(m.UUID)] = len(out)
		}
		out = append(out, m)
	}
	return out, probs
}

// roomRecord maps a room and its messages. The person is the visitor: names,
// emails and phones come from the visitor's (non-support) messages only, so
// an agent's signature never joins the visitor to the agent. A room whose
// visitor left no email or phone is still emitted; the engine ignores
// records it cannot attach to a person.
func (s *Source) roomRecord(r apiRoom, raw json.RawMessage, msgs []message) (lead.Record, []error) {
	id := string(r.UUID)
	var probs []error
	for i := range msgs {
		at, err := lead.ParseTime(string(msgs[i].SentAt), s.loc)
		if err != nil {
			probs = append(probs, fmt.Errorf("room %s: message %s: sent_at: %w", id, msgs[i].UUID, err))
		}
		msgs[i].at = at
	}
	sort.SliceStable(msgs, func(i, j int) bool {
		if !msgs[i].at.Equal(msgs[j].at) {
			return msgs[i].at.Before(msgs[j].at)
		}
		return msgs[i].UUID < msgs[j].UUID
	})
	title := string(r.Label)
	if title == "" {
		title = string(r.Name)
	}
	rec := lead.Record{
		Source:   s.in.Name,
		SourceID: "room:" + id,
		Channel:  channel,
		Context:  "askhandle chat",
		Raw:      append([]byte(nil), raw...),
	}
	if title != "" {
		rec.Context += ": " + title
	}
	if rating := strings.TrimSpace(string(r.Rating)); rating != "" && rating != "null" {
		rec.Attributes = map[string]string{"rating": strings.Trim(rating, `"`)}
	}
	conv := lead.Conversation{ID: id, Channel: channel, Title: title}
	var emails, phones []string
	nickname := ""
	for _, m := range msgs {
		name := lead.CleanName(string(m.Nickname))
		conv.Messages = append(conv.Messages, lead.Message{
			ID:     messageID(id, m),
			Sender: sender(r, m),
			Name:   name,
			Text:   string(m.Body),
			At:     m.at,
		})
		if m.at.After(rec.UpdatedAt) {
			rec.UpdatedAt = m.at
		}
		if m.IsSupportSender {
			continue
		}
		emails = append(emails, string(m.Email))
		phones = append(phones, string(m.PhoneNumber))
		if name != "" {
			nickname = name // the latest name the visitor gave wins
		}
	}
	rec.FirstName, rec.LastName = lead.SplitName(nickname)
	for _, err := range rec.AddContacts(s.in.Region, emails, phones) {
		probs = append(probs, fmt.Errorf("room %s: %w", id, err))
	}
	created, err := lead.ParseTime(string(r.CreatedAt), s.loc)
	if err != nil {
		probs = append(probs, fmt.Errorf("room %s: created_at: %w", id, err))
	}
	if created.IsZero() && len(msgs) > 0 {
		created = msgs[0].at // a room known only from its messages
	}
	rec.CreatedAt = created
	rec.Conversations = []lead.Conversation{conv}
	return rec, probs
}

// sender maps is_support_sender. Support messages in a room where the bot
// answers (is_bot_use) are the bot's; otherwise a human agent wrote them.
// AskHandle does not say which support messages of a bot room an agent
// typed after a hand-over, so the room's flag decides for all of them.
func sender(r apiRoom, m message) string {
	switch {
	case !bool(m.IsSupportSender):
		return lead.SenderUser
	case bool(r.IsBotUse):
		return lead.SenderBot
	}
	return lead.SenderAgent
}

// messageID is the vendor's uuid, or for a message without one, an id
// derived from the room, the time and the text, stable across runs.
func messageID(roomID string, m message) string {
	if m.UUID != "" {
		return string(m.UUID)
	}
	h := sha256.Sum256([]byte(roomID + "\x00" + string(m.SentAt) + "\x00" + string(m.Body)))
	return "derived:" + hex.EncodeToString(h[:12])
}

// rawID names an item that failed to decode, for its problem message.
func rawID(raw json.RawMessage) string {
	if id := itemUUID(raw); id != "" {
		return id
	}
	return "(no uuid)"
}
