//go:build linux

package state

import "golang.org/x/sys/unix"

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
	return nil
}
