package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadsync/leadsync/internal/demo"
)

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestKill9AtAnyMomentNeverDuplicates SIGKILLs the daemon again and again at
// seeded moments of its CRM writes — just before the CRM handles a write,
// or after the CRM committed it but before the answer leaves (the create
// landed, its slug was never recorded) — with the CRM slowed down. After
// every kill bbolt's own check passes on the state file; at the end one
// `once` completes the work and the CRM holds exactly one lead per person
// and every message exactly once.
//
// Short form in CI; LEADSYNC_CHAOS_ROUNDS=30 LEADSYNC_CHAOS_PERSONS=300 for the long form.
func TestKill9AtAnyMomentNeverDuplicates(t *testing.T) {
	rounds := envInt("LEADSYNC_CHAOS_ROUNDS", 6)
	persons := envInt("LEADSYNC_CHAOS_PERSONS", 40)
	seed := uint64(envInt("LEADSYNC_CHAOS_SEED", 20261121))
	rng := rand.New(rand.NewPCG(seed, 7))

	e := newE2E(t, "@every 1s")
	phones := e.env.SeedMany(persons, time.Now())
	kills := 0
	for round := range rounds {
		d := e.spawnDaemon()
		k := int32(1 + rng.IntN(6))
		stage := demo.Stage(rng.IntN(2))
		var n atomic.Int32
		var once gosync.Once
		killed := make(chan struct{})
		e.env.SetCRMHook(func(s demo.Stage, r *http.Request) {
			if r.Method != http.MethodPost || strings.Contains(r.URL.Path, "user/") {
				return
			}
			time.Sleep(2 * time.Millisecond) // a slow CRM, so kills land mid-push
			if s == stage && n.Add(1) == k {
				once.Do(func() {
					close(killed) // before the kill: the exit must never look unprompted
					d.cmd.Process.Kill()
				})
			}
		})
		select {
		case <-killed:
			kills++
		case <-d.done:
			select {
			case <-killed:
				kills++
			default:
				t.Fatalf("round %d: daemon exited on its own: %v\n%s", round, d.err, d.log())
			}
		case <-time.After(30 * time.Second):
			t.Logf("round %d: no CRM write left to interrupt", round)
		}
		d.kill()
		e.env.SetCRMHook(nil)
		if out, stderr, code := e.leadsync("state", "check", "--config", e.cfg); code != 0 {
			t.Fatalf("round %d: bbolt check failed: %s %s", round, out, stderr)
		}
	}
	out, stderr, code := e.leadsync("once", "--config", e.cfg)
	if code != 0 {
		t.Fatalf("final once: exit %d\n%s\n%s", code, out, stderr)
	}

	leads := byPhone(e.env.CRM.Leads())
	dups, missing := 0, 0
	for _, p := range phones {
		switch len(leads[p]) {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	notes := map[string]int{}
	for _, ls := range leads {
		for _, l := range ls {
			for _, nt := range l.Notes {
				for _, line := range strings.Split(nt.Note, "\n") {
					if i := strings.Index(line, "Question number "); i >= 0 {
						notes[line[i:]]++
					}
				}
			}
		}
	}
	badNotes := 0
	for i := 0; i < persons; i += 4 {
		if c := notes[fmt.Sprintf("Question number %d", i)]; c != 1 {
			badNotes++
			t.Errorf("message %q in the CRM %d times, want 1", fmt.Sprintf("Question number %d", i), c)
		}
	}
	t.Logf("chaos: %d rounds, %d kills, %d persons, %d duplicates, %d missing, %d messages not exactly once (seed %d)",
		rounds, kills, len(phones), dups, missing, badNotes, seed)
	if dups != 0 || missing != 0 {
		t.Fatalf("%d duplicated and %d missing persons", dups, missing)
	}
	if kills == 0 {
		t.Fatal("no kill landed: the test proved nothing")
	}
}
