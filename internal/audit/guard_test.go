package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestGuardsOfAFreshStoreAreInPlace: a store Open created has every trigger
// its schema lists, as the catalog shows them.
func TestGuardsOfAFreshStoreAreInPlace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn)
		probs, notes, err := s.CheckGuards(context.Background())
		if err != nil || len(probs) != 0 || len(notes) != 0 {
			t.Fatalf("fresh store: %v %v %v", probs, notes, err)
		}
	})
}

// TestDroppedOrChangedTriggersAreFindings removes or defuses each
// append-only trigger the way a database owner could, and checks that Verify
// names it, although the chain itself is intact.
func TestDroppedOrChangedTriggersAreFindings(t *testing.T) {
	type tc struct {
		name  string
		stmts []string
		want  []string // "TRIGGER KIND", in schema order
	}
	cases := map[string][]tc{
		BackendSQLite: {
			{"the UPDATE trigger dropped", []string{"DROP TRIGGER cert_audit_no_update"}, []string{"cert_audit_no_update " + GuardMissing}},
			{"the DELETE trigger dropped", []string{"DROP TRIGGER cert_audit_no_delete"}, []string{"cert_audit_no_delete " + GuardMissing}},
			{"the UPDATE trigger replaced by one that does nothing", []string{"DROP TRIGGER cert_audit_no_update",
				"CREATE TRIGGER cert_audit_no_update BEFORE UPDATE ON cert_audit BEGIN SELECT 1; END"}, []string{"cert_audit_no_update " + GuardChanged}},
			{"the DELETE trigger limited by a WHEN clause", []string{"DROP TRIGGER cert_audit_no_delete",
				"CREATE TRIGGER cert_audit_no_delete BEFORE DELETE ON cert_audit WHEN old.id < 0 BEGIN SELECT RAISE(ABORT, 'cert_audit is append-only'); END"}, []string{"cert_audit_no_delete " + GuardChanged}},
			{"the DELETE trigger's name on an INSERT trigger", []string{"DROP TRIGGER cert_audit_no_delete",
				"CREATE TRIGGER cert_audit_no_delete BEFORE INSERT ON cert_audit WHEN 0 BEGIN SELECT RAISE(ABORT, 'cert_audit is append-only'); END"}, []string{"cert_audit_no_delete " + GuardChanged}},
		},
		BackendMySQL: {
			{"the UPDATE trigger dropped", []string{"DROP TRIGGER cert_audit_no_update"}, []string{"cert_audit_no_update " + GuardMissing}},
			{"the DELETE trigger dropped", []string{"DROP TRIGGER cert_audit_no_delete"}, []string{"cert_audit_no_delete " + GuardMissing}},
			{"the DELETE trigger replaced by one that does nothing", []string{"DROP TRIGGER cert_audit_no_delete",
				"CREATE TRIGGER cert_audit_no_delete BEFORE DELETE ON cert_audit FOR EACH ROW SET @x = 1"}, []string{"cert_audit_no_delete " + GuardChanged}},
			{"the UPDATE trigger moved after the update", []string{"DROP TRIGGER cert_audit_no_update",
				"CREATE TRIGGER cert_audit_no_update AFTER INSERT ON cert_audit FOR EACH ROW SET @x = 1"}, []string{"cert_audit_no_update " + GuardChanged}},
		},
		BackendPostgres: {
			{"the row trigger dropped", []string{"DROP TRIGGER cert_audit_no_change ON cert_audit"}, []string{"cert_audit_no_change " + GuardMissing}},
			{"the TRUNCATE trigger dropped", []string{"DROP TRIGGER cert_audit_no_truncate ON cert_audit"}, []string{"cert_audit_no_truncate " + GuardMissing}},
			{"the row trigger disabled", []string{"ALTER TABLE cert_audit DISABLE TRIGGER cert_audit_no_change"}, []string{"cert_audit_no_change " + GuardDisabled}},
			{"the TRUNCATE trigger set to fire only on replicas", []string{"ALTER TABLE cert_audit ENABLE REPLICA TRIGGER cert_audit_no_truncate"}, []string{"cert_audit_no_truncate " + GuardDisabled}},
			{"the function replaced by one that lets every change through", []string{
				"CREATE OR REPLACE FUNCTION cert_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$"}, []string{"cert_audit_no_change " + GuardChanged, "cert_audit_no_truncate " + GuardChanged}},
			{"the row trigger narrowed to DELETE", []string{"DROP TRIGGER cert_audit_no_change ON cert_audit",
				"CREATE TRIGGER cert_audit_no_change BEFORE DELETE ON cert_audit FOR EACH ROW EXECUTE FUNCTION cert_audit_append_only()"}, []string{"cert_audit_no_change " + GuardChanged}},
			{"the row trigger given a WHEN condition", []string{"DROP TRIGGER cert_audit_no_change ON cert_audit",
				"CREATE TRIGGER cert_audit_no_change BEFORE UPDATE OR DELETE ON cert_audit FOR EACH ROW WHEN (OLD.id < 0) EXECUTE FUNCTION cert_audit_append_only()"}, []string{"cert_audit_no_change " + GuardChanged}},
		},
	}
	eachBackend(t, func(t *testing.T, backend string) {
		for _, c := range cases[backend] {
			t.Run(c.name, func(t *testing.T) {
				s := mustOpen(t, freshDSN(t, backend))
				appendN(t, s, 4)
				for _, q := range c.stmts {
					if _, err := s.db.Exec(q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				rep, err := s.Verify(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Problem != nil || rep.Events != 4 {
					t.Errorf("the chain should still verify: %+v", rep)
				}
				if rep.OK() {
					t.Fatal("verify said OK")
				}
				var found []string
				for _, g := range rep.Guards {
					found = append(found, g.Trigger+" "+g.Kind)
					if !strings.Contains(g.Error(), "append-only trigger "+g.Trigger+" is "+g.Kind) {
						t.Errorf("message does not name the trigger: %s", g.Error())
					}
				}
				if fmt.Sprint(found) != fmt.Sprint(c.want) {
					t.Errorf("guard problems %v, want %v", found, c.want)
				}
			})
		}
	})
}
