package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds what differs between the backends: DDL, placeholders and how an
// appender takes the log's write lock.
type dialect interface {
	name() string
	schema() []string
	// rebind turns ?-placeholders into the backend's form.
	rebind(q string) string
	// lockConn takes the append lock on conn before the transaction begins, and
	// returns a function that releases it after the transaction ends.
	lockConn(ctx context.Context, conn *sql.Conn) (release func(), err error)
	// lockTx takes the append lock as the transaction's first statement.
	lockTx(ctx context.Context, tx *sql.Tx) error
	// txOptions are the options of an append transaction.
	txOptions() *sql.TxOptions
	// retryable says whether an append failed only because another appender won.
	retryable(err error) bool
	// beginSchema serialises schema creation between processes.
	beginSchema(ctx context.Context, conn *sql.Conn) (release func(), err error)
	// noTable says whether a query failed because cert_audit does not exist.
	noTable(err error) bool
	// guards lists the append-only triggers the schema creates, and triggers
	// reads those cert_audit has (guard.go).
	guards() []guardSpec
	triggers(ctx context.Context, tx *sql.Tx) ([]trigger, error)
}

// columnDDL lists cert_audit's columns: id, the record (the hashed JSON), its
// hash, and one generated column per record field, derived from the record so
// they can be queried and indexed but never edited on their own. gen returns
// the backend's definition of one such column.
func columnDDL(id, recordType string, gen func(col string, long bool) string) string {
	cols := []string{
		"id " + id + " NOT NULL PRIMARY KEY",
		"record " + recordType + " NOT NULL",
		"hash " + shortType(recordType) + " NOT NULL",
	}
	for _, c := range Columns {
		if c == "id" || c == "hash" {
			continue
		}
		cols = append(cols, gen(c, longColumn[c]))
	}
	return strings.Join(cols, ",\n  ")
}

func shortType(recordType string) string {
	if recordType == "MEDIUMTEXT" {
		return "CHAR(64)"
	}
	return "TEXT"
}

// longColumn marks the fields that may be longer than 255 bytes.
var longColumn = map[string]bool{"cert_path": true, "issuer": true, "command": true, "error": true, "detail": true}

var indexed = []string{"cert_name", "action_type", "created_at", "operator"}

// --- SQLite -------------------------------------------------------------------

type sqliteDialect struct{}

func (sqliteDialect) name() string { return BackendSQLite }

func (sqliteDialect) schema() []string {
	s := []string{"CREATE TABLE IF NOT EXISTS cert_audit (\n  " + columnDDL("INTEGER", "TEXT", func(c string, _ bool) string {
		return fmt.Sprintf("%s TEXT GENERATED ALWAYS AS (json_extract(record, '$.%s')) VIRTUAL", c, c)
	}) + "\n)"}
	for _, c := range indexed {
		s = append(s, fmt.Sprintf("CREATE INDEX IF NOT EXISTS cert_audit_%s ON cert_audit (%s)", c, c))
	}
	for _, op := range []string{"UPDATE", "DELETE"} {
		s = append(s, fmt.Sprintf("CREATE TRIGGER IF NOT EXISTS cert_audit_no_%s BEFORE %s ON cert_audit BEGIN SELECT RAISE(ABORT, 'cert_audit is append-only'); END",
			strings.ToLower(op), op))
	}
	return s
}

func (sqliteDialect) rebind(q string) string { return q }

// SQLite transactions begin IMMEDIATE (see openSQLite): the write lock is taken
// by BEGIN itself, waiting up to busy_timeout.
func (sqliteDialect) lockConn(context.Context, *sql.Conn) (func(), error) { return func() {}, nil }

func (sqliteDialect) lockTx(context.Context, *sql.Tx) error { return nil }

func (sqliteDialect) txOptions() *sql.TxOptions { return nil }

func (sqliteDialect) retryable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func (sqliteDialect) beginSchema(context.Context, *sql.Conn) (func(), error) { return func() {}, nil }

func (sqliteDialect) noTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}

// --- MySQL / MariaDB ------------------------------------------------------------

type mysqlDialect struct{}

// mysqlLock names the append lock after the database, since MySQL's named
// locks are server-wide and one server may hold several logs.
const mysqlLock = "CONCAT('certrescue_cert_audit.', DATABASE())"

func (mysqlDialect) name() string { return BackendMySQL }

func (mysqlDialect) schema() []string {
	s := []string{"CREATE TABLE IF NOT EXISTS cert_audit (\n  " + columnDDL("BIGINT", "MEDIUMTEXT", func(c string, long bool) string {
		t := "VARCHAR(255)"
		if long {
			t = "TEXT"
		}
		return fmt.Sprintf("%s %s AS (JSON_UNQUOTE(JSON_EXTRACT(record, '$.%s'))) VIRTUAL", c, t, c)
	}) +
		",\n  " + mysqlIndexes() + "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"}
	for _, op := range []string{"UPDATE", "DELETE"} {
		s = append(s, fmt.Sprintf("CREATE TRIGGER IF NOT EXISTS cert_audit_no_%s BEFORE %s ON cert_audit FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'cert_audit is append-only'",
			strings.ToLower(op), op))
	}
	return s
}

func mysqlIndexes() string {
	parts := make([]string, len(indexed))
	for i, c := range indexed {
		parts[i] = fmt.Sprintf("KEY cert_audit_%s (%s)", c, c)
	}
	return strings.Join(parts, ",\n  ")
}

func (mysqlDialect) rebind(q string) string { return q }

// MySQL: a named lock (GET_LOCK) held by this session for the transaction. The
// server drops it if the client dies, so a killed appender never wedges the log.
func (mysqlDialect) lockConn(ctx context.Context, conn *sql.Conn) (func(), error) {
	return mysqlGetLock(ctx, conn)
}

func (mysqlDialect) lockTx(context.Context, *sql.Tx) error { return nil }

func (mysqlDialect) txOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

func mysqlGetLock(ctx context.Context, conn *sql.Conn) (func(), error) {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlLock+", 60)").Scan(&got); err != nil {
		return nil, fmt.Errorf("take the append lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, fmt.Errorf("take the append lock: another appender held it for 60 s")
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK("+mysqlLock+")")
	}, nil
}

func (mysqlDialect) retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1062, 1213, 1205: // duplicate key, deadlock, lock wait timeout
			return true
		}
	}
	return false
}

func (mysqlDialect) beginSchema(ctx context.Context, conn *sql.Conn) (func(), error) {
	return mysqlGetLock(ctx, conn)
}

func (mysqlDialect) noTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1146 // ER_NO_SUCH_TABLE
}

// --- PostgreSQL -----------------------------------------------------------------

type postgresDialect struct{}

// pgLockKey is the advisory lock appenders take: an arbitrary constant ("cert")
// and the schema, since one database may hold a log per schema.
const (
	pgLockKey    = "1667592820, hashtext(current_schema())"
	pgSchemaLock = "1667592821, hashtext(current_schema())"
)

func (postgresDialect) name() string { return BackendPostgres }

func (postgresDialect) schema() []string {
	s := []string{"CREATE TABLE IF NOT EXISTS cert_audit (\n  " + columnDDL("BIGINT", "TEXT", func(c string, _ bool) string {
		return fmt.Sprintf("%s TEXT GENERATED ALWAYS AS ((record::jsonb) ->> '%s') STORED", c, c)
	}) + "\n)"}
	for _, c := range indexed {
		s = append(s, fmt.Sprintf("CREATE INDEX IF NOT EXISTS cert_audit_%s ON cert_audit (%s)", c, c))
	}
	s = append(s,
		`CREATE OR REPLACE FUNCTION cert_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'cert_audit is append-only'; END $$`,
		`CREATE OR REPLACE TRIGGER cert_audit_no_change BEFORE UPDATE OR DELETE ON cert_audit
  FOR EACH ROW EXECUTE FUNCTION cert_audit_append_only()`,
		`CREATE OR REPLACE TRIGGER cert_audit_no_truncate BEFORE TRUNCATE ON cert_audit
  FOR EACH STATEMENT EXECUTE FUNCTION cert_audit_append_only()`)
	return s
}

func (postgresDialect) rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// PostgreSQL: a transaction-scoped advisory lock, released by COMMIT or ROLLBACK
// (or by the server when the client dies).
func (postgresDialect) lockConn(context.Context, *sql.Conn) (func(), error) { return func() {}, nil }

func (postgresDialect) lockTx(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+pgLockKey+")"); err != nil {
		return fmt.Errorf("take the append lock: %w", err)
	}
	return nil
}

func (postgresDialect) txOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

func (postgresDialect) retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", "40001", "40P01": // unique violation, serialization failure, deadlock
			return true
		}
	}
	return false
}

func (postgresDialect) beginSchema(ctx context.Context, conn *sql.Conn) (func(), error) {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+pgSchemaLock+")"); err != nil {
		return nil, err
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+pgSchemaLock+")")
	}, nil
}

func (postgresDialect) noTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01" // undefined_table
}

// SchemaSQL returns the statements that create the store on backend, for a DBA
// who creates the schema with a privileged account and grants the nodes only
// SELECT and INSERT on cert_audit.
func SchemaSQL(backend string) ([]string, error) {
	switch backend {
	case BackendSQLite:
		return sqliteDialect{}.schema(), nil
	case BackendMySQL:
		return mysqlDialect{}.schema(), nil
	case BackendPostgres:
		return postgresDialect{}.schema(), nil
	}
	return nil, fmt.Errorf("unknown backend %q: use sqlite, mysql or postgres", backend)
}
