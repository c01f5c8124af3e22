package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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
	err := s.db.QueryRowContext(ctx, "SELECT id, hash FROM cert_audit ORDER BY id DESC LIMIT 1").Scan(&c.Count, &c.Hash)
	if err == sql.ErrNoRows {
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

// Problem is the first bad event Verify found.
type Problem struct {
	Seq    int64  // the first bad event (for truncation: the first missing one)
	Kind   string // one of the Problem* kinds
	Detail string // what exactly, for a person
}

func (p *Problem) Error() string { return fmt.Sprintf("event %d: %s", p.Seq, p.Detail) }

// Report is the outcome of Verify.
type Report struct {
	Events  int64      // events read
	Bytes   int64      // bytes hashed
	Head    Checkpoint // the last good event read
	Problem *Problem   // nil when the log verified
}

// Verify streams the whole log in order and checks every event: its id is the
// next number, its record starts with that id and the previous event's hash,
// and its stored hash is the SHA-256 of its record. With a checkpoint it also
// checks that the checkpointed event is still there with the same hash. It
// stops at the first bad event. The error is for failures to read the store; a
// tampered log is a Report with a Problem.
func (s *Store) Verify(ctx context.Context, cp *Checkpoint) (Report, error) {
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
	if id != want {
		if id > want {
			v.fail(want, ProblemMissing, fmt.Sprintf("missing: the log jumps from event %d to event %d (events deleted)", want-1, id))
		} else {
			v.fail(want, ProblemMissing, fmt.Sprintf("expected event %d, found id %d", want, id))
		}
		return true
	}
	v.prefix = append(v.prefix[:0], `{"id":`...)
	v.prefix = strconv.AppendInt(v.prefix, want, 10)
	v.prefix = append(v.prefix, ',')
	if !bytes.HasPrefix(rec, v.prefix) {
		v.fail(want, ProblemBrokenRef, fmt.Sprintf("its record says %.24q: the event was moved (events renumbered, reordered or inserted)", rec))
		return true
	}
	v.prefix = append(v.prefix, `"prev_hash":"`...)
	v.prefix = append(v.prefix, v.prev...)
	v.prefix = append(v.prefix, '"')
	if !bytes.HasPrefix(rec, v.prefix) {
		v.fail(want, ProblemBrokenRef, fmt.Sprintf("prev_hash is not the hash of event %d (%.16s…): an event before it was changed, removed, inserted or reordered", want-1, v.prev))
		return true
	}
	v.sum = sha256.Sum256(rec)
	hex.Encode(v.hex[:], v.sum[:])
	v.rep.Bytes += int64(len(rec))
	if !bytes.Equal(v.hex[:], hash) {
		v.fail(want, ProblemEdited, fmt.Sprintf("its record does not match its hash (stored %.16s…, computed %.16s…): the event was edited", hash, v.hex[:]))
		return true
	}
	if v.cp != nil && v.cp.Count == want && v.cp.Hash != string(v.hex[:]) {
		v.fail(want, ProblemRewritten, fmt.Sprintf("hash %.16s… differs from the checkpoint's %.16s…: the log was rewritten up to here", v.hex[:], v.cp.Hash))
		return true
	}
	v.prev = append(v.prev[:0], v.hex[:]...)
	v.rep.Events++
	v.rep.Head.Count = want
	return false
}
func (v *verifier) finish() {
	v.rep.Head.Hash = string(v.prev)
	if v.cp != nil && v.cp.Count > v.rep.Head.Count {
		v.fail(v.rep.Head.Count+1, ProblemTruncated, fmt.Sprintf("missing: the checkpoint has %d events, the log ends at %d (truncated)", v.cp.Count, v.rep.Head.Count))
	}
}

func (v *verifier) fail(seq int64, kind, detail string) {
	v.rep.Head.Hash = string(v.prev)
	v.rep.Problem = &Problem{Seq: seq, Kind: kind, Detail: detail}
}
