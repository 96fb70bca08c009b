//go:build !linux

package state

// ReleaseMemory does nothing outside Linux: see release_linux.go.
func (s *Store) ReleaseMemory() error { return nil }

// ReleaseMemoryOver does nothing outside Linux: see release_linux.go.
func (s *Store) ReleaseMemoryOver(budget int64) (bool, error) { return false, nil }

// ReleaseMemory does nothing outside Linux: see release_linux.go.
func (t *Tx) ReleaseMemory() error { return nil }

// ReleaseMemoryOver does nothing outside Linux: see release_linux.go.
func (t *Tx) ReleaseMemoryOver(budget int64) (bool, error) { return false, nil }

// ResidentFileGrowth cannot be read outside Linux: see release_linux.go.
func ResidentFileGrowth() (int64, bool) { return 0, false }
