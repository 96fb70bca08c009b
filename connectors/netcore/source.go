package netcore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// Source reads a Netcore bot's users and their transcripts.
type Source struct {
	in      *connectors.Instance
	opts    options
	api     *client
	log     *slog.Logger
	metrics connectors.Metrics
}

// NewSource builds the source role of a netcore instance.
func NewSource(in *connectors.Instance) (connectors.Source, error) {
	if err := check(in); err != nil {
		return nil, err
	}
	opts, err := parseOptions(in)
	if err != nil {
		return nil, err
	}
	hc, err := in.HTTP(newTokenAuth(in.Auth["app_id"], in.Auth["app_secret"], in.Now))
	if err != nil {
		return nil, err
	}
	log := in.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var m connectors.Metrics = connectors.NopMetrics{}
	if in.Metrics != nil {
		m = in.Metrics
	}
	return &Source{in: in, opts: opts, api: &client{http: hc}, log: log.With("connector", in.Name), metrics: m}, nil
}

// cursor is the end of the last users window read completely.
type cursor struct {
	End time.Time `json:"end"`
}

const defaultBackfill = 90 * 24 * time.Hour

// transcriptHorizon is how far back the transcripts endpoint reads: it
// refuses a startDate older than 3 months. One day of margin keeps a request
// valid however the service counts months and whatever its clock says.
func transcriptHorizon(now time.Time) time.Time { return now.AddDate(0, -3, 1) }

// Pull walks last-interaction windows of opts.Window from the cursor (minus
// the overlap) or the backfill start up to now. Each window is read page by
// page; its last page carries the cursor, so a crash resumes at a window
// boundary and re-reads at most one window. The bot usage gauges are set
// once the walk is done.
func (s *Source) Pull(ctx context.Context, cur connectors.Cursor, emit func(connectors.Page) error) error {
	now := s.in.Now().UTC()
	start := s.start(cur, now)
	for ws := start; ws.Before(now); {
		we := ws.Add(s.opts.Window)
		if we.After(now) {
			we = now
		}
		if err := s.pullWindow(ctx, ws, we, now, emit); err != nil {
			return err
		}
		ws = we
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", s.in.Name, err)
	}
	s.reportUsage(ctx, now)
	return nil
}

func (s *Source) start(cur connectors.Cursor, now time.Time) time.Time {
	if len(cur) > 0 {
		var c cursor
		if err := json.Unmarshal(cur, &c); err == nil && !c.End.IsZero() {
			if c.End.After(now) {
				c.End = now
			}
			return c.End.Add(-s.in.Overlap).UTC()
		}
		// Only this package writes the cursor; one it cannot read is safest
		// read as "no cursor": records read again are no-ops for the engine.
		s.log.Warn("unreadable cursor, reading the backfill window again")
	}
	backfill := s.in.Backfill
	if backfill <= 0 {
		backfill = defaultBackfill
	}
	return now.Add(-backfill)
}

// maxWindowPasses bounds how many times one window is read (see pullWindow).
const maxWindowPasses = 3

// pullWindow reads one window page by page. Pages are numbered, so a user
// who leaves the window while it is read (they interact again: their last
// interaction moves past its end) shifts every later user one place up, and
// the user moved from the next page onto one already read would be skipped;
// the window lies behind the cursor afterwards, so they would never be read.
// When the total the service gives changes between the window's first and
// last page, the window is read again, up to maxWindowPasses times, before
// its last page carries the cursor; a user already read in an earlier pass
// is not read again (their transcripts are not fetched twice).
func (s *Source) pullWindow(ctx context.Context, ws, we, now time.Time, emit func(connectors.Page) error) error {
	seen := seenUsers{seed: maphash.MakeSeed(), keys: map[uint64]struct{}{}}
	for pass := 1; ; pass++ {
		again, err := s.pullWindowPass(ctx, ws, we, now, pass, seen, emit)
		if err != nil || !again {
			return err
		}
		s.log.Info("users left the window while it was read; reading it again", "connector", s.in.Name,
			"window", ws.Format(time.RFC3339)+".."+we.Format(time.RFC3339), "pass", pass+1)
	}
}

// pullWindowPass reads the window once; again reports that the window must
// be read once more (its last page was emitted without the cursor).
func (s *Source) pullWindowPass(ctx context.Context, ws, we, now time.Time, pass int, seen seenUsers,
	emit func(connectors.Page) error) (again bool, err error) {
	var prevIDs string
	firstTotal, changed := -1, false
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("%s: %w", s.in.Name, err)
		}
		label := fmt.Sprintf("users %s..%s page %d", ws.Format(time.RFC3339), we.Format(time.RFC3339), page)
		if pass > 1 {
			label += fmt.Sprintf(" (pass %d)", pass)
		}
		up, err := s.api.users(ctx, s.opts.Channels, ws, we, page, s.opts.PageSize, label)
		if err != nil {
			return false, err
		}
		if up.Total.Set {
			if firstTotal < 0 {
				firstTotal = up.Total.V
			} else if up.Total.V != firstTotal {
				changed = true
			}
		}
		p := connectors.Page{Label: label}
		var ids []string
		for i, raw := range up.Users {
			key := seen.key(raw)
			if _, read := seen.keys[key]; read && pass > 1 {
				ids = append(ids, strconv.FormatUint(key, 16))
				continue
			}
			rec, probs, err := s.record(ctx, raw, now, fmt.Sprintf("%s: user %d", label, i+1))
			if err != nil {
				return false, err
			}
			p.Problems = append(p.Problems, probs...)
			seen.keys[key] = struct{}{}
			if rec == nil {
				continue
			}
			p.Records = append(p.Records, *rec)
			ids = append(ids, rec.SourceID)
		}
		more := up.more(page, s.opts.PageSize)
		// A service that ignores page answers page 1 forever with
		// hasNextPage true: stop rather than loop.
		joined := strings.Join(ids, "\x00")
		if joined == "" {
			// No user of the page had a userId: compare the raw answers, or a
			// page of such users repeated forever would look new every time.
			var raw strings.Builder
			for _, u := range up.Users {
				raw.Write(u)
				raw.WriteByte(0)
			}
			joined = raw.String()
		}
		if more && page > 1 && joined != "" && joined == prevIDs {
			return false, fmt.Errorf("%s: %s: the service answered the same users as the previous page; stopping", s.in.Name, label)
		}
		prevIDs = joined
		again = !more && changed && pass < maxWindowPasses
		if !more && !again {
			c, _ := json.Marshal(cursor{End: we})
			p.Cursor = c
		}
		if err := emit(p); err != nil {
			return false, err
		}
		if !more {
			return again, nil
		}
	}
}

// seenUsers are the users a window's passes have read, by a 64-bit hash of
// their raw JSON (the same user, unchanged, answers the same bytes; a
// changed one is read again, which costs only its transcripts): 8 bytes a
// user, not the user's JSON, for a window that may hold many thousands.
type seenUsers struct {
	seed maphash.Seed
	keys map[uint64]struct{}
}

func (s seenUsers) key(raw json.RawMessage) uint64 { return maphash.Bytes(s.seed, raw) }

// record maps one user, fetching its transcripts. A user that cannot be
// decoded or has no userId returns a nil record and problems; an error is
// returned only when the run must stop (a transcripts call that failed for
// a reason other than refusing this user).
func (s *Source) record(ctx context.Context, raw json.RawMessage, now time.Time, label string) (*lead.Record, []error, error) {
	var u apiUser
	if err := httpapi.DecodeRecord(raw, &u); err != nil {
		return nil, []error{fmt.Errorf("%s: skipped: %w", label, err)}, nil
	}
	if u.UserID == "" {
		return nil, []error{fmt.Errorf("%s: skipped: no userId", label)}, nil
	}
	rec := &lead.Record{
		Source:   s.in.Name,
		SourceID: string(u.UserID),
		Raw:      append([]byte(nil), raw...),
	}
	who := "userId " + logID(rec.SourceID)
	var probs []error
	problem := func(format string, args ...any) {
		probs = append(probs, fmt.Errorf("%s: %s: "+format, append([]any{label, who}, args...)...))
	}

	name := lead.CleanName(u.UserName)
	if name == "" {
		name = lead.CleanName(u.Name)
	}
	rec.FirstName, rec.LastName = lead.SplitName(name)

	var err error
	if rec.CreatedAt, err = parseTimeValue(u.CreatedDate, s.in.Location); err != nil {
		problem("createdDate: %v", err)
	}
	if rec.UpdatedAt, err = parseTimeValue(u.LastInteracted, s.in.Location); err != nil {
		problem("last interacted date: %v", err)
	}
	first, err := parseTimeValue(u.FirstInteracted, s.in.Location)
	if err != nil {
		problem("first interacted date: %v", err)
	}

	chID, known := channelID(u.ChannelName)
	rec.Channel = strings.TrimSpace(u.ChannelName)
	if known {
		rec.Channel = channelNames[chID]
	}
	rec.Context = strings.TrimSpace("netcore " + rec.Channel + " bot")

	// The seed's sample user has no botUserId; userId is then the only
	// identifier there is to ask transcripts with.
	botUserID := string(u.BotUserID)
	if botUserID == "" {
		botUserID = rec.SourceID
	}
	if known && chID == whatsappChannel {
		for _, err := range rec.AddContacts(s.in.Region, nil, []string{whatsappPhone(botUserID)}) {
			problem("botUserId: %v", err)
		}
	}
	if !known {
		problem("unknown channel name %q: transcripts not read", u.ChannelName)
		return rec, probs, nil
	}

	conv, bu, tp, err := s.conversation(ctx, botUserID, chID, first, now, who)
	if err != nil {
		if httpapi.IsStatus(err, 400, 422) {
			problem("transcripts refused: %v", err)
			return rec, probs, nil
		}
		return nil, nil, err
	}
	probs = append(probs, tp...)
	if conv != nil {
		rec.Conversations = []lead.Conversation{*conv}
	}
	for _, err := range attachBotUser(rec, bu, s.in.Region) {
		problem("customFields: %v", err)
	}
	return rec, probs, nil
}

// emailKeys and phoneKeys are custom field names (lower case, without
// spaces, "_" or "-") whose values are contact details: a bot that asks for
// an email stores it in such a field, and it is a match key worth having.
var (
	emailKeys = map[string]bool{"email": true, "emailid": true, "emailaddress": true}
	phoneKeys = map[string]bool{"phone": true, "phonenumber": true, "mobile": true, "mobilenumber": true, "contactnumber": true}
	// fieldKey drops what emailKeys and phoneKeys leave out of a field name.
	fieldKey = strings.NewReplacer(" ", "", "_", "", "-", "")
)

// attachBotUser copies the bot user's tags and custom fields onto rec.
func attachBotUser(rec *lead.Record, bu botUser, region string) []error {
	for _, raw := range bu.Tags {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		if t := str(v, "", "name", "title", "tag"); t != "" && !slices.Contains(rec.Tags, t) {
			rec.Tags = append(rec.Tags, t)
		}
	}
	var emails, phones []string
	for k, raw := range bu.CustomFields {
		v := fieldText(raw)
		if v == "" {
			continue
		}
		if rec.Attributes == nil {
			rec.Attributes = map[string]string{}
		}
		rec.Attributes[k] = v
		norm := strings.ToLower(fieldKey.Replace(k))
		switch {
		case emailKeys[norm]:
			emails = append(emails, v)
		case phoneKeys[norm]:
			phones = append(phones, v)
		}
	}
	sort.Strings(emails)
	sort.Strings(phones)
	return rec.AddContacts(region, emails, phones)
}

// fieldText renders a custom field value: strings as they are, other values
// as compact JSON.
func fieldText(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	return shorten(string(canonical(raw)), maxGeneric)
}

// whatsappPhone adds the "+" a WhatsApp id written as bare international
// digits lacks: WhatsApp ids always carry the country code, so reading them
// in the instance's default region would be wrong.
func whatsappPhone(id string) string {
	id = strings.TrimSpace(id)
	if id != "" && strings.Trim(id, "0123456789") == "" && !strings.HasPrefix(id, "00") {
		return "+" + id
	}
	return id
}

// conversation reads every transcript page of one bot user from its first
// interaction (but never past the service's 3-month horizon) to now.
func (s *Source) conversation(ctx context.Context, botUserID string, chID int, first, now time.Time, who string) (*lead.Conversation, botUser, []error, error) {
	start := transcriptHorizon(now)
	if first.After(start) {
		start = first
	}
	conv := &lead.Conversation{ID: strconv.Itoa(chID) + ":" + botUserID, Channel: channelNames[chID]}
	var probs []error
	var bu botUser
	seen := map[string]int{}
	for page := 1; ; page++ {
		label := fmt.Sprintf("transcripts of %s page %d", who, page)
		tp, err := s.api.transcripts(ctx, botUserID, chID, start, now, page, s.opts.TranscriptPageSize, label)
		if err != nil {
			return nil, bu, nil, err
		}
		if page == 1 {
			bu = tp.BotUser
		}
		var msgs []lead.Message
		onPage := map[string]int{}
		fresh := false
		for i, raw := range tp.Transcripts {
			e, err := decodeEntry(raw)
			if err != nil {
				probs = append(probs, fmt.Errorf("%s: entry %d: %w", label, i+1, err))
				continue
			}
			m, err := e.message(conv.ID, s.in.Location)
			if err != nil {
				probs = append(probs, fmt.Errorf("%s: entry %d: %w", label, i+1, err))
			}
			onPage[m.ID]++
			if onPage[m.ID] > seen[m.ID] {
				fresh = true
			}
			msgs = append(msgs, m)
		}
		// A service that ignores page answers page 1 again while it claims
		// more pages: its messages are already read, and storing them again
		// would duplicate every one of them.
		if page > 1 && len(msgs) > 0 && !fresh {
			probs = append(probs, fmt.Errorf("%s: repeats messages already read; the service seems to ignore page, stopping", label))
			break
		}
		for _, m := range msgs {
			// Two identical entries (same time, sender and payload) stay two
			// messages; their order within the answer keeps the ids stable.
			if n := seen[m.ID]; n > 0 {
				seen[m.ID] = n + 1
				m.ID += "-" + strconv.Itoa(n+1)
			} else {
				seen[m.ID] = 1
			}
			conv.Messages = append(conv.Messages, m)
		}
		if !tp.more(page, s.opts.TranscriptPageSize) {
			break
		}
	}
	if len(conv.Messages) == 0 {
		return nil, bu, probs, nil
	}
	sort.SliceStable(conv.Messages, func(i, j int) bool { return conv.Messages[i].At.Before(conv.Messages[j].At) })
	return conv, bu, probs, nil
}

// reportUsage sets the monthly usage gauges of each configured channel. The
// numbers are informative: a failure is logged and never fails the run.
func (s *Source) reportUsage(ctx context.Context, now time.Time) {
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, id := range s.opts.Channels {
		labels := map[string]string{"connector": s.in.Name, "channel": channelNames[id]}
		u, err := s.api.usage(ctx, month, id)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("netcore bot usage not read", "channel", channelNames[id], "error", err.Error())
			continue
		}
		s.metrics.Gauge("netcore_bot_usage_messages", labels, float64(u.TotalMessages.V))
		s.metrics.Gauge("netcore_bot_usage_users", labels, float64(u.TotalUsers.V))
	}
}

// logID masks an id that looks like a phone number: problems are logged.
func logID(id string) string {
	if strings.Trim(strings.TrimPrefix(id, "+"), "0123456789") == "" {
		return lead.Mask(id)
	}
	return id
}
