package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/audit"
	"github.com/certrescue/certrescue/internal/audit/audittest"
)

// restoreTriggers puts the append-only triggers back after
// audittest.Tamper, as an attacker covering their tracks would.
func restoreTriggers(t *testing.T, dsn, backend string) {
	t.Helper()
	stmts, err := audit.SchemaSQL(backend)
	if err != nil {
		t.Fatal(err)
	}
	var guards []string
	for _, st := range stmts {
		if strings.Contains(st, " TRIGGER ") || strings.Contains(st, " FUNCTION ") {
			guards = append(guards, st)
		}
	}
	audittest.Exec(t, dsn, guards...)
}

// rehashEvent changes event id's operator to mallory and stores it with its
// hash recomputed, then puts the triggers back.
func rehashEvent(t *testing.T, n *auditNode, dsn, backend string, id int64) {
	t.Helper()
	tgt, err := audit.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.OpenReadOnly(context.Background(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Event(context.Background(), id)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.Operator = "mallory"
	rec := e.Record()
	sum := sha256.Sum256(rec)
	audittest.Tamper(t, dsn, fmt.Sprintf("UPDATE cert_audit SET record = '%s', hash = '%s' WHERE id = %d",
		strings.ReplaceAll(string(rec), "'", "''"), hex.EncodeToString(sum[:]), id))
	restoreTriggers(t, dsn, backend)
}

// TestAuditVerifyReportsDroppedTriggers: on every backend, a log whose
// chain is intact but whose append-only trigger was dropped fails verify
// (exit 2) with a message naming the trigger, and gets no checkpoint.
func TestAuditVerifyReportsDroppedTriggers(t *testing.T) {
	drops := map[string]struct{ stmt, trigger string }{
		"sqlite":   {"DROP TRIGGER cert_audit_no_delete", "cert_audit_no_delete"},
		"mysql":    {"DROP TRIGGER cert_audit_no_update", "cert_audit_no_update"},
		"postgres": {"DROP TRIGGER cert_audit_no_truncate ON cert_audit", "cert_audit_no_truncate"},
	}
	for _, backend := range audittest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := audittest.FreshDSN(t, backend)
			n := newAuditNode(t, dsn)
			n.issue(t)
			n.mustRun(t, "audit", "verify")
			d := drops[backend]
			audittest.Exec(t, dsn, d.stmt)
			r := n.run(t, "audit", "verify")
			if r.code != ExitCritical || !strings.Contains(r.stdout, "append-only trigger "+d.trigger+" is missing") ||
				!strings.Contains(r.stdout, "the chain itself verified (2 events") {
				t.Errorf("verify: exit %d\n%s", r.code, r.stdout)
			}
			if strings.Count(r.stdout, "append-only trigger ") != 1 {
				t.Errorf("only %s was dropped:\n%s", d.trigger, r.stdout)
			}
			r = n.run(t, "audit", "verify", "-o", "json")
			if r.code != ExitCritical || !strings.Contains(r.stdout, `"trigger": "`+d.trigger+`"`) || !strings.Contains(r.stdout, `"ok": false`) {
				t.Errorf("verify -o json: exit %d\n%s", r.code, r.stdout)
			}
			if r := n.run(t, "audit", "checkpoint"); r.code != ExitCritical || strings.HasPrefix(r.stdout, "2:") || !strings.Contains(r.stdout, "no checkpoint printed") {
				t.Errorf("checkpoint of a store without its triggers: exit %d\n%s", r.code, r.stdout)
			}
			restoreTriggers(t, dsn, backend)
			n.mustRun(t, "audit", "verify")
		})
	}
}
