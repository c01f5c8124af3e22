package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
)

// Filter selects events for List and Export. Zero fields match everything.
type Filter struct {
	CertName string       // exact certificate name
	Action   facts.Action // exact action
	Operator string       // exact operator
	Since    time.Time    // events at or after
	Until    time.Time    // events before
	Limit    int          // at most this many (the newest when Last is set)
	Last     bool         // with Limit: the last Limit events, still in log order
}

// ErrNotFound is returned by Event for a sequence number the log does not hold.
var ErrNotFound = errors.New("no such event")

// ErrBadEvent is wrapped when a stored event does not parse: the store was
// altered or damaged (Verify names every such event).
var ErrBadEvent = errors.New("stored event does not parse")

// Event returns the event with sequence number seq.
func (s *Store) Event(ctx context.Context, seq int64) (Event, error) {
	var out Event
	found := false
	err := s.scan(ctx, "SELECT id, record, hash FROM cert_audit WHERE id = ?", []any{seq}, func(e Event) error {
		out, found = e, true
		return nil
	})
	if err != nil {
		return Event{}, err
	}
	if !found {
		return Event{}, fmt.Errorf("audit store %s: event %d: %w", s.target.Display, seq, ErrNotFound)
	}
	return out, nil
}

// Events calls f for every event matching flt, in log order.
func (s *Store) Events(ctx context.Context, flt Filter, f func(Event) error) error {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if flt.CertName != "" {
		add("cert_name = ?", flt.CertName)
	}
	if flt.Action != "" {
		add("action_type = ?", string(flt.Action))
	}
	if flt.Operator != "" {
		add("operator = ?", flt.Operator)
	}
	// Stored times are fixed-width UTC text, so text order is time order.
	if !flt.Since.IsZero() {
		add("created_at >= ?", FormatTime(flt.Since))
	}
	if !flt.Until.IsZero() {
		add("created_at < ?", FormatTime(flt.Until))
	}
	q := "SELECT id, record, hash FROM cert_audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	switch {
	case flt.Limit > 0 && flt.Last:
		q = "SELECT * FROM (" + q + " ORDER BY id DESC LIMIT " + strconv.Itoa(flt.Limit) + ") last_events ORDER BY id"
	case flt.Limit > 0:
		q += " ORDER BY id LIMIT " + strconv.Itoa(flt.Limit)
	default:
		q += " ORDER BY id"
	}
	return s.scan(ctx, q, args, f)
}

// scan calls f with each event of query q, which selects id, record and hash.
// It reads inside one read-only transaction.
func (s *Store) scan(ctx context.Context, q string, args []any, f func(Event) error) error {
	tx, err := s.db.BeginTx(ctx, s.readTxOptions())
	if err != nil {
		return fmt.Errorf("audit store %s: query: %w", s.target.Display, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	rows, err := tx.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("audit store %s: query: %w", s.target.Display, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var rec sql.RawBytes
		var hash string
		if err := rows.Scan(&id, &rec, &hash); err != nil {
			return fmt.Errorf("audit store %s: read event: %w", s.target.Display, err)
		}
		e, err := ParseRecord(rec)
		if err != nil {
			// A record that does not parse was tampered with; Verify names it.
			return fmt.Errorf("audit store %s: event %d: %w: %w", s.target.Display, id, ErrBadEvent, err)
		}
		e.Hash, e.stored = hash, string(rec)
		if err := f(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit store %s: query: %w", s.target.Display, err)
	}
	return nil
}
