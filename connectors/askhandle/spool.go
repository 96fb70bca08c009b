package askhandle

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
)

// heldRooms holds the /messages/ list's messages, by room, until the rooms
// list reaches each room. The list has no per-room filter, so a run reads
// it whole before the first room.
type heldRooms interface {
	// add holds one message of room.
	add(room string, m *apiMessage) error
	// take gives back the messages held for room, in the order added, and
	// forgets them; none when the room has none.
	take(room string) ([]message, error)
	// rooms lists the rooms still held, sorted.
	rooms() []string
	close() error
}

// newHeldRooms holds the messages in a spool file in dir (os.TempDir when
// dir is ""), so that what the source holds grows with the rooms, not with
// their messages. When no file can be made there, they are held in memory,
// packed, with the error that says why.
func newHeldRooms(dir string) (heldRooms, error) {
	f, err := os.CreateTemp(dir, "leadsync-askhandle-messages-*")
	if err != nil {
		return memRooms{}, err
	}
	// Unlinked at once where the system allows it (not on Windows, where
	// close removes it): the file has no name while it is used, and a crash
	// leaves nothing behind.
	_ = os.Remove(f.Name())
	return &fileRooms{f: f, w: bufio.NewWriterSize(f, 64<<10), last: map[string]int64{}}, nil
}

// memRooms holds each room's messages packed in memory (heldMessages).
type memRooms map[string]heldMessages

func (r memRooms) add(room string, m *apiMessage) error {
	r[room] = r[room].add(m)
	return nil
}

func (r memRooms) take(room string) ([]message, error) {
	h := r[room]
	delete(r, room)
	return h.messages()
}

func (r memRooms) rooms() []string { return slices.Sorted(maps.Keys(r)) }

func (memRooms) close() error { return nil }

// fileRooms writes each message, packed as heldMessages packs it, to an
// append-only spool file, as a record: a uvarint link to the record of the
// room's message before it (its offset + 1; 0: none), the packed message's
// length as a uvarint, then the packed message. It keeps in memory only
// each room's newest record's offset; take follows the links back. The
// file is written through a buffer and read with ReadAt, never mapped: its
// pages stay in the page cache, not in the process's resident memory.
type fileRooms struct {
	f    *os.File
	w    *bufio.Writer
	size int64            // bytes written, the buffer's included
	last map[string]int64 // room -> offset of its newest message's record
	hdr  []byte           // add's buffers, reused
	body heldMessages
	// scratch takes read's first read of a record, reused.
	scratch [512]byte
}

func (r *fileRooms) add(room string, m *apiMessage) error {
	var link uint64
	if prev, ok := r.last[room]; ok {
		link = uint64(prev) + 1
	}
	r.body = heldMessages(r.body[:0]).add(m)
	r.hdr = binary.AppendUvarint(binary.AppendUvarint(r.hdr[:0], link), uint64(len(r.body)))
	if _, err := r.w.Write(r.hdr); err != nil {
		return fmt.Errorf("message spool: %w", err)
	}
	if _, err := r.w.Write(r.body); err != nil {
		return fmt.Errorf("message spool: %w", err)
	}
	r.last[room] = r.size
	r.size += int64(len(r.hdr) + len(r.body))
	return nil
}

func (r *fileRooms) take(room string) ([]message, error) {
	off, ok := r.last[room]
	if !ok {
		return nil, nil
	}
	delete(r.last, room)
	if err := r.w.Flush(); err != nil {
		return nil, fmt.Errorf("message spool: %w", err)
	}
	// The records come newest first: their bodies are copied into arena,
	// then laid out oldest first.
	var arena []byte
	var ends []int // where each body ends in arena, newest first
	for {
		link, body, err := r.read(off)
		if err != nil {
			return nil, fmt.Errorf("message spool at %d: %w", off, err)
		}
		arena = append(arena, body...)
		ends = append(ends, len(arena))
		if link == 0 {
			break
		}
		if int64(link-1) >= off {
			return nil, fmt.Errorf("message spool at %d: a link forward, to %d", off, link-1)
		}
		off = int64(link - 1)
	}
	h := make(heldMessages, 0, len(arena))
	for i := len(ends) - 1; i >= 0; i-- {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		h = append(h, arena[start:ends[i]]...)
	}
	msgs, err := h.messages()
	if err != nil {
		return nil, fmt.Errorf("message spool at %d: %w", off, err)
	}
	return msgs, nil
}

// read reads the record at off: its link and its packed message, which is
// only good until the next read (it may be in the reused scratch).
func (r *fileRooms) read(off int64) (uint64, []byte, error) {
	buf := r.scratch[:min(int64(len(r.scratch)), r.size-off)]
	if _, err := r.f.ReadAt(buf, off); err != nil {
		return 0, nil, err
	}
	link, k1 := binary.Uvarint(buf)
	if k1 <= 0 {
		return 0, nil, errors.New("a broken link")
	}
	n, k2 := binary.Uvarint(buf[k1:])
	if k2 <= 0 || n > uint64(r.size-off) {
		return 0, nil, errors.New("a broken length")
	}
	start := k1 + k2
	if end := start + int(n); end <= len(buf) {
		return link, buf[start:end], nil
	}
	body := make([]byte, n)
	if _, err := r.f.ReadAt(body, off+int64(start)); err != nil {
		return 0, nil, err
	}
	return link, body, nil
}

func (r *fileRooms) rooms() []string { return slices.Sorted(maps.Keys(r.last)) }

func (r *fileRooms) close() error {
	err := r.f.Close()
	if rerr := os.Remove(r.f.Name()); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = rerr
	}
	return err
}
