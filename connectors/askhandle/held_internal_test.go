package askhandle

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeldMessagesGiveBackWhatWasAddedInOrder(t *testing.T) {
	in := []apiMessage{
		{UUID: "m-1", Nickname: "Ali", Email: "ali@example.tn", PhoneNumber: "+21620123456", Body: "Bonjour", SentAt: "2024-03-19T10:00:00Z"},
		{UUID: "m-2", Body: flexString(strings.Repeat("é", 300)), IsSupportSender: true, SentAt: "19/03/2024 10:01"}, // a two-byte length
		{}, // every text empty
		{UUID: "m-4", Body: "line\x00with\nbytes", SentAt: "2024-03-19"},
	}
	var h heldMessages
	for i := range in {
		h = h.add(&in[i])
	}
	var got []apiMessage
	for _, m := range h.messages() {
		if !m.at.IsZero() {
			t.Errorf("message %s has a time before its room is read", m.UUID)
		}
		got = append(got, m.apiMessage)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Fatalf("held messages (-added +given back):\n%s", diff)
	}
	if got := heldMessages(nil).messages(); got != nil {
		t.Fatalf("no messages held, got %v", got)
	}
}
