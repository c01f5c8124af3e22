package audit

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// The same tests run on every backend: SQLite always; MariaDB and PostgreSQL
// when scripts/test-deps.d/20-databases.sh has started them (make test does)
// and written their DSNs to ~/.cache/certrescue-testbed/db.env, or when
// CERTRESCUE_TEST_MYSQL_DSN / CERTRESCUE_TEST_PG_DSN are set. Under
// CERTRESCUE_REQUIRE_TESTBED=1 a missing database fails instead of skipping.

// forEachBackend runs f once per backend, each with a fresh, empty store.
func forEachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	eachBackend(t, func(t *testing.T, b string) { f(t, freshDSN(t, b)) })
}

// eachBackend runs f once per backend name.
func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range []string{BackendSQLite, BackendMySQL, BackendPostgres} {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// freshDSN returns the DSN of a new, empty store on backend b, dropped when the
// test ends.
func freshDSN(t testing.TB, b string) string {
	t.Helper()
	switch b {
	case BackendSQLite:
		return filepath.Join(t.TempDir(), "lib", "audit.db")
	case BackendMySQL:
		return freshMySQL(t, testDSN(t, "CERTRESCUE_TEST_MYSQL_DSN"))
	case BackendPostgres:
		return freshPostgres(t, testDSN(t, "CERTRESCUE_TEST_PG_DSN"))
	}
	t.Fatalf("unknown backend %q", b)
	return ""
}

func testDSN(t testing.TB, name string) string {
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
				return v
			}
		}
	}
	if os.Getenv("CERTRESCUE_REQUIRE_TESTBED") == "1" {
		t.Fatalf("%s not set and not in %s: run scripts/test-deps.d/20-databases.sh", name, envFile)
	}
	t.Skipf("%s not set and not in %s; scripts/test-deps.d/20-databases.sh starts the database (make test does)", name, envFile)
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
func freshMySQL(t testing.TB, dsn string) string {
	t.Helper()
	tg, err := ParseDSN(dsn)
	if err != nil {
		t.Fatalf("CERTRESCUE_TEST_MYSQL_DSN: %v", err)
	}
	name := randomName(t)
	admin := adminDB(t, tg)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("MariaDB at %s: create database: %v (is it running? scripts/test-deps.d/20-databases.sh)", tg.Display, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// freshPostgres creates a schema of its own for the test and drops it after.
func freshPostgres(t testing.TB, dsn string) string {
	t.Helper()
	tg, err := ParseDSN(dsn)
	if err != nil {
		t.Fatalf("CERTRESCUE_TEST_PG_DSN: %v", err)
	}
	name := randomName(t)
	admin := adminDB(t, tg)
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatalf("PostgreSQL at %s: create schema: %v (is it running? scripts/test-deps.d/20-databases.sh)", tg.Display, err)
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

func adminDB(t testing.TB, tg Target) *sql.DB {
	t.Helper()
	var db *sql.DB
	switch tg.Backend {
	case BackendMySQL:
		c, err := mysql.NewConnector(tg.mysql)
		if err != nil {
			t.Fatal(err)
		}
		db = sql.OpenDB(c)
	default:
		var err error
		if db, err = sql.Open("pgx", tg.driver); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// mustOpen opens dsn and closes it when the test ends.
func mustOpen(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// exec runs a statement directly on the store's database, as an attacker with
// the database owner's rights would. The append-only triggers are dropped first.
func tamper(t *testing.T, s *Store, stmts ...string) {
	t.Helper()
	var drop []string
	switch s.d.name() {
	case BackendSQLite, BackendMySQL:
		drop = []string{"DROP TRIGGER IF EXISTS cert_audit_no_update", "DROP TRIGGER IF EXISTS cert_audit_no_delete"}
	case BackendPostgres:
		drop = []string{"DROP TRIGGER IF EXISTS cert_audit_no_change ON cert_audit", "DROP TRIGGER IF EXISTS cert_audit_no_truncate ON cert_audit"}
	}
	for _, q := range append(drop, stmts...) {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatalf("tamper %q: %v", q, err)
		}
	}
}
