// Package audittest gives tests an empty audit store on each backend: a SQLite
// file always; MariaDB and PostgreSQL when scripts/test-deps.d/20-databases.sh
// has started them (make test does) and written their DSNs to
// ~/.cache/certrescue-testbed/db.env, or when CERTRESCUE_TEST_MYSQL_DSN /
// CERTRESCUE_TEST_PG_DSN are set. Under CERTRESCUE_REQUIRE_TESTBED=1 a missing
// database fails the test; otherwise it skips.
//
// Each store is a database (MariaDB) or schema (PostgreSQL) of its own, dropped
// when the test ends, so tests run in parallel and leave nothing behind.
package audittest

import (
	"bufio"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// Backends are the audit store backends, in test order.
var Backends = []string{"sqlite", "mysql", "postgres"}

// FreshDSN returns the DSN of a new, empty store on backend.
func FreshDSN(t testing.TB, backend string) string {
	t.Helper()
	switch backend {
	case "sqlite":
		return filepath.Join(t.TempDir(), "lib", "audit.db")
	case "mysql":
		return freshMySQL(t, serverDSN(t, "CERTRESCUE_TEST_MYSQL_DSN"))
	case "postgres":
		return freshPostgres(t, serverDSN(t, "CERTRESCUE_TEST_PG_DSN"))
	}
	t.Fatalf("audittest: unknown backend %q", backend)
	return ""
}

// serverDSN finds a database server's DSN, or skips (fails under
// CERTRESCUE_REQUIRE_TESTBED=1).
func serverDSN(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	cache := os.Getenv("CERTRESCUE_TESTBED_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "certrescue-testbed")
	}
	envFile := filepath.Join(cache, "db.env")
	if f, err := os.Open(envFile); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok && k == name {
				return reachable(t, name, v)
			}
		}
	}
	if os.Getenv("CERTRESCUE_REQUIRE_TESTBED") == "1" {
		t.Fatalf("%s not set and not in %s: run scripts/test-deps.d/20-databases.sh", name, envFile)
	}
	t.Skipf("%s not set and not in %s; scripts/test-deps.d/20-databases.sh starts the database (make test does)", name, envFile)
	return ""
}

// reachable skips (fails under CERTRESCUE_REQUIRE_TESTBED=1) when the server a
// DSN names does not answer: db.env outlives the servers make test stops.
func reachable(t testing.TB, name, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err == nil {
		c.Close()
		return dsn
	}
	if os.Getenv("CERTRESCUE_REQUIRE_TESTBED") == "1" {
		t.Fatalf("%s: %s does not answer (%v): run scripts/test-deps.d/20-databases.sh", name, u.Host, err)
	}
	t.Skipf("%s: %s does not answer; scripts/test-deps.d/20-databases.sh starts it (make test does)", name, u.Host)
	return ""
}

func randomName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "ct_" + hex.EncodeToString(b)
}

// freshMySQL creates a database of its own for the test and drops it after.
// dsn is mysql://USER:PASS@HOST:PORT/DB.
func freshMySQL(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("CERTRESCUE_TEST_MYSQL_DSN: %v", err)
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User = "tcp", u.Host, u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin := sql.OpenDB(c)
	name := randomName(t)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("MariaDB at %s: create database: %v (is it running? scripts/test-deps.d/20-databases.sh)", u.Host, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u.Path = "/" + name
	return u.String()
}

// freshPostgres creates a schema of its own for the test and drops it after.
func freshPostgres(t testing.TB, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("CERTRESCUE_TEST_PG_DSN: %v", err)
	}
	name := randomName(t)
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatalf("PostgreSQL: create schema: %v (is it running? scripts/test-deps.d/20-databases.sh)", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Tamper runs statements directly on the store at dsn, as an attacker with the
// database owner's rights would: the append-only triggers are dropped first
// (and stay dropped: audit verify reports that too; Exec the schema's
// trigger statements to put them back, as an attacker covering tracks would).
func Tamper(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	execOn(t, dsn, true, stmts)
}

// Exec runs statements directly on the store at dsn, triggers untouched.
func Exec(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	execOn(t, dsn, false, stmts)
}

func execOn(t testing.TB, dsn string, dropTriggers bool, stmts []string) {
	t.Helper()
	var db *sql.DB
	var drop []string
	switch {
	case strings.HasPrefix(dsn, "mysql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.User, cfg.DBName = "tcp", u.Host, u.User.Username(), strings.TrimPrefix(u.Path, "/")
		cfg.Passwd, _ = u.User.Password()
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db = sql.OpenDB(c)
		drop = []string{"DROP TRIGGER IF EXISTS cert_audit_no_update", "DROP TRIGGER IF EXISTS cert_audit_no_delete"}
	case strings.HasPrefix(dsn, "postgres://"):
		var err error
		if db, err = sql.Open("pgx", dsn); err != nil {
			t.Fatal(err)
		}
		drop = []string{"DROP TRIGGER IF EXISTS cert_audit_no_change ON cert_audit", "DROP TRIGGER IF EXISTS cert_audit_no_truncate ON cert_audit"}
	default:
		var err error
		if db, err = sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:")); err != nil {
			t.Fatal(err)
		}
		drop = []string{"DROP TRIGGER IF EXISTS cert_audit_no_update", "DROP TRIGGER IF EXISTS cert_audit_no_delete"}
	}
	defer db.Close()
	if !dropTriggers {
		drop = nil
	}
	for _, q := range append(drop, stmts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("tamper %q: %v", q, err)
		}
	}
}
