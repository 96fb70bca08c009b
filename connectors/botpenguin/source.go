package botpenguin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
)

// Source reads every lead chat of one bot on each run. The chats endpoint
// has no date filter, so there is no cursor: every run is a full scan and
// the engine's content hashes tell changed leads from unchanged ones.
type Source struct {
	in     *connectors.Instance
	client *Client
	log    *slog.Logger
}

// NewSource checks in (NewClient does what Check does) and builds its source.
func NewSource(in *connectors.Instance) (*Source, error) {
	c, err := NewClient(in)
	if err != nil {
		return nil, err
	}
	log := in.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{in: in, client: c, log: log.With("connector", in.Name)}, nil
}

// Client is the source's API client (for write-backs such as UpsertLead).
func (s *Source) Client() *Client { return s.client }

// Pull implements connectors.Source: pages of type=lead chats from page 1
// until a page comes back empty (the endpoint gives no total). The cursor is
// ignored and every page carries a nil cursor.
func (s *Source) Pull(ctx context.Context, _ connectors.Cursor, emit func(connectors.Page) error) error {
	var prev []string
	for n := 1; ; n++ {
		label := fmt.Sprintf("chats page %d", n)
		raws, err := s.client.Chats(ctx, n, TypeLead, label)
		if err != nil {
			return err
		}
		if len(raws) == 0 {
			return nil
		}
		page := s.toPage(label, raws)
		// A service that ignored ?page= would answer page 1 forever. Every
		// chat of a repeated page is already staged, so stopping loses nothing.
		keys := recordKeys(page)
		if n > 1 && slices.Equal(keys, prev) {
			s.log.Warn("chats page repeats the previous one; the service seems to ignore page, stopping", "page", n)
			return nil
		}
		prev = keys
		if err := emit(page); err != nil {
			return err
		}
	}
}

func recordKeys(p connectors.Page) []string {
	keys := make([]string, 0, len(p.Records))
	for _, r := range p.Records {
		keys = append(keys, r.SourceID)
	}
	return keys
}

func (s *Source) toPage(label string, raws []json.RawMessage) connectors.Page {
	return connectors.DecodePage(label, "chat", raws, func(raw json.RawMessage) (lead.Record, []error, error) {
		return ToRecord(s.in, s.client.botID, raw)
	})
}
