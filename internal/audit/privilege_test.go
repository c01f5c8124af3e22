package audit

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestNodeNeedsOnlySelectAndInsert creates the schema as the database owner,
// then appends and verifies as a user granted only SELECT and INSERT on
// cert_audit, who cannot change or delete events: the least privilege doc.go
// recommends for a fleet.
func TestNodeNeedsOnlySelectAndInsert(t *testing.T) {
	for _, backend := range []string{BackendMySQL, BackendPostgres} {
		t.Run(backend, func(t *testing.T) {
			adminDSN := freshDSN(t, backend)
			admin := mustOpen(t, adminDSN)
			appendN(t, admin, 2)
			u, err := url.Parse(adminDSN)
			if err != nil {
				t.Fatal(err)
			}
			user := "n" + strings.TrimPrefix(randomSuffix(adminDSN), "ct_")
			var grants, cleanup []string
			switch backend {
			case BackendMySQL:
				db := strings.TrimPrefix(u.Path, "/")
				grants = []string{
					fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY 'pw'", user),
					fmt.Sprintf("GRANT SELECT, INSERT ON %s.cert_audit TO '%s'@'127.0.0.1'", db, user),
				}
				cleanup = []string{fmt.Sprintf("DROP USER '%s'@'127.0.0.1'", user)}
			case BackendPostgres:
				schema := u.Query().Get("search_path")
				grants = []string{
					fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw'", user),
					fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", schema, user),
					fmt.Sprintf("GRANT SELECT, INSERT ON %s.cert_audit TO %s", schema, user),
				}
				cleanup = []string{
					fmt.Sprintf("REVOKE ALL ON %s.cert_audit FROM %s", schema, user),
					fmt.Sprintf("REVOKE USAGE ON SCHEMA %s FROM %s", schema, user),
					"DROP ROLE " + user,
				}
			}
			for _, q := range grants {
				if _, err := admin.db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			t.Cleanup(func() {
				for _, q := range cleanup {
					if _, err := admin.db.Exec(q); err != nil {
						t.Errorf("%s: %v", q, err)
					}
				}
			})
			u.User = url.UserPassword(user, "pw")
			node := mustOpen(t, u.String())
			ctx := context.Background()
			if err := node.Probe(ctx); err != nil {
				t.Fatalf("probe as %s: %v", user, err)
			}
			if _, err := node.Append(ctx, sampleEvent(3)); err != nil {
				t.Fatalf("append as %s: %v", user, err)
			}
			rep, err := node.Verify(ctx, nil)
			if err != nil || !rep.OK() || rep.Events != 3 {
				t.Fatalf("verify as %s: %+v %v", user, rep, err)
			}
			// MySQL shows a user without the TRIGGER privilege that the
			// triggers exist, not what they do: a note, never a false finding.
			if backend == BackendMySQL && len(rep.GuardNotes) == 0 {
				t.Errorf("verify as %s: no note that the triggers' statements could not be read", user)
			}
			ro, err := OpenReadOnly(ctx, node.Target())
			if err != nil {
				t.Fatalf("open read-only as %s: %v", user, err)
			}
			defer ro.Close()
			if rep, err := ro.Verify(ctx, nil); err != nil || !rep.OK() || rep.Events != 3 {
				t.Fatalf("read-only verify as %s: %+v %v", user, rep, err)
			}
			for _, q := range []string{"UPDATE cert_audit SET hash = 'x' WHERE id = 1", "DELETE FROM cert_audit WHERE id = 3"} {
				if _, err := node.db.Exec(q); err == nil || !strings.Contains(strings.ToLower(err.Error()), "denied") {
					t.Errorf("%s as %s: err = %v, want permission denied", q, user, err)
				}
			}
			// A trigger the owner dropped is missing to the node user too, not
			// merely invisible.
			drop, dropped := "DROP TRIGGER cert_audit_no_delete", "cert_audit_no_delete"
			if backend == BackendPostgres {
				drop, dropped = "DROP TRIGGER cert_audit_no_truncate ON cert_audit", "cert_audit_no_truncate"
			}
			if _, err := admin.db.Exec(drop); err != nil {
				t.Fatal(err)
			}
			rep, err = ro.Verify(ctx, nil)
			if err != nil || len(rep.Guards) != 1 || rep.Guards[0].Trigger != dropped || rep.Guards[0].Kind != GuardMissing {
				t.Errorf("verify as %s after %s: %+v %v", user, drop, rep.Guards, err)
			}
		})
	}
}

// randomSuffix is the ct_... name audittest gave the database or schema.
func randomSuffix(dsn string) string {
	u, _ := url.Parse(dsn)
	if sp := u.Query().Get("search_path"); sp != "" {
		return sp
	}
	return strings.TrimPrefix(u.Path, "/")
}

func TestSchemaSQL(t *testing.T) {
	for _, b := range []string{BackendSQLite, BackendMySQL, BackendPostgres} {
		stmts, err := SchemaSQL(b)
		if err != nil || len(stmts) < 3 || !strings.Contains(stmts[0], "record") {
			t.Errorf("%s: %v %v", b, stmts, err)
		}
	}
	if _, err := SchemaSQL("oracle"); err == nil {
		t.Error("oracle accepted")
	}
}
