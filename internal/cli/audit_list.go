package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/audit"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/spf13/cobra"
)

// auditFilter holds the filter flags of audit list and export.
type auditFilter struct {
	cert, action, operator, since, until string
}

func (f *auditFilter) add(c *cobra.Command) {
	c.Flags().StringVar(&f.cert, "cert", "", "only events of this certificate name (apiserver, ca, ...)")
	c.Flags().StringVar(&f.action, "action", "", "only this action: CREATE, RENEW, REVOKE, BACKUP, RESTORE, DEPLOY, RESTART, ROLLBACK, HARDEN, APPROVE, DENY")
	c.Flags().StringVar(&f.operator, "operator", "", "only events by this operator")
	c.Flags().StringVar(&f.since, "since", "", "only events at or after: RFC 3339 time, a date (2026-01-31) or an age (24h, 30d)")
	c.Flags().StringVar(&f.until, "until", "", "only events before: RFC 3339 time, a date or an age")
}

func (f *auditFilter) filter(env *Env) (audit.Filter, error) {
	out := audit.Filter{CertName: f.cert, Operator: f.operator}
	if f.action != "" {
		a := facts.Action(strings.ToUpper(f.action))
		switch a {
		case facts.ActionCreate, facts.ActionRenew, facts.ActionRevoke, facts.ActionBackup, facts.ActionRestore,
			facts.ActionDeploy, facts.ActionRestart, facts.ActionRollback, facts.ActionHarden, facts.ActionApprove, facts.ActionDeny:
			out.Action = a
		default:
			return out, usagef("--action %q: use CREATE, RENEW, REVOKE, BACKUP, RESTORE, DEPLOY, RESTART, ROLLBACK, HARDEN, APPROVE or DENY", f.action)
		}
	}
	var err error
	if out.Since, err = parseWhen(f.since, env.Clock.Now()); err != nil {
		return out, usagef("--since: %w", err)
	}
	if out.Until, err = parseWhen(f.until, env.Clock.Now()); err != nil {
		return out, usagef("--until: %w", err)
	}
	return out, nil
}

// parseWhen reads an RFC 3339 time, a date, or an age before now (90m, 24h, 30d).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 && n < 100000 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: use an RFC 3339 time (2026-01-31T08:00:00Z), a date (2026-01-31) or an age (24h, 30d)", s)
}

func newAuditListCmd(env *Env) *cobra.Command {
	var f auditFilter
	var output string
	var limit int
	c := &cobra.Command{
		Use:   "list",
		Short: "List audit events (the newest 100 unless --limit), oldest first",
		Args:  exactArgs(0, "no arguments (filter with --cert, --action, --operator, --since)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := f.filter(env)
			if err != nil {
				return err
			}
			if limit < 0 {
				return usagef("--limit %d: use 0 (all) or more", limit)
			}
			flt.Limit, flt.Last = limit, true
			if output == "table" {
				return listTable(cmd, env, flt)
			}
			return exportEvents(cmd, env, flt, output, env.Stdout)
		},
	}
	f.add(c)
	c.Flags().IntVar(&limit, "limit", 100, "show the newest N matching events (0: all)")
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json, jsonl or csv")
	return withHelp(c, `  certrescue audit list
  certrescue audit list --cert apiserver --action RENEW
  certrescue audit list --since 30d --operator alice -o json
  certrescue audit list --limit 0 -o csv > audit.csv`, `  0  listed (also when nothing matched)
  1  the log could not be read
  3  usage error`)
}

func listTable(cmd *cobra.Command, env *Env, flt audit.Filter) error {
	s, err := openAuditForRead(cmd.Context(), env)
	if err != nil {
		return err
	}
	defer s.Close()
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tACTION\tCERTIFICATE\tSERIAL\tEXPIRES\tOPERATOR\tHOST\tRESULT")
	n := 0
	err = s.Events(cmd.Context(), flt, func(e audit.Event) error {
		n++
		result := string(e.Result)
		if e.Error != "" {
			result += ": " + oneLine(e.Error, 60)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Action,
			dash(e.CertName), dash(oneLine(e.Serial, 20)), dash(dateOf(e.NotAfter)), dash(e.Operator), dash(e.Host), result)
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(env.Stdout, "no matching events in %s\n", s.Target().Display)
		return nil
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02")
}

// oneLine keeps table cells on one line and short.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func newAuditShowCmd(env *Env) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show every field of one audit event",
		Args:  exactArgs(1, "one event ID (see 'certrescue audit list')"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return usagef("event ID %q: a positive number, as 'certrescue audit list' prints", args[0])
			}
			if output != "text" && output != "json" {
				return usagef("-o %q: use text or json", output)
			}
			s, err := openAuditForRead(cmd.Context(), env)
			if err != nil {
				return err
			}
			defer s.Close()
			e, err := s.Event(cmd.Context(), id)
			if errors.Is(err, audit.ErrNotFound) {
				return usagef("no event %d in %s", id, s.Target().Display)
			}
			if err != nil {
				return err
			}
			if output == "json" {
				enc, err := audit.NewEncoder(env.Stdout, audit.FormatJSONLines)
				if err != nil {
					return err
				}
				if err := enc.Encode(e); err != nil {
					return err
				}
				return enc.Close()
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			for i, v := range e.Fields() {
				fmt.Fprintf(tw, "%s:\t%s\n", audit.Columns[i], v)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return withHelp(c, `  certrescue audit show 42
  certrescue audit show 42 -o json`, `  0  shown
  1  the log could not be read
  3  no such event, or usage error`)
}

func newAuditExportCmd(env *Env) *cobra.Command {
	var f auditFilter
	var output, out string
	c := &cobra.Command{
		Use:   "export",
		Short: "Export audit events (all, or filtered) as JSON, JSON lines, CSV or raw records",
		Long: `Export events oldest first. JSON and JSON lines carry each event's record exactly
as hashed, with its hash added as a last key: delete ,"hash":"…" and sha256sum
gives the hash back, so an auditor can re-check an export without certrescue.
'-o records' writes the stored records alone, one per line.`,
		Args: exactArgs(0, "no arguments (filter with --cert, --action, --operator, --since)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := f.filter(env)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				return exportEvents(cmd, env, flt, output, env.Stdout)
			}
			return writeExport(out, func(w io.Writer) error { return exportEvents(cmd, env, flt, output, w) })
		},
	}
	f.add(c)
	c.Flags().StringVarP(&output, "output", "o", "json", "format: json, jsonl, csv or records")
	c.Flags().StringVar(&out, "out", "", "write to this file (0600, atomically) instead of stdout")
	return withHelp(c, `  certrescue audit export > audit.json
  certrescue audit export -o csv --since 2026-01-01 --out audit-2026.csv
  certrescue audit export -o jsonl --cert apiserver`, `  0  exported
  1  the log could not be read, or the file not written
  3  usage error`)
}

func exportEvents(cmd *cobra.Command, env *Env, flt audit.Filter, format string, w io.Writer) error {
	enc, err := audit.NewEncoder(w, format)
	if err != nil {
		return usageError(err)
	}
	s, err := openAuditForRead(cmd.Context(), env)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Events(cmd.Context(), flt, enc.Encode); err != nil {
		return err
	}
	return enc.Close()
}

// writeExport writes an export atomically with the one atomic writer.
// Exports name hosts and operators, so they are 0600.
func writeExport(out string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	return atomicfile.Write(out, buf.Bytes(), atomicfile.KeyMode, true)
}
