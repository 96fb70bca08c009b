package sync

import "testing"

// pacedProcess runs a releasePacer against a process whose state-file
// memory grows by perStep(i) at step i, and reports how many times the
// pacer read the growth, how many releases it made, and the largest growth
// the process reached.
func pacedProcess(steps int, known bool, perStep func(i int) int64) (checks, releases, overs int, peak int64) {
	var growth int64
	p := &releasePacer{
		growth:  func() (int64, bool) { checks++; return growth, known },
		release: func() { releases++; growth = 0 },
		over:    func() { overs++ },
		next:    releaseCheckRecords,
	}
	for i := range steps {
		growth += perStep(i)
		peak = max(peak, growth)
		p.step()
	}
	return checks, releases, overs, peak
}

func TestReleasePacerChecksRarelyWhileNothingGrows(t *testing.T) {
	checks, releases, _, _ := pacedProcess(800, true, func(int) int64 { return 0 })
	if releases != 0 {
		t.Fatalf("%d releases without growth", releases)
	}
	// A check every releaseCheckRecords steps was 400 reads of /proc.
	if limit := 800/releaseMaxGap + 2; checks > limit {
		t.Fatalf("%d checks in 800 steps without growth, want at most %d", checks, limit)
	}
}

func TestReleasePacerKeepsSteadyGrowthWithinOneStepOfTheBudget(t *testing.T) {
	const step = 150 << 10
	checks, releases, _, peak := pacedProcess(2000, true, func(int) int64 { return step })
	if releases < 2000*step/(releaseBudget+step) {
		t.Fatalf("%d releases for %d MB read", releases, 2000*step>>20)
	}
	if peak > releaseBudget+step {
		t.Fatalf("growth reached %d KB, want at most the budget and one step (%d KB)", peak>>10, (releaseBudget+step)>>10)
	}
	if checks >= 2000 {
		t.Fatalf("%d checks in 2000 steps", checks)
	}
}

func TestReleasePacerBoundsASuddenBurst(t *testing.T) {
	const burst = 250 << 10
	_, releases, _, peak := pacedProcess(1000, true, func(i int) int64 {
		if i < 500 {
			return 0 // resident pages only: checks spread out
		}
		return burst
	})
	if releases == 0 {
		t.Fatal("no release during the burst")
	}
	if limit := int64(releaseBudget + releaseMaxGap*burst); peak > limit {
		t.Fatalf("growth reached %d KB, want at most %d KB", peak>>10, limit>>10)
	}
}

func TestReleasePacerReleasesOnTheBudgetWhenGrowthCannotBeRead(t *testing.T) {
	_, releases, overs, _ := pacedProcess(100, false, func(int) int64 { return 1 << 20 })
	if releases != 0 || overs != 100/releaseCheckRecords {
		t.Fatalf("%d releases, %d budget releases in 100 steps, want 0 and %d", releases, overs, 100/releaseCheckRecords)
	}
}
