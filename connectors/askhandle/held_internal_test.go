package askhandle

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
	ms, err := h.messages()
	if err != nil {
		t.Fatal(err)
	}
	var got []apiMessage
	for _, m := range ms {
		if !m.at.IsZero() {
			t.Errorf("message %s has a time before its room is read", m.UUID)
		}
		got = append(got, m.apiMessage)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Fatalf("held messages (-added +given back):\n%s", diff)
	}
	if got, err := heldMessages(nil).messages(); got != nil || err != nil {
		t.Fatalf("no messages held, got %v, %v", got, err)
	}
}

// Both ways of holding a pull's messages give each room back its messages
// in the order they were added, whatever the rooms' interleaving, and
// forget a room once taken.
func TestHeldRoomsGiveEachRoomItsMessagesInOrder(t *testing.T) {
	long := flexString(strings.Repeat("a long answer ", 100)) // longer than read's first 512 bytes
	in := []struct {
		room string
		m    apiMessage
	}{
		{"r-1", apiMessage{UUID: "m-1", Email: "ali@example.tn", Body: "Bonjour", SentAt: "2024-03-19T10:00:00Z"}},
		{"r-2", apiMessage{UUID: "m-2", PhoneNumber: "+21620123456", Body: long, IsSupportSender: true}},
		{"r-1", apiMessage{UUID: "m-3", Body: long, IsSupportSender: true}},
		{"r-3", apiMessage{}},
		{"r-1", apiMessage{UUID: "m-5", Body: "Merci"}},
		{"r-2", apiMessage{UUID: "m-6", Body: "ok"}},
	}
	want := map[string][]apiMessage{}
	for _, x := range in {
		want[x.room] = append(want[x.room], x.m)
	}
	file, err := newHeldRooms(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := file.(*fileRooms); !ok {
		t.Fatalf("newHeldRooms in a writable directory gave %T, want a spool file", file)
	}
	for name, h := range map[string]heldRooms{"file": file, "memory": memRooms{}} {
		t.Run(name, func(t *testing.T) {
			defer h.close()
			for i := range in {
				if err := h.add(in[i].room, &in[i].m); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff([]string{"r-1", "r-2", "r-3"}, h.rooms()); diff != "" {
				t.Fatalf("rooms held (-want +got):\n%s", diff)
			}
			for _, room := range []string{"r-2", "r-1", "r-3"} {
				ms, err := h.take(room)
				if err != nil {
					t.Fatal(err)
				}
				var got []apiMessage
				for _, m := range ms {
					got = append(got, m.apiMessage)
				}
				if diff := cmp.Diff(want[room], got); diff != "" {
					t.Fatalf("room %s (-added +given back):\n%s", room, diff)
				}
				if ms, err := h.take(room); err != nil || ms != nil {
					t.Fatalf("room %s taken twice: %v, %v; want nothing the second time", room, ms, err)
				}
			}
			if got := h.rooms(); len(got) != 0 {
				t.Fatalf("rooms still held after every take: %v", got)
			}
		})
	}
}

// The spool file has no name while it is used (Linux), and none is left
// once it is closed.
func TestHeldRoomsLeaveNoFileBehind(t *testing.T) {
	dir := t.TempDir()
	h, err := newHeldRooms(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := apiMessage{UUID: "m-1", Body: "Bonjour"}
	if err := h.add("r-1", &m); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); runtime.GOOS != "windows" && len(left) != 0 {
		t.Fatalf("the spool file has a name while it is used: %v", left)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left in the scratch directory: %v", left)
	}
}

// With no directory to write in, the messages are held in memory, and the
// error names what failed.
func TestHeldRoomsFallBackToMemory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	h, err := newHeldRooms(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %v, want one naming %s", err, dir)
	}
	if _, ok := h.(memRooms); !ok {
		t.Fatalf("got %T, want the messages held in memory", h)
	}
}

// A spool whose records were damaged gives an error for the room, not
// wrong messages or a panic.
func TestHeldRoomsReportADamagedSpool(t *testing.T) {
	f := spoolOf(t, "r-1", 3)
	// The newest record's link, made to point at itself.
	if _, err := f.f.WriteAt([]byte{byte(f.last["r-1"] + 1)}, f.last["r-1"]); err != nil {
		t.Fatal(err)
	}
	if ms, err := f.take("r-1"); err == nil || !strings.Contains(err.Error(), "message spool") {
		t.Fatalf("take of a damaged room: %v, %v; want a message spool error", ms, err)
	}
}

// spoolOf is a spool file holding n messages of room, written through to
// the file, closed when the test ends.
func spoolOf(t *testing.T, room string, n int) *fileRooms {
	t.Helper()
	h, err := newHeldRooms(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.close() })
	f := h.(*fileRooms)
	for i := range n {
		m := apiMessage{UUID: flexString(fmt.Sprint("m-", i)), Body: "text"}
		if err := f.add(room, &m); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.w.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

// A record whose packed message was damaged (a text's length past its end)
// gives an error for the room, not a panic.
func TestHeldRoomsReportADamagedRecord(t *testing.T) {
	f := spoolOf(t, "r-1", 1)
	// The record: link 0, its length, then the uuid's length, made 100.
	if _, err := f.f.WriteAt([]byte{100}, 2); err != nil {
		t.Fatal(err)
	}
	if ms, err := f.take("r-1"); err == nil || !strings.Contains(err.Error(), "damaged record") {
		t.Fatalf("take of a damaged record: %v, %v; want a damaged record error", ms, err)
	}
}
