package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// The append-only triggers are the store's guard: without them anyone with
// write access to the table can edit or delete events, and a clever edit
// (the last event, its hash recomputed) leaves no trace in the chain. Verify
// reads them from the database's catalog and reports each that is missing,
// changed or disabled.

// Guard problem kinds.
const (
	GuardMissing  = "missing"  // the trigger does not exist: it was dropped
	GuardChanged  = "changed"  // it exists but no longer refuses every change
	GuardDisabled = "disabled" // PostgreSQL: ALTER TABLE ... DISABLE TRIGGER
)

// GuardProblem is an append-only trigger that no longer protects the log.
type GuardProblem struct {
	Trigger string // cert_audit_no_delete, ...
	Kind    string // one of the Guard* kinds
	Detail  string // what exactly, for a person
}

func (g GuardProblem) Error() string {
	return fmt.Sprintf("append-only trigger %s is %s: %s", g.Trigger, g.Kind, g.Detail)
}

// trigger is one trigger on cert_audit as the catalog describes it.
type trigger struct {
	name    string
	def     string // normalised definition (SQLite: the CREATE TRIGGER; MySQL: the statement; PostgreSQL: the function body)
	hidden  bool   // MySQL: it exists, but this user may not read it (no TRIGGER privilege)
	noBody  bool   // MySQL: listed, but its statement is hidden from this user
	events  string // normalised "BEFORE UPDATE", "BEFORE UPDATE OR DELETE", ...
	enabled bool   // PostgreSQL tgenabled O or A
	wrong   string // what the catalog shows is wrong with it, beyond def and events
}

// guardSpec is a trigger the schema creates and what it must look like.
type guardSpec struct {
	name   string
	events string // as trigger.events
	def    string // as trigger.def
	what   string // what it refuses, for messages
}

// normSQL lower-cases SQL and collapses its white space, so definitions
// compare whatever the client that created them did to the layout.
func normSQL(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func (sqliteDialect) guards() []guardSpec {
	var out []guardSpec
	for _, st := range (sqliteDialect{}).schema() {
		if !strings.HasPrefix(st, "CREATE TRIGGER") {
			continue
		}
		f := strings.Fields(st)
		// CREATE TRIGGER IF NOT EXISTS NAME BEFORE OP ON ...
		name, op := f[5], f[7]
		out = append(out, guardSpec{name: name, events: "before " + strings.ToLower(op),
			def: normSQL(strings.Replace(st, "IF NOT EXISTS ", "", 1)), what: op})
	}
	return out
}

func (sqliteDialect) triggers(ctx context.Context, tx *sql.Tx) ([]trigger, error) {
	rows, err := tx.QueryContext(ctx, "SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'cert_audit'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trigger
	for rows.Next() {
		var t trigger
		if err := rows.Scan(&t.name, &t.def); err != nil {
			return nil, err
		}
		t.def, t.enabled = normSQL(t.def), true
		if f := strings.Fields(t.def); len(f) > 4 {
			t.events = f[3] + " " + f[4] // create trigger NAME before OP
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

const mysqlGuardBody = "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'cert_audit is append-only'"

func (mysqlDialect) guards() []guardSpec {
	return []guardSpec{
		{name: "cert_audit_no_update", events: "before update", def: normSQL(mysqlGuardBody), what: "UPDATE"},
		{name: "cert_audit_no_delete", events: "before delete", def: normSQL(mysqlGuardBody), what: "DELETE"},
	}
}

func (mysqlDialect) triggers(ctx context.Context, tx *sql.Tx) ([]trigger, error) {
	rows, err := tx.QueryContext(ctx, `SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT
FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'cert_audit'`)
	if err != nil {
		return nil, err
	}
	var out []trigger
	seen := map[string]bool{}
	for rows.Next() {
		var t trigger
		var timing, event string
		var stmt sql.NullString
		if err := rows.Scan(&t.name, &timing, &event, &stmt); err != nil {
			rows.Close()
			return nil, err
		}
		t.events, t.def, t.noBody, t.enabled = normSQL(timing+" "+event), normSQL(stmt.String), !stmt.Valid, true
		seen[t.name] = true
		out = append(out, t)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	// MySQL lists only the triggers this user holds the TRIGGER privilege
	// for; SHOW CREATE TRIGGER tells a hidden trigger (access denied) from a
	// dropped one (ER_TRG_DOES_NOT_EXIST).
	for _, g := range (mysqlDialect{}).guards() {
		if seen[g.name] {
			continue
		}
		r, err := tx.QueryContext(ctx, "SHOW CREATE TRIGGER "+g.name)
		var me *mysql.MySQLError
		switch {
		case err == nil:
			r.Close()
			out = append(out, trigger{name: g.name, hidden: true, enabled: true})
		case errors.As(err, &me) && me.Number == 1360:
			// ER_TRG_DOES_NOT_EXIST: dropped.
		case errors.As(err, &me) && (me.Number == 1227 || me.Number == 1142 || me.Number == 1044):
			out = append(out, trigger{name: g.name, hidden: true, enabled: true})
		default:
			return nil, err
		}
	}
	return out, nil
}

const pgGuardBody = "BEGIN RAISE EXCEPTION 'cert_audit is append-only'; END"

func (postgresDialect) guards() []guardSpec {
	return []guardSpec{
		{name: "cert_audit_no_change", events: "before update or delete for each row", def: normSQL(pgGuardBody), what: "UPDATE and DELETE"},
		{name: "cert_audit_no_truncate", events: "before truncate for each statement", def: normSQL(pgGuardBody), what: "TRUNCATE"},
	}
}

// PostgreSQL's pg_trigger.tgtype bits.
const (
	pgTrigRow      = 1 << 0
	pgTrigBefore   = 1 << 1
	pgTrigInsert   = 1 << 2
	pgTrigDelete   = 1 << 3
	pgTrigUpdate   = 1 << 4
	pgTrigTruncate = 1 << 5
	pgTrigInstead  = 1 << 6
)

func (postgresDialect) triggers(ctx context.Context, tx *sql.Tx) ([]trigger, error) {
	rows, err := tx.QueryContext(ctx, `SELECT t.tgname, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL,
  COALESCE(array_length(t.tgattr::int2[], 1), 0), p.proname, COALESCE(p.prosrc, '')
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = to_regclass('cert_audit') AND NOT t.tgisinternal`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trigger
	for rows.Next() {
		var t trigger
		var tgtype int64
		var enabled, fn string
		var when bool
		var cols int
		if err := rows.Scan(&t.name, &tgtype, &enabled, &when, &cols, &fn, &t.def); err != nil {
			return nil, err
		}
		t.def, t.enabled, t.events = normSQL(t.def), enabled == "O" || enabled == "A", pgEvents(tgtype)
		switch {
		case when:
			t.wrong = "it has a WHEN condition, so it refuses only some changes"
		case cols > 0:
			t.wrong = "it fires only on UPDATE OF some columns"
		case fn != "cert_audit_append_only":
			t.wrong = fmt.Sprintf("it runs function %s, not cert_audit_append_only", fn)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func pgEvents(tgtype int64) string {
	timing := "after"
	switch {
	case tgtype&pgTrigInstead != 0:
		timing = "instead of"
	case tgtype&pgTrigBefore != 0:
		timing = "before"
	}
	var ops []string
	for _, o := range []struct {
		bit  int64
		name string
	}{{pgTrigInsert, "insert"}, {pgTrigUpdate, "update"}, {pgTrigDelete, "delete"}, {pgTrigTruncate, "truncate"}} {
		if tgtype&o.bit != 0 {
			ops = append(ops, o.name)
		}
	}
	level := "for each statement"
	if tgtype&pgTrigRow != 0 {
		level = "for each row"
	}
	return timing + " " + strings.Join(ops, " or ") + " " + level
}

// CheckGuards reads the append-only triggers from the catalog and returns
// each that no longer protects the log, and notes on what could not be
// checked (a MySQL user without the TRIGGER privilege sees that a trigger
// exists, not what it does). It writes nothing.
func (s *Store) CheckGuards(ctx context.Context) ([]GuardProblem, []string, error) {
	var have []trigger
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		have, err = s.d.triggers(ctx, tx)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("audit store %s: read the append-only triggers: %w", s.target.Display, err)
	}
	byName := map[string]trigger{}
	for _, t := range have {
		byName[t.name] = t
	}
	var probs []GuardProblem
	var notes []string
	for _, g := range s.d.guards() {
		t, ok := byName[g.name]
		add := func(kind, format string, a ...any) {
			probs = append(probs, GuardProblem{Trigger: g.name, Kind: kind, Detail: fmt.Sprintf(format, a...)})
		}
		switch {
		case !ok:
			add(GuardMissing, "it was dropped, so the store no longer refuses %s on cert_audit: anyone with write access can change the log unseen (an edit of the newest event with its hash recomputed leaves no trace in the chain)", g.what)
		case t.hidden:
			notes = append(notes, fmt.Sprintf("trigger %s exists, but this database user may not read its definition (no TRIGGER privilege): run 'audit verify' as the schema owner to check what it does", g.name))
		case !t.enabled:
			add(GuardDisabled, "it exists but is disabled (ALTER TABLE cert_audit DISABLE TRIGGER), so %s on cert_audit is no longer refused; re-enable it (ALTER TABLE cert_audit ENABLE TRIGGER %s) after finding out who disabled it", g.what, g.name)
		case t.events != g.events:
			add(GuardChanged, "it fires %q, not %q: %s on cert_audit is no longer refused", t.events, g.events, g.what)
		case t.wrong != "":
			add(GuardChanged, "%s: %s on cert_audit is not always refused", t.wrong, g.what)
		case t.noBody:
			if t.def == "" {
				notes = append(notes, fmt.Sprintf("trigger %s exists, but this database user may not read its statement (no TRIGGER privilege): run 'audit verify' as the schema owner to check what it does", g.name))
			}
		case !guardBodyOK(t.def, g.def):
			add(GuardChanged, "its definition is not the schema's (%.120q): it may no longer refuse %s on cert_audit", t.def, g.what)
		}
	}
	return probs, notes, nil
}

// guardBodyOK accepts a definition equal to the schema's, or (MySQL, whose
// clients may keep a DBA's own message) an unconditional SIGNAL.
func guardBodyOK(have, want string) bool {
	if have == want {
		return true
	}
	return strings.HasPrefix(want, "signal sqlstate '45000'") && strings.HasPrefix(have, "signal sqlstate '45000'")
}
