package sync

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/leadsync/leadsync/lead"
)

// notePlan is one CRM note to write: its text and the keys of the messages
// (or the contact list) it carries. Once the CRM answers with a note id, every
// key is recorded with it, so each message is written exactly once.
type notePlan struct {
	Keys []string
	Text string
}

// noteIntentPrefix starts the note keys that mark a note in flight.
const noteIntentPrefix = "intent:"

// intentKey is the note key marking "this text may already be in the CRM":
// written before the note is sent, cleared when its id is recorded.
func (n *notePlan) intentKey() string {
	h := sha256.Sum256([]byte(n.Text))
	return noteIntentPrefix + hex.EncodeToString(h[:8])
}

// pendingMsg is a message not yet written to the CRM, with its note key.
type pendingMsg struct {
	key string
	m   lead.Message
}

// pendingConv is a conversation's unwritten messages and the header line
// its notes start with.
type pendingConv struct {
	head string
	msgs []pendingMsg
}

// planNotes turns the messages not yet written (sent holds the written keys)
// into notes of at most maxLen characters. Each conversation gets its own
// notes; messages go in time order with their sender; a note is split on
// message boundaries, and a single message longer than a note is split into
// parts. Extra emails and phones (beyond the primary ones the lead carries)
// are written once in a contacts note.
func planNotes(p *lead.Person, recs []lead.Record, sent map[string]string, maxLen int) []notePlan {
	var plans []notePlan
	if extra := extraContacts(p); extra != "" {
		h := sha256.Sum256([]byte(extra))
		key := "c:" + hex.EncodeToString(h[:8])
		if _, ok := sent[key]; !ok {
			for _, part := range splitRunes(extra, maxLen) {
				plans = append(plans, notePlan{Keys: []string{key}, Text: part})
			}
		}
	}
	byConv := map[string]*pendingConv{}
	var convs []string
	for i := range recs {
		r := &recs[i]
		for ci := range r.Conversations {
			c := &r.Conversations[ci]
			convID := r.Source + "\x00" + c.ID
			for _, m := range c.Messages {
				k := messageKey(r, c, &m)
				if _, ok := sent[k]; ok {
					continue
				}
				pc := byConv[convID]
				if pc == nil {
					pc = &pendingConv{head: conversationHead(r.Source, c)}
					byConv[convID] = pc
					convs = append(convs, convID)
				}
				pc.msgs = append(pc.msgs, pendingMsg{key: k, m: m})
			}
		}
	}
	slices.Sort(convs)
	for _, cid := range convs {
		pc := byConv[cid]
		msgs := pc.msgs
		slices.SortStableFunc(msgs, func(a, b pendingMsg) int {
			if c := a.m.At.Compare(b.m.At); c != 0 {
				return c
			}
			return cmp.Compare(a.m.ID, b.m.ID)
		})
		msgs = slices.CompactFunc(msgs, func(a, b pendingMsg) bool { return a.key == b.key })
		plans = append(plans, chunkMessages(pc.head, msgs, maxLen)...)
	}
	return plans
}

// conversationHead is the first line of a conversation's notes.
func conversationHead(source string, c *lead.Conversation) string {
	head := source + " conversation"
	if c.Channel != "" {
		head += " on " + c.Channel
	}
	if c.Title != "" {
		head += ": " + c.Title
	}
	return head
}

func renderMessage(m *lead.Message) string {
	who := m.Sender
	if m.Name != "" {
		who += " " + m.Name
	}
	text := strings.Join(strings.Fields(m.Text), " ")
	if m.At.IsZero() {
		return fmt.Sprintf("%s: %s", who, text)
	}
	return fmt.Sprintf("[%s] %s: %s", m.At.UTC().Format("2006-01-02 15:04"), who, text)
}

func chunkMessages(head string, msgs []pendingMsg, maxLen int) []notePlan {
	var plans []notePlan
	var cur *notePlan
	curLen := 0
	headLen := utf8.RuneCountInString(head)
	flush := func() {
		if cur != nil {
			plans = append(plans, *cur)
			cur, curLen = nil, 0
		}
	}
	for _, pm := range msgs {
		line := renderMessage(&pm.m)
		n := utf8.RuneCountInString(line)
		if cur != nil && curLen+1+n <= maxLen {
			cur.Text += "\n" + line
			cur.Keys = append(cur.Keys, pm.key)
			curLen += 1 + n
			continue
		}
		flush()
		if headLen+1+n <= maxLen {
			cur = &notePlan{Keys: []string{pm.key}, Text: head + "\n" + line}
			curLen = headLen + 1 + n
			continue
		}
		// One message longer than a note: its parts, each note carrying the
		// message key; the key is recorded when the last part is written.
		parts := splitRunes(head+"\n"+line, maxLen)
		for i, part := range parts {
			plans = append(plans, notePlan{Keys: partKeys(pm.key, i, len(parts)), Text: part})
		}
	}
	flush()
	return plans
}

// partKeys gives part i of n its own key, and the last part the message key
// too, so a crash between parts resumes at the first part not written.
func partKeys(key string, i, n int) []string {
	pk := fmt.Sprintf("%s\x00part%d", key, i)
	if i == n-1 {
		return []string{pk, key}
	}
	return []string{pk}
}

func splitRunes(s string, max int) []string {
	var out []string
	r := []rune(s)
	for len(r) > max {
		out = append(out, string(r[:max]))
		r = r[max:]
	}
	return append(out, string(r))
}

func extraContacts(p *lead.Person) string {
	var parts []string
	if len(p.Emails) > 1 {
		parts = append(parts, "emails: "+strings.Join(p.Emails[1:], ", "))
	}
	if len(p.Phones) > 1 {
		parts = append(parts, "phones: "+strings.Join(p.Phones[1:], ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Other contact details (leadsync): " + strings.Join(parts, "; ")
}
