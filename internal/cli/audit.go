package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/certrescue/certrescue/internal/audit"
	"github.com/spf13/cobra"
)

func init() {
	register(80, func(env *Env) *cobra.Command {
		c := &cobra.Command{
			Use:   "audit",
			Short: "Verify, checkpoint, list and export the tamper-evident audit log",
			Long: `Every state-changing command (ca init, gencert, sign, renew, backup, restore,
deploy, restart, rollback, revoke, harden, ...) appends an event to the audit log
before it reports success: time, operator, host, action, certificate name, path,
serial, SHA-256 fingerprint, validity, issuer, the previous fingerprint on a
renewal, result and error. Never key material.

Each event carries the hash of the one before it. 'audit verify' detects any
edit, deletion, insertion or reordering and names the first bad event;
'audit checkpoint' prints the head (COUNT:HASH) to keep elsewhere, and
'audit verify --checkpoint COUNT:HASH' also catches a truncated or rewritten log.

The log is the SQLite file ` + DefaultAuditDB + ` (under --root), or
the MySQL/MariaDB or PostgreSQL database named by --audit-dsn or
CERTRESCUE_AUDIT_DSN, so a fleet writes to one place.`,
			Args: exactArgs(0, "a subcommand: verify, checkpoint, list, show, export or schema"),
			RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		}
		c.AddCommand(newAuditVerifyCmd(env), newAuditCheckpointCmd(env), newAuditListCmd(env),
			newAuditShowCmd(env), newAuditExportCmd(env), newAuditSchemaCmd(env))
		return withHelp(c, `  certrescue audit verify
  certrescue audit checkpoint >> /mnt/usb/audit-checkpoints.txt
  certrescue audit list --cert apiserver --since 30d
  certrescue --audit-dsn postgres://audit:PASS@db.example:5432/certs audit export -o csv --out audit.csv`, exitCodesSimple)
	})
}

// openAuditForRead opens the store the audit commands read, read-only: they
// work on a read-only mount (a forensic copy of a node's disk) and never
// create a log, its directory or its schema.
func openAuditForRead(ctx context.Context, env *Env) (*audit.Store, error) {
	dsn := env.auditor().auditDSN(env)
	t, err := audit.ParseDSN(dsn)
	if err != nil {
		return nil, usageError(err)
	}
	s, err := audit.OpenReadOnly(ctx, t)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, audit.ErrNoLog) && t.Backend == audit.BackendSQLite:
		return nil, fmt.Errorf("no audit log at %s: nothing has been recorded on this node yet, or the log is elsewhere (--root, --audit-dsn): %w", t.Path, err)
	case errors.Is(err, audit.ErrNoLog):
		return nil, fmt.Errorf("%w; check --audit-dsn (or CERTRESCUE_AUDIT_DSN)", err)
	case errors.Is(err, audit.ErrWALUnreadable):
		return nil, fmt.Errorf("%w\nnothing was read: copy the log's directory with its -wal file to writable storage (cp -a) and point --audit-dsn at the copy's audit.db", err)
	}
	return nil, err
}

func newAuditVerifyCmd(env *Env) *cobra.Command {
	var checkpoint, checkpointFile, output, export string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Check the whole hash chain; name the first bad event",
		Long: `Read every event in order and check that each is intact (its record hashes to
its stored hash), in its place (ids 1, 2, 3, ... with no gap) and chained (it
names the previous event's hash). Stops at the first bad event and says where
the chain breaks: "between events 6 and 7" when event 6 was edited and its hash
recomputed (event 7 still names the old hash), or when events in between were
deleted, renumbered or reordered. It also checks that the store's append-only
triggers are in place: one dropped, changed or disabled is a finding, since
without it anyone with write access to the table can change events.

The store is opened read-only and nothing is created, so verify works on a
read-only mount of a node's disk (a forensic copy: --root /mnt/copy). A SQLite
log in a directory that cannot be written is opened immutable, or through its
audit.db-wal and audit.db-shm files when a crash left events in them.

With --checkpoint COUNT:HASH (from 'certrescue audit checkpoint', kept off the
node) it also checks that event COUNT still has HASH: that catches deleted newest
events, the newest event edited with its hash recomputed (no later event names
its hash, so only a checkpoint can tell) and a chain rewritten by someone who
recomputed every hash.

With --export FILE it checks a copy instead of the store: a whole-log export
made with 'certrescue audit export -o jsonl', so an auditor can verify what
was handed over without access to the database.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usagef("-o %q: use table or json", output)
			}
			cp, err := checkpointArg(checkpoint, checkpointFile)
			if err != nil {
				return err
			}
			if export != "" {
				return verifyExportFile(env, export, cp, output)
			}
			s, err := openAuditForRead(cmd.Context(), env)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.Verify(cmd.Context(), cp)
			if err != nil {
				return err
			}
			return printVerify(env, s.Target().Display, s.Access(), rep, cp, output)
		},
	}
	c.Flags().StringVar(&checkpoint, "checkpoint", "", "COUNT:HASH printed earlier by 'certrescue audit checkpoint'")
	c.Flags().StringVar(&checkpointFile, "checkpoint-file", "", "file whose last COUNT:HASH line is the checkpoint")
	c.Flags().StringVar(&export, "export", "", "verify this JSON-lines export (audit export -o jsonl; - for stdin) instead of the store")
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return withHelp(c, `  certrescue audit verify
  certrescue audit verify --checkpoint 1234:5f2c...e9
  certrescue --root /mnt/node-copy audit verify --checkpoint-file checkpoints.txt
  certrescue audit verify --export audit-2026.jsonl --checkpoint-file checkpoints.txt
  certrescue audit verify --checkpoint-file /mnt/usb/audit-checkpoints.txt -o json`, `  0  the log verified
  1  the log could not be read
  2  the log was tampered with: the message names the first bad event and
     where the chain breaks, or an append-only trigger was dropped, changed
     or disabled (the message names it)
  3  usage error (bad checkpoint)`)
}

// checkpointArg reads --checkpoint or the last checkpoint line of --checkpoint-file.
func checkpointArg(value, file string) (*audit.Checkpoint, error) {
	if value != "" && file != "" {
		return nil, usagef("use --checkpoint or --checkpoint-file, not both")
	}
	if file != "" {
		b, err := readCapped(file, 1<<20)
		if err != nil {
			return nil, usagef("--checkpoint-file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				value = strings.Fields(line)[0]
			}
		}
		if value == "" {
			return nil, usagef("--checkpoint-file %s: no COUNT:HASH line", file)
		}
	}
	if value == "" {
		return nil, nil
	}
	cp, err := audit.ParseCheckpoint(value)
	if err != nil {
		where := "--checkpoint"
		if file != "" {
			where = "--checkpoint-file " + file
		}
		return nil, usagef("%s: %w", where, err)
	}
	return &cp, nil
}

func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d-byte limit", path, fi.Size(), max)
	}
	return os.ReadFile(path)
}

// verifyExportFile checks a JSON-lines export file (or stdin).
func verifyExportFile(env *Env, file string, cp *audit.Checkpoint, output string) error {
	r := env.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return usagef("--export: %w", err)
		}
		defer f.Close()
		r = f
	}
	rep, err := audit.VerifyExport(r, cp)
	if err != nil {
		return fmt.Errorf("--export %s: %w", file, err)
	}
	return printVerify(env, "export "+file, "", rep, cp, output)
}

// printVerify prints verify's report; access is how the store was opened
// (audit.Store.Access), said when it is not plainly read-only.
func printVerify(env *Env, where, access string, rep audit.Report, cp *audit.Checkpoint, output string) error {
	if output == "json" {
		return printVerifyJSON(env, where, access, rep, cp)
	}
	if !rep.OK() {
		printTampered(env, where, rep)
		return silentExit(ExitCritical)
	}
	fmt.Fprintf(env.Stdout, "ok: audit log %s: %d events verified, head %s\n", where, rep.Events, rep.Head)
	if cp != nil {
		fmt.Fprintf(env.Stdout, "  checkpoint %d:%.16s… matches\n", cp.Count, cp.Hash)
	} else if rep.Events > 0 {
		fmt.Fprintf(env.Stdout, "  (without a checkpoint, deleted newest events, or the newest event edited with its hash recomputed, would go unnoticed: keep 'certrescue audit checkpoint' output off the node)\n")
	}
	for _, n := range rep.GuardNotes {
		fmt.Fprintf(env.Stdout, "  note: %s\n", n)
	}
	if access != "" && access != "read-only" {
		fmt.Fprintf(env.Stdout, "  store opened %s\n", access)
	}
	return nil
}

// printTampered reports a broken chain and append-only triggers that were
// dropped, changed or disabled.
func printTampered(env *Env, where string, rep audit.Report) {
	w := env.Stdout
	fmt.Fprintf(w, "TAMPERED: audit log %s\n", where)
	if p := rep.Problem; p != nil {
		good := "no event before it verified"
		if rep.Head.Count > 0 {
			good = fmt.Sprintf("events 1-%d verified", rep.Head.Count)
		}
		fmt.Fprintf(w, "  first bad event: %d (%s)\n  %s\n  %s\n", p.Seq, p.Kind, p.Error(), good)
	}
	for _, g := range rep.Guards {
		fmt.Fprintf(w, "  %s\n", g.Error())
	}
	if len(rep.Guards) > 0 {
		fmt.Fprintf(w, "  find out who changed the triggers and verify against a checkpoint kept off the node (--checkpoint), then recreate them with the statements 'certrescue audit schema' prints\n")
	}
	if rep.Problem == nil {
		fmt.Fprintf(w, "  the chain itself verified (%d events, head %s), but it cannot show an edit of the newest event with its hash recomputed, nor deleted newest events: verify with --checkpoint COUNT:HASH from a checkpoint kept off the node\n", rep.Events, rep.Head)
	}
	for _, n := range rep.GuardNotes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func printVerifyJSON(env *Env, where, access string, rep audit.Report, cp *audit.Checkpoint) error {
	type problem struct {
		Event  int64  `json:"event"`
		From   int64  `json:"chain_breaks_after"`
		To     int64  `json:"chain_breaks_before"`
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
	}
	type guard struct {
		Trigger string `json:"trigger"`
		Kind    string `json:"kind"`
		Detail  string `json:"detail"`
	}
	out := struct {
		Store      string   `json:"store"`
		Access     string   `json:"access,omitempty"`
		OK         bool     `json:"ok"`
		Events     int64    `json:"events_verified"`
		Head       string   `json:"head"`
		Checkpoint string   `json:"checkpoint,omitempty"`
		Problem    *problem `json:"problem,omitempty"`
		Guards     []guard  `json:"triggers,omitempty"`
		Notes      []string `json:"notes,omitempty"`
	}{Store: where, Access: access, OK: rep.OK(), Events: rep.Events, Head: rep.Head.String(), Notes: rep.GuardNotes}
	if cp != nil {
		out.Checkpoint = cp.String()
	}
	if p := rep.Problem; p != nil {
		out.Problem = &problem{p.Seq, p.From, p.To, p.Kind, p.Detail}
	}
	for _, g := range rep.Guards {
		out.Guards = append(out.Guards, guard{g.Trigger, g.Kind, g.Detail})
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if !rep.OK() {
		return silentExit(ExitCritical)
	}
	return nil
}

func newAuditCheckpointCmd(env *Env) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "checkpoint",
		Short: "Verify the log, then print its head (COUNT:HASH) to keep elsewhere",
		Long: `Verify the whole log, then print its head: the number of events and the hash of
the last one, as COUNT:HASH. Keep it off the node (a ticket, a USB stick, a log
shipper); 'certrescue audit verify --checkpoint COUNT:HASH' later proves that
none of those events was removed or rewritten. A tampered log gets no
checkpoint.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usagef("-o %q: use text or json", output)
			}
			s, err := openAuditForRead(cmd.Context(), env)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.Verify(cmd.Context(), nil)
			if err != nil {
				return err
			}
			if !rep.OK() {
				printTampered(env, s.Target().Display, rep)
				fmt.Fprintln(env.Stdout, "  no checkpoint printed: it would vouch for the log as it is now; find out what happened first")
				return silentExit(ExitCritical)
			}
			if output == "json" {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Store      string `json:"store"`
					Count      int64  `json:"count"`
					Hash       string `json:"hash"`
					Checkpoint string `json:"checkpoint"`
					At         string `json:"at"`
				}{s.Target().Display, rep.Head.Count, rep.Head.Hash, rep.Head.String(), audit.FormatTime(env.Clock.Now())})
			}
			fmt.Fprintf(env.Stdout, "%s  # %s, %s\n", rep.Head, s.Target().Display, audit.FormatTime(env.Clock.Now()))
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text (COUNT:HASH  # store, time) or json")
	return withHelp(c, `  certrescue audit checkpoint
  certrescue audit checkpoint >> /mnt/usb/audit-checkpoints.txt
  certrescue audit verify --checkpoint-file /mnt/usb/audit-checkpoints.txt`, `  0  printed
  1  the log could not be read
  2  the log was tampered with, or an append-only trigger was dropped,
     changed or disabled (no checkpoint printed)
  3  usage error`)
}

func newAuditSchemaCmd(env *Env) *cobra.Command {
	var backend string
	c := &cobra.Command{
		Use:   "schema",
		Short: "Print the SQL that creates the audit store, for a DBA",
		Long: `Print the statements that create the cert_audit table, its indexes and the
triggers that refuse UPDATE and DELETE. A DBA runs them once with a privileged
account; the nodes then need only SELECT and INSERT on cert_audit (and
certrescue creates nothing). Without --backend the backend of --audit-dsn (or
CERTRESCUE_AUDIT_DSN) is used.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if backend == "" {
				t, err := audit.ParseDSN(env.auditor().auditDSN(env))
				if err != nil {
					return usagef("--audit-dsn: %w", err)
				}
				backend = t.Backend
			}
			stmts, err := audit.SchemaSQL(backend)
			if err != nil {
				return usagef("--backend: %w", err)
			}
			fmt.Fprintf(env.Stdout, "-- certrescue audit store (%s)\n", backend)
			for _, st := range stmts {
				fmt.Fprintf(env.Stdout, "%s;\n\n", st)
			}
			switch backend {
			case audit.BackendMySQL:
				fmt.Fprintln(env.Stdout, "-- then, for each node account:\n-- GRANT SELECT, INSERT ON <db>.cert_audit TO 'node'@'%';")
			case audit.BackendPostgres:
				fmt.Fprintln(env.Stdout, "-- then, for each node role:\n-- GRANT USAGE ON SCHEMA <schema> TO node;\n-- GRANT SELECT, INSERT ON <schema>.cert_audit TO node;")
			}
			return nil
		},
	}
	c.Flags().StringVar(&backend, "backend", "", "sqlite, mysql or postgres (default: from --audit-dsn)")
	return withHelp(c, `  certrescue audit schema --backend postgres > cert_audit.sql
  psql -h db.example -U admin certs -f cert_audit.sql`, `  0  printed
  3  unknown backend`)
}
