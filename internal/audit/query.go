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

// Event returns the event with sequence number seq.
func (s *Store) Event(ctx context.Context, seq int64) (Event, error) {
	var out Event
	found := false
	err := s.scan(ctx, "SELECT "+strings.Join(Columns, ", ")+" FROM cert_audit WHERE id = ?", []any{seq}, func(e Event) error {
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
	q := "SELECT " + strings.Join(Columns, ", ") + " FROM cert_audit"
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

func (s *Store) scan(ctx context.Context, q string, args []any, f func(Event) error) error {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("audit store %s: query: %w", s.target.Display, err)
	}
	defer rows.Close()
	var t [3]string // created_at, not_before, expire_date
	for rows.Next() {
		var e Event
		var action, result string
		if err := rows.Scan(&e.Seq, &t[0], &action, &e.CertName, &e.CertPath, &e.Serial,
			&e.Fingerprint, &t[1], &t[2], &e.Issuer, &e.PrevFingerprint, &e.Operator, &e.OSUser,
			&e.Host, &e.Command, &result, &e.Error, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("audit store %s: read event: %w", s.target.Display, err)
		}
		e.Action, e.Result = facts.Action(action), Result(result)
		// A time that does not parse (a tampered row) stays zero here; Verify
		// names such an event, since its hash covers the stored text.
		e.Time, _ = ParseTime(t[0])
		e.NotBefore, _ = ParseTime(t[1])
		e.NotAfter, _ = ParseTime(t[2])
		if err := f(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit store %s: query: %w", s.target.Display, err)
	}
	return nil
}

// scanRaw is used by tests and benchmarks: the raw text of every row.
func (s *Store) scanRaw(ctx context.Context, f func([]sql.RawBytes) error) error {
	rows, err := s.db.QueryContext(ctx, "SELECT "+strings.Join(Columns, ", ")+" FROM cert_audit ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := f(raw); err != nil {
			return err
		}
	}
	return rows.Err()
}
