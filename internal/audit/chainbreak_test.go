package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// rehash rewrites the stored events of ids with edit applied and each
// one's hash recomputed, as an attacker who knows the format would (and
// who put back nothing else): the record as Record() builds it, the hash its
// SHA-256. The triggers are dropped first.
func rehash(t *testing.T, s *Store, edit func(e *Event), ids ...int64) {
	t.Helper()
	tamper(t, s)
	for _, id := range ids {
		e, err := s.Event(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		edit(&e)
		e.stored = ""
		rec := e.Record()
		if _, err := s.db.Exec(s.d.rebind("UPDATE cert_audit SET record = ?, hash = ? WHERE id = ?"), string(rec), hashRecord(rec), id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChainBreaksAreNamedBetweenTwoEvents tampers with a ten-event log in
// each way an attacker with the database owner's rights can, and checks that
// verify says between which two events the chain breaks, and why.
func TestChainBreaksAreNamedBetweenTwoEvents(t *testing.T) {
	mallory := func(e *Event) { e.Operator = "mallory" }
	tests := []struct {
		name       string
		tamper     func(t *testing.T, s *Store)
		checkpoint bool
		from, to   int64
		kind       string
		says       []string
	}{
		{"a middle event edited and its hash recomputed", func(t *testing.T, s *Store) { rehash(t, s, mallory, 5) }, false,
			5, 6, ProblemBrokenRef, []string{"the chain breaks between events 5 and 6", "event 5 was edited and its hash recomputed"}},
		{"the first event edited and its hash recomputed", func(t *testing.T, s *Store) { rehash(t, s, mallory, 1) }, false,
			1, 2, ProblemBrokenRef, []string{"the chain breaks between events 1 and 2", "event 1 was edited and its hash recomputed"}},
		{"the newest event edited and its hash recomputed, with a checkpoint", func(t *testing.T, s *Store) { rehash(t, s, mallory, 10) }, true,
			9, 10, ProblemRewritten, []string{"event 10 hashes to", "not the checkpoint's", "only the checkpoint shows it"}},
		{"a middle event edited without its hash", func(t *testing.T, s *Store) {
			tamper(t, s, `UPDATE cert_audit SET record = REPLACE(record, '"detail":"event 4"', '"detail":"event four"') WHERE id = 4`)
		}, false, 3, 4, ProblemEdited, []string{"event 4 was edited after it was recorded"}},
		{"an event deleted", func(t *testing.T, s *Store) { tamper(t, s, "DELETE FROM cert_audit WHERE id = 6") }, false,
			5, 7, ProblemMissing, []string{"the chain breaks between events 5 and 7", "event 6 is missing"}},
		{"two events deleted", func(t *testing.T, s *Store) { tamper(t, s, "DELETE FROM cert_audit WHERE id IN (6, 7)") }, false,
			5, 8, ProblemMissing, []string{"the chain breaks between events 5 and 8", "events 6-7 are missing"}},
		{"the first event deleted", func(t *testing.T, s *Store) { tamper(t, s, "DELETE FROM cert_audit WHERE id = 1") }, false,
			0, 2, ProblemMissing, []string{"the chain breaks before event 2, at the start of the log", "event 1 is missing"}},
		{"an event deleted and the rest renumbered", func(t *testing.T, s *Store) {
			tamper(t, s, "DELETE FROM cert_audit WHERE id = 6")
			for id := 7; id <= 10; id++ {
				tamper(t, s, fmt.Sprintf("UPDATE cert_audit SET id = %d WHERE id = %d", id-1, id))
			}
		}, false, 5, 6, ProblemBrokenRef, []string{"the chain breaks between events 5 and 6", "the event stored as 6 is the record of event 7"}},
		{"an event deleted, the rest renumbered and rehashed", func(t *testing.T, s *Store) {
			tamper(t, s, "DELETE FROM cert_audit WHERE id = 6")
			for id := 7; id <= 10; id++ {
				tamper(t, s, fmt.Sprintf("UPDATE cert_audit SET id = %d WHERE id = %d", id-1, id))
			}
			rehash(t, s, func(e *Event) { e.Seq = e.Seq - 1 }, 6, 7, 8, 9)
		}, false, 5, 6, ProblemBrokenRef, []string{"the chain breaks between events 5 and 6", "event 6 names"}},
		{"two events swapped", func(t *testing.T, s *Store) {
			tamper(t, s, "UPDATE cert_audit SET id = 100 WHERE id = 3", "UPDATE cert_audit SET id = 3 WHERE id = 8", "UPDATE cert_audit SET id = 8 WHERE id = 100")
		}, false, 2, 3, ProblemBrokenRef, []string{"the chain breaks between events 2 and 3", "the event stored as 3 is the record of event 8"}},
		{"two events swapped, renumbered and rehashed", func(t *testing.T, s *Store) {
			tamper(t, s, "UPDATE cert_audit SET id = 100 WHERE id = 3", "UPDATE cert_audit SET id = 3 WHERE id = 4", "UPDATE cert_audit SET id = 4 WHERE id = 100")
			rehash(t, s, func(e *Event) { e.Seq = 7 - e.Seq }, 3, 4)
		}, false, 2, 3, ProblemBrokenRef, []string{"the chain breaks between events 2 and 3", "event 3 names"}},
		{"the newest events deleted, with a checkpoint", func(t *testing.T, s *Store) { tamper(t, s, "DELETE FROM cert_audit WHERE id > 8") }, true,
			8, 9, ProblemTruncated, []string{"the chain ends at event 8, but the checkpoint has 10 events", "events 9-10 are missing"}},
	}
	eachBackend(t, func(t *testing.T, backend string) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				s := mustOpen(t, freshDSN(t, backend))
				appendN(t, s, 10)
				cp, err := s.Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				tc.tamper(t, s)
				var cpp *Checkpoint
				if tc.checkpoint {
					cpp = &cp
					// Without the checkpoint these go unnoticed: that is why
					// verify tells the operator to keep one off the node.
					if rep, err := s.verifyChain(ctx, nil); err != nil || rep.Problem != nil {
						t.Fatalf("without a checkpoint: %v %v", rep.Problem, err)
					}
				}
				rep, err := s.verifyChain(ctx, cpp)
				if err != nil {
					t.Fatal(err)
				}
				p := rep.Problem
				if p == nil {
					t.Fatalf("not detected (%d events verified)", rep.Events)
				}
				if p.From != tc.from || p.To != tc.to || p.Kind != tc.kind {
					t.Errorf("break between %d and %d (%s), want between %d and %d (%s): %s", p.From, p.To, p.Kind, tc.from, tc.to, tc.kind, p.Detail)
				}
				if rep.Head.Count != tc.from {
					t.Errorf("last good event %d, want %d", rep.Head.Count, tc.from)
				}
				t.Logf("%s", p.Error())
				for _, want := range tc.says {
					if !strings.Contains(p.Detail, want) {
						t.Errorf("message %q does not say %q", p.Detail, want)
					}
				}
			})
		}
	})
}
