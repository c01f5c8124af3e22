package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

// Checkpoint is the head of the log at some moment: how many events it held and
// the hash of the last one. Kept outside the store, it lets Verify notice a
// truncated or rewritten log.
type Checkpoint struct {
	Count int64
	Hash  string
}

// String is the checkpoint's printed form, COUNT:HASH.
func (c Checkpoint) String() string { return strconv.FormatInt(c.Count, 10) + ":" + c.Hash }

// ParseCheckpoint reads COUNT:HASH as printed by Checkpoint.String.
func ParseCheckpoint(s string) (Checkpoint, error) {
	s = strings.TrimSpace(s)
	if len(s) > 128 {
		return Checkpoint{}, fmt.Errorf("checkpoint: %d characters, expected COUNT:HASH (a number, a colon and 64 hex digits)", len(s))
	}
	n, h, ok := strings.Cut(s, ":")
	if !ok {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: expected COUNT:HASH (a number, a colon and 64 hex digits)", s)
	}
	count, err := strconv.ParseInt(n, 10, 64)
	if err != nil || count < 0 {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: count %q is not a non-negative number", s, n)
	}
	h = strings.ToLower(h)
	if _, err := hex.DecodeString(h); err != nil || len(h) != 64 {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: hash must be 64 hex digits", s)
	}
	if count == 0 && h != GenesisHash {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: an empty log's hash is %s", s, GenesisHash)
	}
	return Checkpoint{Count: count, Hash: h}, nil
}

// Head returns the checkpoint of the log as it is now.
func (s *Store) Head(ctx context.Context) (Checkpoint, error) {
	var c Checkpoint
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT id, hash FROM cert_audit ORDER BY id DESC LIMIT 1").Scan(&c.Count, &c.Hash)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{Count: 0, Hash: GenesisHash}, nil
	}
	if err != nil {
		return c, fmt.Errorf("audit store %s: read head: %w", s.target.Display, err)
	}
	return c, nil
}

// Problem kinds Verify reports.
const (
	ProblemEdited    = "edited"    // the event's content does not match its own hash
	ProblemBrokenRef = "unchained" // prev_hash is not the previous event's hash
	ProblemMissing   = "missing"   // a sequence number is absent
	ProblemTruncated = "truncated" // fewer events than the checkpoint
	ProblemRewritten = "rewritten" // the checkpointed event's hash differs
)

// Problem is the first bad event Verify found. The chain breaks between
// events From and To: From is the last event that still verified (0: none,
// the break is at the start of the log), To the event that does not follow
// from it (for missing events: the next event present; for a truncated log:
// the first event the checkpoint has and the log does not).
type Problem struct {
	Seq    int64  // the first bad event (for truncation: the first missing one)
	From   int64  // the last good event before the break (0: the start of the log)
	To     int64  // the event after the break
	Kind   string // one of the Problem* kinds
	Detail string // what exactly, for a person: it names both events
}

func (p *Problem) Error() string { return fmt.Sprintf("event %d: %s", p.Seq, p.Detail) }

// Report is the outcome of Verify.
type Report struct {
	Events     int64          // events read
	Bytes      int64          // bytes hashed
	Head       Checkpoint     // the last good event read
	Problem    *Problem       // nil when the chain verified
	Guards     []GuardProblem // append-only triggers missing, changed or disabled (a store's Verify only)
	GuardNotes []string       // what could not be checked about the triggers
}

// OK says whether the log verified: an intact chain in a store whose
// append-only triggers are all in place.
func (r Report) OK() bool { return r.Problem == nil && len(r.Guards) == 0 }

// Verify streams the whole log in order and checks every event: its id is the
// next number, its record starts with that id and the previous event's hash,
// and its stored hash is the SHA-256 of its record. With a checkpoint it also
// checks that the checkpointed event is still there with the same hash. It
// stops at the first bad event. It also checks that the append-only triggers
// are in place (CheckGuards). The error is for failures to read the store; a
// tampered log is a Report with a Problem or Guards.
func (s *Store) Verify(ctx context.Context, cp *Checkpoint) (Report, error) {
	guards, notes, err := s.CheckGuards(ctx)
	if err != nil {
		return Report{}, err
	}
	rep, err := s.verifyChain(ctx, cp)
	rep.Guards, rep.GuardNotes = guards, notes
	return rep, err
}

// verifyChain is Verify's walk of the hash chain.
func (s *Store) verifyChain(ctx context.Context, cp *Checkpoint) (Report, error) {
	v := newVerifier(cp)
	// Reading rows and hashing them overlap: this goroutine reads batches of
	// rows, another checks them.
	free, full := make(chan *rowBatch, 4), make(chan *rowBatch, 4)
	for i := 0; i < cap(free); i++ {
		free <- &rowBatch{}
	}
	var stopped atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			if !stopped.Load() && b.check(v) {
				stopped.Store(true)
			}
			b.reset()
			free <- b
		}
	}()
	b := <-free
	n := 0
	readErr := s.eachRecord(ctx, func(id int64, rec, hash []byte) bool {
		if b.add(id, rec, hash) {
			full <- b
			b = <-free
		}
		n++
		return !stopped.Load() && (n%65536 != 0 || ctx.Err() == nil)
	})
	if readErr == nil && ctx.Err() != nil && !stopped.Load() {
		readErr = ctx.Err()
	}
	full <- b
	close(full)
	<-done
	switch {
	case v.rep.Problem != nil:
		return v.rep, nil
	case readErr != nil:
		v.rep.Head.Hash = string(v.prev)
		return v.rep, fmt.Errorf("audit store %s: verify: after event %d: %w", s.target.Display, v.rep.Head.Count, readErr)
	}
	v.finish()
	return v.rep, nil
}

// rowBatch carries rows from Verify's reader to its checker.
type rowBatch struct {
	ids  []int64
	ends []int // row i: record buf[ends[2i-1]:ends[2i]], hash buf[ends[2i]:ends[2i+1]]
	buf  []byte
}

const batchRows = 256

// add copies one row in and reports whether the batch is full.
func (b *rowBatch) add(id int64, rec, hash []byte) bool {
	b.ids = append(b.ids, id)
	b.buf = append(b.buf, rec...)
	b.ends = append(b.ends, len(b.buf))
	b.buf = append(b.buf, hash...)
	b.ends = append(b.ends, len(b.buf))
	return len(b.ids) == batchRows
}

// check runs v over the batch and reports whether it stopped at a problem.
func (b *rowBatch) check(v *verifier) bool {
	start := 0
	for i, id := range b.ids {
		rec, hash := b.buf[start:b.ends[2*i]], b.buf[b.ends[2*i]:b.ends[2*i+1]]
		start = b.ends[2*i+1]
		if v.step(id, rec, hash) {
			return true
		}
	}
	return false
}

func (b *rowBatch) reset() { b.ids, b.ends, b.buf = b.ids[:0], b.ends[:0], b.buf[:0] }

// verifier checks a stream of events, each an id, a record and a stored hash.
type verifier struct {
	cp     *Checkpoint
	prev   []byte // hash of the last good event, hex
	prefix []byte // scratch: the record prefix the next event must have
	sum    [sha256.Size]byte
	hex    [2 * sha256.Size]byte
	rep    Report
}

func newVerifier(cp *Checkpoint) *verifier {
	return &verifier{cp: cp, prev: []byte(GenesisHash), rep: Report{Head: Checkpoint{Hash: GenesisHash}}}
}

// step checks one event and reports whether verification stopped at a problem.
func (v *verifier) step(id int64, rec, hash []byte) bool {
	want := v.rep.Head.Count + 1
	last := want - 1
	if id != want {
		if id > want {
			v.fail(want, last, id, ProblemMissing, fmt.Sprintf("%s: %s missing (deleted)", breaks(last, id), span(want, id-1)))
		} else {
			v.fail(want, last, want, ProblemMissing, fmt.Sprintf("%s: event %d is missing and an event numbered %d is in its place (events duplicated or reordered)", breaks(last, want), want, id))
		}
		return true
	}
	v.prefix = append(v.prefix[:0], `{"id":`...)
	v.prefix = strconv.AppendInt(v.prefix, want, 10)
	v.prefix = append(v.prefix, ',')
	if !bytes.HasPrefix(rec, v.prefix) {
		what := "a record that does not begin with its id"
		if rid, ok := recordID(rec); ok {
			what = fmt.Sprintf("the record of event %d", rid)
		}
		v.fail(want, last, want, ProblemBrokenRef, fmt.Sprintf("%s: the event stored as %d is %s (events deleted and renumbered, reordered or inserted)", breaks(last, want), want, what))
		return true
	}
	v.prefix = append(v.prefix, `"prev_hash":"`...)
	v.prefix = append(v.prefix, v.prev...)
	v.prefix = append(v.prefix, '"')
	if !bytes.HasPrefix(rec, v.prefix) {
		named := recordPrevHash(rec, len(v.prefix)-len(v.prev)-1)
		var why string
		if last == 0 {
			why = fmt.Sprintf("event 1 names %.16s… as the hash of an event before it, but the chain starts at %.16s…: the first events were removed and the rest renumbered, or event 1 was edited and its hash recomputed", named, GenesisHash)
		} else {
			why = fmt.Sprintf("event %d names %.16s… as the hash of event %d, which hashes to %.16s…: event %d was edited and its hash recomputed (or event %d's link was changed, or an event between them was removed and the rest renumbered)", want, named, last, v.prev, last, want)
		}
		v.fail(want, last, want, ProblemBrokenRef, breaks(last, want)+": "+why)
		return true
	}
	v.sum = sha256.Sum256(rec)
	hex.Encode(v.hex[:], v.sum[:])
	v.rep.Bytes += int64(len(rec))
	if !bytes.Equal(v.hex[:], hash) {
		v.fail(want, last, want, ProblemEdited, fmt.Sprintf("event %d was edited after it was recorded: its record no longer hashes to its stored hash (stored %.16s…, computed %.16s…)", want, hash, v.hex[:]))
		return true
	}
	if v.cp != nil && v.cp.Count == want && v.cp.Hash != string(v.hex[:]) {
		v.fail(want, last, want, ProblemRewritten, fmt.Sprintf("event %d hashes to %.16s…, not the checkpoint's %.16s…: event %d, or an event before it, was edited and every later hash recomputed, so the chain itself holds and only the checkpoint shows it", want, v.hex[:], v.cp.Hash, want))
		return true
	}
	v.prev = append(v.prev[:0], v.hex[:]...)
	v.rep.Events++
	v.rep.Head.Count = want
	return false
}

// breaks says where the chain breaks: between events from and to, or at its
// start.
func breaks(from, to int64) string {
	if from == 0 {
		return fmt.Sprintf("the chain breaks before event %d, at the start of the log", to)
	}
	return fmt.Sprintf("the chain breaks between events %d and %d", from, to)
}

// span names events a..b.
func span(a, b int64) string {
	if a == b {
		return fmt.Sprintf("event %d is", a)
	}
	return fmt.Sprintf("events %d-%d are", a, b)
}

// recordID reads the id a record begins with.
func recordID(rec []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(rec, []byte(`{"id":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end <= 0 {
		return 0, false
	}
	return parseID(rest[:end])
}

// recordPrevHash returns the prev_hash a record names, read at offset at.
func recordPrevHash(rec []byte, at int) string {
	if at < 0 || at+64 > len(rec) {
		return "?"
	}
	return string(rec[at : at+64])
}

func (v *verifier) finish() {
	v.rep.Head.Hash = string(v.prev)
	if v.cp == nil || v.cp.Count <= v.rep.Head.Count {
		return
	}
	n := v.rep.Head.Count
	v.fail(n+1, n, n+1, ProblemTruncated, fmt.Sprintf("the chain ends at event %d, but the checkpoint has %d events: %s missing (the log was truncated)", n, v.cp.Count, span(n+1, v.cp.Count)))
}

func (v *verifier) fail(seq, from, to int64, kind, detail string) {
	v.rep.Head.Hash = string(v.prev)
	v.rep.Problem = &Problem{Seq: seq, From: from, To: to, Kind: kind, Detail: detail}
}
