//go:build linux

package state

import (
	"bytes"
	"os"
	"strconv"
	gosync "sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ReleaseMemory drops the state file's pages from the process's resident
// memory. bbolt reads the file through a read-only shared mapping, and every
// page a transaction reads (with the kernel's fault-around, its neighbours
// too) stays mapped and counts in the process's RSS until the kernel needs
// the memory; a full sync reads nearly the whole file, so RSS grew with the
// store. MADV_DONTNEED only unmaps the pages: their data stays in the page
// cache (the mapping is never written to: bbolt writes with pwrite), and
// the next read maps them again from there, so nothing is lost and no
// write is needed.
//
// It runs inside a read transaction because db.View holds bbolt's mmap
// lock for reading: a writer that must grow the file remaps it under the
// write lock, so the range cannot be unmapped or moved meanwhile. The range
// is the data the transaction sees ([Info().Data, +Size())), which the
// current mapping always covers. The raw syscall takes the address as the
// uintptr bbolt gives, where unix.Madvise would need it converted to a
// slice through unsafe.Pointer.
func (s *Store) ReleaseMemory() error {
	return s.View(func(tx *Tx) error { return tx.ReleaseMemory() })
}

// ReleaseMemoryOver is ReleaseMemory when the process's file-backed
// resident memory has grown by more than budget bytes since the last
// release (see Tx.ReleaseMemoryOver), and nothing otherwise.
func (s *Store) ReleaseMemoryOver(budget int64) (released bool, err error) {
	if !fileRSS.over(budget) {
		return false, nil
	}
	return true, s.ReleaseMemory()
}

// ReleaseMemory is Store.ReleaseMemory within a transaction, for one that
// reads much (staging a page): the data range is the transaction's own.
// In a read-write transaction it is just as safe: bbolt remaps the file
// only in the writer's own page allocation, never while this call runs,
// and the pages the writer allocated lie within the mapping it grew.
func (t *Tx) ReleaseMemory() error {
	size := t.tx.Size()
	if size <= 0 {
		return nil
	}
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, t.tx.DB().Info().Data, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	fileRSS.released()
	return nil
}

// ReleaseMemoryOver is ReleaseMemory only when the process's file-backed
// resident memory has grown by more than budget bytes since the last
// release, for a caller that would otherwise release after every few reads.
// A release is cheap, but every page read after it faults back in (with its
// neighbours): releasing on a budget costs a read of /proc/self/statm
// (about 2 µs) where a release and its re-faults cost ten times that, and a
// store smaller than the budget is never released at all. When the
// process's resident memory cannot be read, it releases.
func (t *Tx) ReleaseMemoryOver(budget int64) (released bool, err error) {
	if !fileRSS.over(budget) {
		return false, nil
	}
	return true, t.ReleaseMemory()
}

// ResidentFileGrowth is how much the process's file-backed resident memory
// has grown since the last release (the measure Tx.ReleaseMemoryOver
// compares with its budget), for a caller that paces its own checks; false
// when it cannot be read, or before the first release.
func ResidentFileGrowth() (int64, bool) {
	now, ok := fileRSS.shared()
	base := fileRSS.base.Load()
	if !ok || base < 0 {
		return 0, false
	}
	return now - base, true
}

// fileRSS follows the process's file-backed resident memory: the "shared"
// field of /proc/self/statm (RssFile + RssShmem, in pages), read with pread
// on a descriptor kept open. It includes the binary's own pages (~13 MB), so
// it is compared with its value right after the last release, when the
// state file's share was about nothing: what has grown since is, in a
// process that maps no other file as it runs, the state file. Pages of the
// binary mapped later count too, once, until the next release resets the base.
var fileRSS residentFile

type residentFile struct {
	once gosync.Once
	f    *os.File // nil when /proc/self/statm cannot be opened
	// base is the shared bytes read after the last release; -1 before the first.
	base atomic.Int64
}

func (r *residentFile) open() {
	r.once.Do(func() {
		r.base.Store(-1)
		if f, err := os.Open("/proc/self/statm"); err == nil {
			r.f = f
		}
	})
}

// shared reads the process's file-backed resident bytes.
func (r *residentFile) shared() (int64, bool) {
	r.open()
	if r.f == nil {
		return 0, false
	}
	var buf [128]byte
	n, err := r.f.ReadAt(buf[:], 0)
	if n == 0 {
		return 0, false
	}
	_ = err // io.EOF with the whole line read
	// size resident shared text lib data dt
	f := bytes.Fields(buf[:n])
	if len(f) < 3 {
		return 0, false
	}
	pages, perr := strconv.ParseInt(string(f[2]), 10, 64)
	if perr != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// over reports whether the file-backed resident memory grew by more than
// budget since the last release (true before the first one, and when it
// cannot be read).
func (r *residentFile) over(budget int64) bool {
	now, ok := r.shared()
	if !ok {
		return true
	}
	base := r.base.Load()
	return base < 0 || now-base > budget
}

// released records the base after a release.
func (r *residentFile) released() {
	if now, ok := r.shared(); ok {
		r.base.Store(now)
	}
}
