package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/leadsync/leadsync/lead"
)

// mappedKB is the resident size of this process's mappings of path, from
// /proc/self/smaps.
func mappedKB(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	var kb int64
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			in = f[len(f)-1] == path
		case in && len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			kb += n
		}
	}
	return kb
}

func TestReleaseMemoryUnmapsReadPagesAndKeepsTheData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	defer s.Close()
	big := strings.Repeat("x", 2000)
	key := func(i int) string { return fmt.Sprintf("src\x00%05d", i) }
	if err := s.Update(func(tx *Tx) error {
		for i := range 4000 {
			if err := tx.PutRecord(key(i), StoredRecord{Hash: fmt.Sprint(i), Record: lead.Record{Context: big}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		t.Helper()
		s.View(func(tx *Tx) error {
			for i := range 4000 {
				r, ok, err := tx.Record(key(i))
				if err != nil || !ok || r.Hash != fmt.Sprint(i) || r.Record.Context != big {
					t.Fatalf("record %d: %v %v hash %q", i, ok, err, r.Hash)
				}
			}
			return nil
		})
	}
	readAll()
	before := mappedKB(t, path)
	if before < 4096 {
		t.Fatalf("only %d kB of the file resident after reading 8 MB of records: the test measures nothing", before)
	}
	if err := s.ReleaseMemory(); err != nil {
		t.Fatal(err)
	}
	if after := mappedKB(t, path); after > before/8 {
		t.Fatalf("resident %d kB before, %d kB after ReleaseMemory, want at most an eighth", before, after)
	}
	readAll() // the pages come back from the page cache
	if err := s.Update(func(tx *Tx) error { return tx.PutCursor("src", Cursor{Cursor: []byte("c")}) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestTxReleaseMemoryInAWriteTransaction releases mid-way through a
// read-write transaction that goes on writing (and growing the file).
func TestTxReleaseMemoryInAWriteTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	defer s.Close()
	big := strings.Repeat("y", 2000)
	key := func(i int) string { return fmt.Sprintf("src\x00%05d", i) }
	putBigRecords(t, s, 4000, big, key)
	if err := s.Update(func(tx *Tx) error {
		for i := range 4000 {
			if _, ok, err := tx.Record(key(i)); !ok || err != nil {
				t.Fatalf("record %d: %v %v", i, ok, err)
			}
		}
		before := mappedKB(t, path)
		if err := tx.ReleaseMemory(); err != nil {
			return err
		}
		if after := mappedKB(t, path); before < 4096 || after > before/8 {
			t.Errorf("resident %d kB before, %d kB after Tx.ReleaseMemory, want at least 4 MB, then at most an eighth", before, after)
		}
		for i := 4000; i < 8000; i++ {
			if err := tx.PutRecord(key(i), StoredRecord{Hash: "h", Record: lead.Record{Context: big}}); err != nil {
				return err
			}
		}
		return tx.ReleaseMemory()
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		for _, i := range []int{0, 3999, 4000, 7999} {
			if r, ok, _ := tx.Record(key(i)); !ok || r.Record.Context != big {
				t.Errorf("record %d not read back after the releases", i)
			}
		}
		return nil
	})
}

// TestReleaseMemoryOverReleasesOnlyPastTheBudget reads 8 MB of records: a
// budget above what was mapped since the last release leaves the pages
// mapped, one below it releases them.
func TestReleaseMemoryOverReleasesOnlyPastTheBudget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	defer s.Close()
	big := strings.Repeat("z", 2000)
	key := func(i int) string { return fmt.Sprintf("src\x00%05d", i) }
	putBigRecords(t, s, 4000, big, key)
	if err := s.ReleaseMemory(); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		for i := range 4000 {
			if _, ok, err := tx.Record(key(i)); !ok || err != nil {
				t.Fatalf("record %d: %v %v", i, ok, err)
			}
		}
		before := mappedKB(t, path)
		if before < 4096 {
			t.Fatalf("only %d kB of the file resident after reading 8 MB of records: the test measures nothing", before)
		}
		if released, err := tx.ReleaseMemoryOver(1 << 40); released || err != nil {
			t.Fatalf("ReleaseMemoryOver(1 TB) = %v, %v; want no release", released, err)
		}
		if now := mappedKB(t, path); now < before {
			t.Errorf("resident %d kB before, %d kB after a release under budget, want no less", before, now)
		}
		if released, err := tx.ReleaseMemoryOver(1 << 20); !released || err != nil {
			t.Fatalf("ReleaseMemoryOver(1 MB) = %v, %v with %d kB mapped; want a release", released, err, before)
		}
		if after := mappedKB(t, path); after > before/8 {
			t.Errorf("resident %d kB before, %d kB after a release over budget, want at most an eighth", before, after)
		}
		return nil
	})
	if released, err := s.ReleaseMemoryOver(4 << 20); released || err != nil {
		t.Errorf("Store.ReleaseMemoryOver(4 MB) right after a release = %v, %v; want no release", released, err)
	}
}

// putBigRecords stores n records of about len(context) bytes, keyed key(i).
func putBigRecords(t *testing.T, s *Store, n int, context string, key func(int) string) {
	t.Helper()
	if err := s.Update(func(tx *Tx) error {
		for i := range n {
			if err := tx.PutRecord(key(i), StoredRecord{Hash: "h", Record: lead.Record{Context: context}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
