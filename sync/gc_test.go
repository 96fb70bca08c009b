package sync

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestTuneGCSetsItsTargetOnlyWithoutGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "80")
	if TuneGC() {
		t.Error("TuneGC changed the target although GOGC is set")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it left alone (100)", got)
	}
	os.Unsetenv("GOGC")
	if !TuneGC() {
		t.Error("TuneGC did nothing without GOGC")
	}
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GC percent %d without GOGC, want %d", got, GCPercent)
	}
}
