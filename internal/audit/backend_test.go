package audit

import (
	"context"
	"testing"

	"github.com/certrescue/certrescue/internal/audit/audittest"
)

// The same tests run on every backend: SQLite always, MariaDB and PostgreSQL
// when their servers run (see package audittest).

// forEachBackend runs f once per backend, each with a fresh, empty store.
func forEachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	eachBackend(t, func(t *testing.T, b string) { f(t, freshDSN(t, b)) })
}

// eachBackend runs f once per backend name.
func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range audittest.Backends {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

func freshDSN(t testing.TB, backend string) string {
	t.Helper()
	return audittest.FreshDSN(t, backend)
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

// tamper runs statements directly on the store's database, as an attacker with
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
