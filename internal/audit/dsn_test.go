package audit

import (
	"strings"
	"testing"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		name, dsn   string
		backend     string
		display     string
		errContains string
	}{
		{"a plain path is SQLite", "/var/lib/certrescue/audit.db", BackendSQLite, "sqlite:/var/lib/certrescue/audit.db", ""},
		{"a relative path is SQLite", "audit.db", BackendSQLite, "sqlite:audit.db", ""},
		{"sqlite: prefix", "sqlite:///tmp/a.db", BackendSQLite, "sqlite:/tmp/a.db", ""},
		{"file: prefix", "file:/tmp/a.db", BackendSQLite, "sqlite:/tmp/a.db", ""},
		{"a path with a colon in a directory", "./x:y/audit.db", BackendSQLite, "sqlite:./x:y/audit.db", ""},
		{"mysql URL", "mysql://u:pw@db.example:3307/audit", BackendMySQL, "mysql://u:xxxxx@tcp(db.example:3307)/audit", ""},
		{"mysql URL without port", "mysql://u@db/audit?tls=true", BackendMySQL, "mysql://u@tcp(db:3306)/audit", ""},
		{"go-sql-driver form", "mysql://u:pw@tcp(10.0.0.5:3306)/audit", BackendMySQL, "mysql://u:xxxxx@tcp(10.0.0.5:3306)/audit", ""},
		{"mariadb scheme", "mariadb://u:pw@db/audit", BackendMySQL, "mysql://u:xxxxx@tcp(db:3306)/audit", ""},
		{"postgres URL", "postgres://u:pw@db:5432/audit?sslmode=verify-full", BackendPostgres, "postgres://u:xxxxx@db:5432/audit?sslmode=verify-full", ""},
		{"postgresql scheme", "postgresql://u@db/audit", BackendPostgres, "postgresql://u@db/audit", ""},
		{"empty", "  ", "", "", "empty"},
		{"unknown scheme", "oracle://x/y", "", "", `unknown scheme "oracle"`},
		{"mysql without database", "mysql://u:pw@db:3306/", "", "", "no database name"},
		{"mysql with an unknown parameter", "mysql://u:pw@db/audit?foo=1", "", "", `unknown parameter "foo"`},
		{"mysql bad driver DSN hides the password", "mysql://u:topsecret@tcp(db/audit", "", "", "mysql:"},
		{"postgres without database", "postgres://u:pw@db:5432", "", "", "no database name"},
		{"postgres without host", "postgres:///audit", "", "", "no host"},
		{"SQLite path with a query", "/tmp/a.db?mode=ro", "", "", "must not contain"},
		{"too long", strings.Repeat("a", 5000), "", "", "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := ParseDSN(tc.dsn)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("err = %v, want %q", err, tc.errContains)
				}
				if strings.Contains(err.Error(), "topsecret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tg.Backend != tc.backend || tg.Display != tc.display {
				t.Errorf("got %s %q, want %s %q", tg.Backend, tg.Display, tc.backend, tc.display)
			}
		})
	}
}

func TestParseCheckpoint(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    Checkpoint
		wantErr string
	}{
		{"12:" + h, Checkpoint{12, h}, ""},
		{" 12:" + strings.ToUpper(h) + "\n", Checkpoint{12, h}, ""},
		{"0:" + GenesisHash, Checkpoint{0, GenesisHash}, ""},
		{"0:" + h, Checkpoint{}, "empty log"},
		{"12", Checkpoint{}, "COUNT:HASH"},
		{"-1:" + h, Checkpoint{}, "non-negative"},
		{"12:abc", Checkpoint{}, "64 hex"},
		{"12:" + strings.Repeat("zz", 32), Checkpoint{}, "64 hex"},
	}
	for _, tc := range tests {
		got, err := ParseCheckpoint(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v", tc.in, got, err)
		}
		if again, err := ParseCheckpoint(got.String()); err != nil || again != got {
			t.Errorf("%q: String does not round-trip: %v", tc.in, err)
		}
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"/var/lib/a.db", "sqlite:a.db", "mysql://u:p@h:1/d?tls=true&timeout=1s",
		"mysql://u:p@tcp(h:1)/d?x=y", "postgres://u:p@h/d", "file:", "mysql://", "postgres://h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		tg, err := ParseDSN(dsn)
		if err != nil {
			return
		}
		switch tg.Backend {
		case BackendSQLite, BackendMySQL, BackendPostgres:
		default:
			t.Fatalf("backend %q for %q", tg.Backend, dsn)
		}
		if tg.Display == "" {
			t.Fatalf("no display form for %q", dsn)
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add("12:" + strings.Repeat("ab", 32))
	f.Add("0:" + GenesisHash)
	f.Add("x:y")
	f.Fuzz(func(t *testing.T, s string) {
		cp, err := ParseCheckpoint(s)
		if err != nil {
			return
		}
		if again, err := ParseCheckpoint(cp.String()); err != nil || again != cp {
			t.Fatalf("%q parsed to %+v, which does not round-trip (%v)", s, cp, err)
		}
	})
}
