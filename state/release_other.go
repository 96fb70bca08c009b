//go:build !linux

package state

// ReleaseMemory does nothing outside Linux: see release_linux.go.
func (s *Store) ReleaseMemory() error { return nil }

// ReleaseMemory does nothing outside Linux: see release_linux.go.
func (t *Tx) ReleaseMemory() error { return nil }
