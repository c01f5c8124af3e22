package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/audit"
	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/spf13/cobra"
)

// A commandLine is a certrescue command the output tells the user to run next
// ("undo with", "next", "restore the previous files with"). It is built here
// and only here, so every such hint can be pasted as it is: it names the
// program as it was invoked, carries the global flags that make the next
// command act on the same node and audit store as this one (--root when not
// /, --audit-dsn, --audit-optional, --operator), the flags the caller adds,
// and quotes every word for sh.
type commandLine struct {
	words []string
}

// command starts a hint: the program, this run's global flags, then words
// (the subcommand and its arguments).
func (e *Env) command(words ...string) *commandLine {
	prog := e.Program
	if prog == "" {
		prog = "certrescue"
	}
	c := &commandLine{words: []string{prog}}
	if e.Root != "" && e.Root != "/" {
		c.words = append(c.words, "--root", e.Root)
	}
	if st := e.audit; st != nil {
		if st.dsn != "" {
			c.words = append(c.words, "--audit-dsn", printableDSN(st.dsn))
		}
		if st.optional {
			c.words = append(c.words, "--audit-optional")
		}
		if st.operator != "" {
			c.words = append(c.words, "--operator", st.operator)
		}
	}
	c.words = append(c.words, words...)
	return c
}

// programName is how hints name certrescue: as it was invoked (./certrescue,
// /opt/kit/bin/certrescue), except for the temporary binary of 'go run', which
// is gone once it exits.
func programName(argv0 string) string {
	if argv0 == "" || strings.Contains(argv0, "/go-build") {
		return "certrescue"
	}
	return argv0
}

// globalHintFlag names the global flags command adds itself.
func globalHintFlag(name string) bool {
	return slices.Contains([]string{"root", "audit-dsn", "audit-optional", "operator"}, name)
}

// args appends words as they are.
func (c *commandLine) args(words ...string) *commandLine {
	c.words = append(c.words, words...)
	return c
}

// flag appends --name value unless value is the flag's default.
func (c *commandLine) flag(name, value, def string) *commandLine {
	if value != def {
		c.words = append(c.words, name, value)
	}
	return c
}

// each appends --name value for every value (a repeatable flag).
func (c *commandLine) each(name string, values []string) *commandLine {
	for _, v := range values {
		c.words = append(c.words, name, v)
	}
	return c
}

// String is the command line, each word quoted for sh where it needs it.
func (c *commandLine) String() string {
	q := make([]string, len(c.words))
	for i, w := range c.words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// shellQuote quotes s for a POSIX shell: words made only of characters no
// shell treats specially stay as they are, anything else is single-quoted.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// printableDSN is the --audit-dsn to put in a hint: as given, unless it holds
// a password, which never goes into output; then the form with the password
// replaced by xxxxx (pasted as it is, the store refuses it loudly rather than
// the event going to another store).
func printableDSN(dsn string) string {
	t, err := audit.ParseDSN(dsn)
	if err != nil || t.Backend == audit.BackendSQLite {
		return dsn
	}
	if strings.Contains(t.Display, "xxxxx") {
		return t.Display
	}
	return dsn
}

// restoreHint restores backup id from the directory b names.
func restoreHint(env *Env, b *backupFlags, id string) string {
	return env.command("restore", id).flag("--backup-dir", b.dir, backup.DefaultDir).String()
}

// checkHint checks the node again with the same inventory files.
func checkHint(env *Env, inventories []string) string {
	return env.command("check").each("--inventory", inventories).String()
}

// printRescueHints follows a rescue's summary with what to type next: after
// files were deployed and kept, how to undo; after --restart none, how to
// check once the components are restarted.
func printRescueHints(env *Env, f *rescueFlags, rep *rescue.Report) {
	if rep == nil {
		return
	}
	switch rep.Result {
	case rescue.ResultOK, rescue.ResultManualRestart, rescue.ResultStillCritical, rescue.ResultRestartedUnverified:
	default:
		return
	}
	if rep.Result != rescue.ResultOK {
		fmt.Fprintf(env.Stdout, "then check: %s\n", checkHint(env, f.renew.inventories))
	}
	if rep.Backup != nil {
		fmt.Fprintf(env.Stdout, "undo with: %s\n", restoreHint(env, &f.backup, rep.Backup.ID))
	}
}

// mountedNode says, under --root, that a restart is the mounted node's, not
// this machine's.
func mountedNode(env *Env) string {
	if env.Root == "" || env.Root == "/" {
		return ""
	}
	return " (on the node whose disk is mounted at " + env.Root + ")"
}

// rescueAdvice adds to a rescue's error the command that gets the node out:
// restoring the backup by hand when the rollback failed, the backups to
// choose from when a credential could not even be read.
func rescueAdvice(env *Env, b *backupFlags, err error) error {
	var rb *rescue.RollbackError
	switch {
	case errors.As(err, &rb):
		return fmt.Errorf("%w\nrestore by hand with: %s", err, restoreArchiveHint(env, b, rb.Backup))
	case errors.Is(err, rescue.ErrUnreadable):
		return fmt.Errorf("%w\nthe backups to restore from: %s", err,
			env.command("backup", "list").flag("--backup-dir", b.dir, backup.DefaultDir))
	}
	return err
}

// restoreArchiveHint restores the archive at path (a path on this machine,
// as the library reports it): by its ID when it is in b's directory.
func restoreArchiveHint(env *Env, b *backupFlags, path string) string {
	if filepath.Dir(path) == filepath.Clean(b.realDir(env)) {
		if id, ok := strings.CutSuffix(filepath.Base(path), ".tar.gz"); ok {
			return restoreHint(env, b, id)
		}
	}
	return env.command("restore", path).flag("--backup-dir", b.dir, backup.DefaultDir).String()
}

// backupAdvice adds to "no such backup" the command that lists them.
func backupAdvice(env *Env, b *backupFlags, err error) error {
	if errors.Is(err, backup.ErrNoBackup) {
		return fmt.Errorf("%w\nlist them with: %s", err, env.command("backup", "list").flag("--backup-dir", b.dir, backup.DefaultDir))
	}
	return err
}

// crlHint signs a CRL of the CA revoke just used, beside its certificate
// (ca.pem -> ca.crl), with the same revocation list and CA flags.
func crlHint(env *Env, o *crlOptions) string {
	c := env.command("crl", "--ca", o.ca, "--ca-key", o.caKey).flag("--revocations", o.revocations, "")
	if o.allowExpired {
		c.args("--allow-expired-ca")
	}
	return c.args("--out", strings.TrimSuffix(o.ca, filepath.Ext(o.ca))+".crl").String()
}

// backupListHint lists the backups in the directory cmd was given (its
// --backup-dir, when it has one and it was set).
func backupListHint(env *Env, cmd *cobra.Command) string {
	c := env.command("backup", "list")
	if f := cmd.Flags().Lookup("backup-dir"); f != nil && f.Changed {
		c.args("--backup-dir", f.Value.String())
	}
	return c.String()
}
