package audit

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sys/unix"
)

// ErrNoLog is wrapped when a store opened for reading holds no audit log: the
// SQLite file does not exist, or the database has no cert_audit table.
var ErrNoLog = errors.New("no audit log")

// ErrReadOnly is wrapped when a store opened with OpenReadOnly is asked to
// append.
var ErrReadOnly = errors.New("the audit store is open read-only")

// ErrWALUnreadable is wrapped when a SQLite log in a directory that cannot be
// written has a write-ahead log (audit.db-wal) holding events not yet in
// audit.db, but no audit.db-shm: SQLite cannot read such a WAL without
// creating its -shm file, and reading audit.db alone would silently miss
// those events.
var ErrWALUnreadable = errors.New("write-ahead log cannot be read in place")

// OpenReadOnly opens the store at t for reading only, as the audit commands
// that only read (verify, checkpoint, list, show, export) do, so they work on
// a read-only mount such as a forensic copy of a node's disk. It never
// creates the database, its directory or its schema, never changes a mode,
// and reads inside read-only transactions (MySQL/MariaDB START TRANSACTION
// READ ONLY; PostgreSQL sessions with default_transaction_read_only=on).
//
// SQLite: the file is opened with mode=ro. When its directory cannot be
// written (a read-only mount, or a directory this user may not write) it is
// also opened immutable=1, so no -wal or -shm file is needed, unless a
// non-empty audit.db-wal is there: then it is read through its existing
// audit.db-shm (ErrWALUnreadable when that is missing), never skipped.
func OpenReadOnly(ctx context.Context, t Target) (*Store, error) {
	s := &Store{target: t, readOnly: true}
	var err error
	switch t.Backend {
	case BackendSQLite:
		s.d = sqliteDialect{}
		s.db, s.access, err = openSQLiteReadOnly(t.Path)
	case BackendMySQL:
		s.d = mysqlDialect{}
		c, cerr := mysql.NewConnector(t.mysql)
		if err = cerr; err == nil {
			s.db = sql.OpenDB(readOnlySession{c})
		}
	case BackendPostgres:
		s.d = postgresDialect{}
		s.db, err = sql.Open("pgx", readOnlyPostgresDSN(t.driver))
	default:
		err = fmt.Errorf("unknown backend %q", t.Backend)
	}
	if err != nil {
		return nil, fmt.Errorf("audit store %s: %w", t.Display, err)
	}
	s.db.SetConnMaxIdleTime(time.Minute)
	if err := s.hasTable(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("audit store %s: %w", t.Display, err)
	}
	return s, nil
}

// ReadOnly reports whether the store was opened with OpenReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Access says how a read-only SQLite store was opened, for messages: "" (read-
// write), "read-only", "read-only, immutable" (its directory cannot be
// written) or "read-only, through its -wal and -shm files".
func (s *Store) Access() string { return s.access }

// readOnlySession makes every MySQL/MariaDB session read-only as it
// connects (SET SESSION TRANSACTION READ ONLY, which both accept, unlike the
// variable's name), so no statement of a read-only store can write.
type readOnlySession struct{ driver.Connector }

func (c readOnlySession) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("MySQL driver connection %T cannot execute statements", conn)
	}
	if _, err := ex.ExecContext(ctx, "SET SESSION TRANSACTION READ ONLY", nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("make the session read-only: %w", err)
	}
	return conn, nil
}

// readOnlyPostgresDSN makes every transaction of the session read-only.
func readOnlyPostgresDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("default_transaction_read_only", "on")
	u.RawQuery = q.Encode()
	return u.String()
}

// openSQLiteReadOnly opens an existing SQLite log without creating or
// changing any file when its directory cannot be written.
func openSQLiteReadOnly(path string) (*sql.DB, string, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("%w: %s does not exist", ErrNoLog, path)
	case err != nil:
		return nil, "", err
	case !fi.Mode().IsRegular():
		return nil, "", fmt.Errorf("%s is not a regular file", path)
	}
	if err := unix.Access(path, unix.R_OK); err != nil {
		return nil, "", fmt.Errorf("%s: cannot be read: %w", path, err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(60000)")
	q.Add("_pragma", "query_only(1)")
	access := "read-only"
	if unix.Access(filepath.Dir(path), unix.W_OK) != nil {
		wal, werr := os.Stat(path + "-wal")
		_, serr := os.Stat(path + "-shm")
		switch {
		case werr != nil || wal.Size() == 0:
			// Nothing in a write-ahead log: the database file is the whole log,
			// and nobody can write it through this directory.
			q.Set("immutable", "1")
			access = "read-only, immutable (its directory cannot be written)"
		case serr != nil:
			return nil, "", fmt.Errorf("%w: %s-wal holds %d bytes of events not yet in %s, and %s-shm, which SQLite needs to read them in a directory it cannot write, is missing",
				ErrWALUnreadable, path, wal.Size(), filepath.Base(path), path)
		default:
			access = "read-only, through its -wal and -shm files"
		}
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?"+q.Encode())
	if err != nil {
		return nil, "", err
	}
	return db, access, nil
}

// hasTable checks that the store holds a log, writing nothing.
func (s *Store) hasTable(ctx context.Context) error {
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id FROM cert_audit WHERE 1 = 0")
		if err != nil {
			return err
		}
		return rows.Close()
	})
	if err == nil {
		return nil
	}
	if s.d.noTable(err) {
		return fmt.Errorf("%w: no cert_audit table (nothing has been recorded in this store, or it is not certrescue's)", ErrNoLog)
	}
	return err
}

// readTxOptions are the options of every read: read-only, and a snapshot of
// the whole log on the servers (a verify sees one consistent log while
// appenders go on).
func (s *Store) readTxOptions() *sql.TxOptions {
	if s.d.name() == BackendSQLite {
		return &sql.TxOptions{ReadOnly: true} // a deferred BEGIN: one WAL snapshot
	}
	return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
}

// inReadTx runs f in a read-only transaction and rolls it back.
func (s *Store) inReadTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, s.readTxOptions())
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a read-only transaction: nothing to keep
	return f(tx)
}
