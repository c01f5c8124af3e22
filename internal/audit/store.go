package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// File modes of a SQLite store: the directory and database are the operator's
// alone (events name hosts, users and paths).
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Store is an open audit log.
type Store struct {
	db       *sql.DB
	d        dialect
	target   Target
	readOnly bool   // opened with OpenReadOnly: Append and Probe refuse
	access   string // how a read-only store was opened (Access)
}

// Open connects to the store at dsn (see ParseDSN) and creates its schema when
// missing. A SQLite file and its directory are created 0600 and 0700.
func Open(ctx context.Context, dsn string) (*Store, error) {
	t, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return OpenTarget(ctx, t)
}

// OpenTarget is Open for a parsed DSN.
func OpenTarget(ctx context.Context, t Target) (*Store, error) {
	s := &Store{target: t}
	var err error
	switch t.Backend {
	case BackendSQLite:
		s.d = sqliteDialect{}
		if s.db, err = openSQLite(t.Path); err == nil {
			if err = walMode(ctx, s.db); err != nil {
				s.db.Close()
			}
		}
	case BackendMySQL:
		s.d = mysqlDialect{}
		c, cerr := mysql.NewConnector(t.mysql)
		if err = cerr; err == nil {
			s.db = sql.OpenDB(c)
		}
	case BackendPostgres:
		s.d = postgresDialect{}
		s.db, err = sql.Open("pgx", t.driver)
	default:
		err = fmt.Errorf("unknown backend %q", t.Backend)
	}
	if err != nil {
		return nil, fmt.Errorf("audit store %s: %w", t.Display, err)
	}
	s.db.SetConnMaxIdleTime(time.Minute)
	if err := s.ensureSchema(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("audit store %s: %w", t.Display, err)
	}
	return s, nil
}

// Target says where the store is (its Display form is safe to print).
func (s *Store) Target() Target { return s.target }

// Close releases the connection(s).
func (s *Store) Close() error { return s.db.Close() }

func openSQLite(path string) (*sql.DB, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, DirMode); err != nil {
			return nil, err
		}
		if err := os.Chmod(dir, DirMode); err != nil { // whatever the umask
			return nil, err
		}
	}
	// Create the file ourselves so it is 0600 whatever the umask; SQLite gives
	// its -wal and -shm files the database file's mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode); err == nil {
		f.Close()
		if err := os.Chmod(path, FileMode); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	} else if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&^FileMode != 0 {
		// A log someone loosened goes back to 0600.
		if err := os.Chmod(path, FileMode); err != nil {
			return nil, err
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(60000)")
	// journal_mode(WAL) is not set here: walMode does it, once per open.
	// FULL: every commit fsyncs the WAL, so an event is on disk before Append returns.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	return db, nil
}

// walMode puts the log in WAL mode (kept in the file, so once is enough). The
// switch needs the file to itself, and SQLite answers SQLITE_BUSY at once,
// without its busy timeout, while another process has it open: the commands of
// a pipeline (certrescue gencert | certrescue cfssljson) opening a new log
// together. Set per connection, as a DSN pragma, that failed the connection,
// so it is retried here until the switch is made or ctx ends.
func walMode(ctx context.Context, db *sql.DB) error {
	delay := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil && strings.EqualFold(mode, "wal") {
			return nil
		}
		retry := err == nil // the mode comes back unchanged when the switch could not be made
		if err == nil {
			err = fmt.Errorf("journal_mode is %s, not wal", mode)
		}
		if !(retry || (sqliteDialect{}).retryable(err)) || attempt == walAttempts {
			return fmt.Errorf("set WAL mode: %w", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("set WAL mode: %w (%w)", err, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// walAttempts bounds walMode: about 30 s of another process holding the file.
const walAttempts = 300

// escapePath keeps a file name's '%' from being read as a URL escape.
func escapePath(p string) string { return strings.ReplaceAll(p, "%", "%25") }

// ensureSchema creates the tables when they are missing. When cert_audit exists
// nothing is created, so a node whose database user may only SELECT and INSERT
// works.
func (s *Store) ensureSchema(ctx context.Context) error {
	if s.tableExists(ctx) {
		return nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	release, err := s.d.beginSchema(ctx, conn)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer release()
	for _, stmt := range s.d.schema() {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	return nil
}

func (s *Store) tableExists(ctx context.Context) bool {
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM cert_audit WHERE 1 = 0")
	if err != nil {
		return false // missing, or unreadable: the CREATE ... IF NOT EXISTS says which
	}
	rows.Close()
	return true
}

// Probe checks that an event could be appended now: the store answers and this
// user may take the append lock. It writes nothing.
func (s *Store) Probe(ctx context.Context) error {
	if s.readOnly {
		return fmt.Errorf("audit store %s: %w", s.target.Display, ErrReadOnly)
	}
	err := s.inAppendTx(ctx, func(tx *sql.Tx) error {
		_, _, err := s.last(ctx, tx)
		return err
	}, false)
	if err != nil {
		return fmt.Errorf("audit store %s: %w", s.target.Display, err)
	}
	return nil
}

// maxAttempts bounds retries when appenders collide.
const maxAttempts = 20

// Append adds ev to the end of the log and returns it with Seq, PrevHash and
// Hash set. When it returns nil the event is committed durably.
func (s *Store) Append(ctx context.Context, ev Event) (Event, error) {
	out, err := s.AppendAll(ctx, []Event{ev})
	if err != nil {
		return Event{}, err
	}
	return out[0], nil
}

// AppendAll adds events to the end of the log, in order and contiguously, in
// one transaction: when it returns nil every one of them is committed durably,
// otherwise none is. A batch (gencert of a hundred certificates) then costs one
// durable commit instead of one per event.
func (s *Store) AppendAll(ctx context.Context, evs []Event) ([]Event, error) {
	if s.readOnly {
		return nil, fmt.Errorf("audit store %s: append: %w", s.target.Display, ErrReadOnly)
	}
	in := make([]Event, len(evs))
	for i, ev := range evs {
		if err := ev.normalize(); err != nil {
			return nil, err
		}
		in[i] = ev
	}
	var out []Event
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		err = s.inAppendTx(ctx, func(tx *sql.Tx) error {
			seq, prev, err := s.last(ctx, tx)
			if err != nil {
				return err
			}
			out = out[:0]
			for i, e := range in {
				e.Seq = seq + 1 + int64(i)
				e.PrevHash = prev
				rec := e.Record()
				e.Hash, e.stored = hashRecord(rec), string(rec)
				if err := s.insert(ctx, tx, &e); err != nil {
					return err
				}
				prev = e.Hash
				out = append(out, e)
			}
			return nil
		}, true)
		if err == nil || !s.d.retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("audit store %s: append: %w", s.target.Display, err)
	}
	return out, nil
}

// inAppendTx runs f in a transaction holding the append lock; it commits when
// commit is set and f succeeds, and rolls back otherwise.
func (s *Store) inAppendTx(ctx context.Context, f func(*sql.Tx) error, commit bool) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	release, err := s.d.lockConn(ctx, conn)
	if err != nil {
		return err
	}
	defer release()
	tx, err := conn.BeginTx(ctx, s.d.txOptions())
	if err != nil {
		return err
	}
	if err := s.d.lockTx(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if !commit {
		return tx.Rollback()
	}
	return tx.Commit()
}

// last returns the sequence number and hash of the newest event (0 and
// GenesisHash for an empty log).
func (s *Store) last(ctx context.Context, tx *sql.Tx) (int64, string, error) {
	var seq int64
	var h string
	err := tx.QueryRowContext(ctx, "SELECT id, hash FROM cert_audit ORDER BY id DESC LIMIT 1").Scan(&seq, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, GenesisHash, nil
	}
	return seq, h, err
}

const insertSQL = "INSERT INTO cert_audit (id, record, hash) VALUES (?, ?, ?)"

// insert stores e, whose Hash must be the hash of its Record.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, e *Event) error {
	_, err := tx.ExecContext(ctx, s.d.rebind(insertSQL), e.Seq, string(e.storedRecord()), e.Hash)
	return err
}
