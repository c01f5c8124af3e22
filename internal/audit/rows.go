package audit

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// verifyQuery reads the whole log in chain order.
const verifyQuery = "SELECT id, record, hash FROM cert_audit ORDER BY id"

// eachRecord calls f with every event's id, record and hash, in order, until f
// returns false. The slices are only valid during the call.
func (s *Store) eachRecord(ctx context.Context, f func(id int64, rec, hash []byte) bool) error {
	if s.d.name() == BackendPostgres {
		return s.eachRecordPgx(ctx, f)
	}
	tx, err := s.db.BeginTx(ctx, s.readTxOptions())
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	rows, err := tx.QueryContext(ctx, verifyQuery)
	if err != nil {
		return err
	}
	defer rows.Close()
	var id int64
	var rec, hash sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id, &rec, &hash); err != nil {
			return err
		}
		if !f(id, rec, hash) {
			return nil
		}
	}
	return rows.Err()
}

// eachRecordPgx reads through pgx itself: its raw values are the bytes as
// received, without database/sql's copy into a string per column.
func (s *Store) eachRecordPgx(ctx context.Context, f func(id int64, rec, hash []byte) bool) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected PostgreSQL driver connection %T", dc)
		}
		tx, err := sc.Conn().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
		text := pgx.QueryResultFormats{pgx.TextFormatCode, pgx.TextFormatCode, pgx.TextFormatCode}
		rows, err := tx.Query(ctx, verifyQuery, text)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			raw := rows.RawValues()
			if len(raw) != 3 {
				return fmt.Errorf("expected 3 columns, got %d", len(raw))
			}
			id, ok := parseID(raw[0])
			if !ok {
				return fmt.Errorf("id %q is not a number", raw[0])
			}
			if !f(id, raw[1], raw[2]) {
				return nil
			}
		}
		return rows.Err()
	})
}

// parseID reads a positive decimal id without allocating.
func parseID(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
