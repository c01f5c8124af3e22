package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certrescue/certrescue/internal/audit"
	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/spf13/cobra"
)

// backupFlags are the flags of every command that makes or reads backups.
type backupFlags struct {
	dir   string
	paths []string
}

func (b *backupFlags) addDir(c *cobra.Command) {
	c.Flags().StringVar(&b.dir, "backup-dir", backup.DefaultDir, "directory of the backups (a node path, under --root; created 0700)")
}

func (b *backupFlags) addPaths(c *cobra.Command) {
	c.Flags().StringSliceVar(&b.paths, "path", nil, "node path or glob to back up, repeatable (default: /etc/kubernetes/pki, /etc/kubernetes/*.conf, /etc/kubernetes/manifests, /var/lib/kubelet/pki; rescue and renew always add every file they replace or rely on)")
}

func (b *backupFlags) realDir(env *Env) string { return env.NodePath(b.dir) }

// takeBackup runs create (which snapshots the node) and records the event.
func takeBackup(cmd *cobra.Command, env *Env, b *backupFlags, create func() (*backup.Info, error)) (*backup.Info, error) {
	info, err := create()
	if err != nil {
		recErr := env.record(cmd, CertEvent{Action: facts.ActionBackup, Path: b.realDir(env), Err: err})
		return nil, errors.Join(err, recErr)
	}
	return info, env.record(cmd, CertEvent{Action: facts.ActionBackup, Name: info.ID, Path: info.Path})
}

// nodeBackup is what `certrescue backup` holds without --path: the default
// paths and every credential check finds on the node, whatever its layout
// (certificates, keys and kubeconfigs in /etc/kubernetes/ssl named by systemd
// units, k3s's, an inventory file's).
func nodeBackup(cmd *cobra.Command, env *Env, b *backupFlags) func() (*backup.Info, error) {
	return func() (*backup.Info, error) {
		o := backup.Options{Root: env.Root, Paths: b.paths, Dir: b.realDir(env), Now: env.Clock.Now()}
		if len(b.paths) == 0 {
			items, err := rescue.DefaultScanner(env.Root)(cmd.Context())
			if err != nil {
				return nil, err
			}
			o.Paths, o.Files = backup.DefaultPaths, backup.PathsOf(env.Root, items)
		}
		return backup.Create(o)
	}
}

func init() {
	register(60, func(env *Env) *cobra.Command {
		var b backupFlags
		c := &cobra.Command{
			Use:   "backup",
			Short: "Snapshot the node's certificates, keys, kubeconfigs and manifests",
			Long: `Snapshot /etc/kubernetes/pki, /etc/kubernetes/*.conf, /etc/kubernetes/manifests,
/var/lib/kubelet/pki and every certificate, key and kubeconfig check finds on the
node, whatever its layout (cfssl files in /etc/kubernetes/ssl named by systemd
units, k3s/RKE2), or only the --path given, into one compressed archive with a
manifest of every entry (path, mode, owner, sha256, symlink target). Archives are
0600 in a 0700 directory, verified right after writing. If the disk fills up the
partial archive is removed and nothing else is touched.`,
			Args: exactArgs(0, "no arguments (use --path to choose what to back up)"),
			RunE: func(cmd *cobra.Command, _ []string) error {
				info, err := takeBackup(cmd, env, &b, nodeBackup(cmd, env, &b))
				if err != nil {
					return err
				}
				m := info.Manifest
				fmt.Fprintf(env.Stdout, "backup %s: %d files, %d entries, %d bytes\n  %s\n", info.ID, m.Files(), len(m.Entries), info.Size, info.Path)
				for _, p := range m.Missing {
					fmt.Fprintf(env.Stdout, "  not on this node: %s\n", p)
				}
				for _, p := range m.Skipped {
					env.warnf("left out %s (a socket, device or FIFO, or certrescue's own state, which a restore never writes)", p)
				}
				return nil
			},
		}
		b.addDir(c)
		b.addPaths(c)
		c.AddCommand(newBackupListCmd(env), newBackupVerifyCmd(env))
		return audited(withHelp(c, `  certrescue backup
  certrescue backup --path /etc/kubernetes/pki --backup-dir /root/pki-backups
  certrescue --root /mnt/node backup
  certrescue backup list
  certrescue backup verify latest`, `  0  the backup was written and verified
  1  it failed (disk full, unreadable file); no archive is left behind
  3  usage error`))
	})
}

func newBackupListCmd(env *Env) *cobra.Command {
	var b backupFlags
	var output string
	c := &cobra.Command{
		Use:   "list",
		Short: "List backups, oldest first",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, err := backup.List(b.realDir(env))
			if err != nil {
				return err
			}
			type row struct {
				ID      string    `json:"id"`
				Path    string    `json:"path"`
				Created time.Time `json:"created"`
				Files   int       `json:"files"`
				Size    int64     `json:"size"`
				Error   string    `json:"error,omitempty"`
			}
			rows := make([]row, 0, len(all))
			for _, l := range all {
				r := row{ID: l.ID, Path: l.Path, Size: l.Size}
				if l.Err != nil {
					r.Error = l.Err.Error()
				} else {
					r.Created, r.Files = l.Manifest.Created, l.Manifest.Files()
				}
				rows = append(rows, r)
			}
			switch output {
			case "json":
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			case "table", "":
			default:
				return usagef("-o %q: use table or json", output)
			}
			if len(rows) == 0 {
				fmt.Fprintf(env.Stdout, "no backups in %s\n", b.realDir(env))
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tFILES\tSIZE\tSTATUS")
			for _, r := range rows {
				status := "ok (manifest read; 'backup verify' checks every file)"
				if r.Error != "" {
					fmt.Fprintf(tw, "%s\t-\t-\t%d\tDAMAGED: %s\n", r.ID, r.Size, r.Error)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", r.ID, r.Created.Format(time.RFC3339), r.Files, r.Size, status)
			}
			return tw.Flush()
		},
	}
	b.addDir(c)
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return withHelp(c, `  certrescue backup list
  certrescue backup list -o json
  certrescue backup list --backup-dir /root/pki-backups`, exitCodesSimple)
}

func newBackupVerifyCmd(env *Env) *cobra.Command {
	var b backupFlags
	c := &cobra.Command{
		Use:   "verify ID|FILE|latest",
		Short: "Check every file of a backup against its manifest",
		Args:  exactArgs(1, "one backup: its ID, its file, or latest"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := backup.Resolve(b.realDir(env), args[0])
			if err != nil {
				return usageError(backupAdvice(env, &b, err))
			}
			info, err := backup.Verify(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "backup %s: OK, %d entries, every checksum matches\n", info.ID, len(info.Manifest.Entries))
			return nil
		},
	}
	b.addDir(c)
	return withHelp(c, `  certrescue backup verify latest
  certrescue backup verify certrescue-backup-20260102T030405Z
  certrescue backup verify /media/usb/certrescue-backup-20260102T030405Z.tar.gz`, `  0  the backup is intact
  1  it is damaged, altered or unsafe (the message names the entry)
  3  usage error (no such backup)`)
}

// restoreFlags are restore's own flags.
type restoreFlags struct {
	only          []string
	allow         []string
	allowManifest bool
	inventories   []string
	dirs          []string
}

func init() {
	register(61, func(env *Env) *cobra.Command {
		var b backupFlags
		var f restoreFlags
		c := &cobra.Command{
			Use:   "restore ID|FILE|latest",
			Short: "Put a backup back: verified first, only the node's credentials, modes, owners and symlinks restored",
			Long: `Restore a backup made by 'certrescue backup' (or by rescue or renew) under --root.
Every checksum is verified before anything is written. A restore writes only what
backups are made of: the node's credentials, as 'certrescue backup' finds them now
(` + strings.Join(backup.DefaultPaths, ", ") + `, and every certificate,
key and kubeconfig check finds on the node, whatever its layout; --inventory and --dir
add what they name, as for renew). Any other path the archive lists is refused,
naming each one, before anything is written; restore one anyway only after reading
the list, with --allow-path PATH (repeatable) or --allow-manifest-paths (every path
the archive lists; the output names each one restored so).
Never restored, whatever the flags: certrescue's own state (` + backup.StateDir + `:
the audit store, journals, locks, backups), database files (SQLite: a live one would
be corrupted; restore one with its own tools, its program stopped), and symlinks a
later renew would follow elsewhere (outside the credentials, from one credential to
another's file, or into their own directory).
What the restore is about to overwrite is backed up first, into an undo archive
(certrescue-undo-...) named in the output, so a restore can be undone; 'latest'
never picks an undo archive. Entries that would land outside the root (absolute
paths, "..", a symlink followed by a file through it), hard links, devices, FIFOs
and setuid bits are refused. The files are written as one transaction journaled in
` + backup.TxnDir + `: each staged beside its target, made durable, recorded in
the audit log, then renamed into place; a restore killed part-way is finished by the
next one. Symlinks, owners and modes follow. Files that already match are left
alone. Restart the components afterwards (certrescue rescue does this for you when
a rescue fails).`,
			Args: exactArgs(1, "one backup: its ID, its file, or latest"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runRestore(cmd, env, &b, &f, args[0])
			},
		}
		b.addDir(c)
		fl := c.Flags()
		fl.StringSliceVar(&f.only, "only", nil, "restore only these node paths (repeatable)")
		fl.StringArrayVar(&f.allow, "allow-path", nil, "also restore this node path the archive lists though it is not a credential of this node: a file, or a directory and everything below (repeatable)")
		fl.BoolVar(&f.allowManifest, "allow-manifest-paths", false, "also restore every path the archive lists (each one restored so is named in the output)")
		fl.StringArrayVar(&f.inventories, "inventory", nil, "inventory file (check's YAML) naming more credentials of this node (repeatable; an absolute path is read under --root)")
		fl.StringArrayVar(&f.dirs, "dir", nil, "directory whose *.crt, *.pem, *.cer, *.key files are credentials of this node too (repeatable; node path under --root)")
		return audited(withHelp(c, `  certrescue restore latest
  certrescue restore certrescue-backup-20260102T030405Z --only /etc/kubernetes/admin.conf
  certrescue restore latest --inventory /etc/certrescue/inventory.yaml
  certrescue restore latest --allow-path /opt/registry/tls.crt --allow-path /opt/registry/tls.key
  certrescue --root /mnt/node restore /media/usb/certrescue-backup-20260102T030405Z.tar.gz`, `  0  restored (the undo archive named in the output holds what it overwrote)
  1  refused (a path that is not a credential of this node, certrescue's own state, a
     database, an unsafe symlink, a damaged or unsafe archive, or the undo archive could
     not be written: nothing was written; the message names each entry) or failed
     part-way (rerun it: the next run finishes the transaction)
  3  usage error (no such backup, a relative --allow-path)`))
	})
}

func runRestore(cmd *cobra.Command, env *Env, b *backupFlags, f *restoreFlags, which string) error {
	p, err := backup.Resolve(b.realDir(env), which)
	if err != nil {
		return usageError(backupAdvice(env, b, err))
	}
	for _, a := range f.allow {
		if !path.IsAbs(a) {
			return usagef("--allow-path %q: give an absolute node path as the archive lists it (see 'certrescue backup verify')", a)
		}
	}
	items, err := scanNode(cmd.Context(), env, inventory.NewReader(env.Root), nodeOptions(true, f.inventories, f.dirs))
	if err != nil {
		return err
	}
	creds := backup.CredentialsOf(env.Root, items)
	creds.Allow(f.allow...)
	var intent bool
	res, err := backup.Restore(p, backup.RestoreOptions{Root: env.Root, Only: f.only,
		Credentials: creds, AllowManifest: f.allowManifest, Protect: protectedPaths(env, b),
		Undo: &backup.UndoOptions{Dir: b.realDir(env), Now: env.Clock.Now()},
		Now:  env.Clock.Now(), Context: cmd.Context(),
		BeforeCommit: func(undo *backup.Info, changes []string) error {
			intent = true
			return env.recordAll(cmd, restoreEvents(p, undo, changes))
		}})
	if res != nil {
		printRecovered(env, res.Recovered)
	}
	if err != nil {
		if res != nil && res.Undo != nil && !intent {
			err = errors.Join(err, env.record(cmd, CertEvent{Action: facts.ActionBackup, Name: res.Undo.ID, Path: res.Undo.Path}))
		}
		err = errors.Join(err, env.record(cmd, CertEvent{Action: facts.ActionRestore, Path: p, Err: err}))
		return restoreAdvice(cmd, env, which, err)
	}
	fmt.Fprintf(env.Stdout, "restored %s: %d written, %d already identical\n", res.Info.ID, len(res.Written), len(res.Unchanged))
	for _, w := range res.Written {
		fmt.Fprintf(env.Stdout, "  %s\n", w)
	}
	if len(res.Allowed) > 0 {
		fmt.Fprintf(env.Stdout, "Restored though not credentials of this node (--allow-path, --allow-manifest-paths): %d entries\n", len(res.Allowed))
		for _, a := range res.Allowed {
			fmt.Fprintf(env.Stdout, "  %s\n", a)
		}
	}
	if res.Undo != nil {
		fmt.Fprintf(env.Stdout, "Backup of what this restore overwrote: %s (%d files; undo with: %s)\n",
			res.Undo.ID, res.Undo.Manifest.Files(), restoreCommand(cmd, env, res.Undo.ID))
	} else {
		fmt.Fprintln(env.Stdout, "Nothing on the node differed from the backup: no undo archive was needed")
	}
	return nil
}

// restoreEvents are the audit events of a restore about to change files:
// its undo archive, then each path, recorded before the first one changes.
func restoreEvents(archive string, undo *backup.Info, changes []string) []CertEvent {
	var evs []CertEvent
	if undo != nil {
		evs = append(evs, CertEvent{Action: facts.ActionBackup, Name: undo.ID, Path: undo.Path})
	}
	id := strings.TrimSuffix(filepath.Base(archive), ".tar.gz")
	for _, c := range changes {
		evs = append(evs, CertEvent{Action: facts.ActionRestore, Name: id, Path: c})
	}
	return evs
}

// protectedPaths are the node paths a restore never writes besides
// certrescue's state directory: the backups directory and the SQLite audit
// store (with its side files) wherever they are under --root.
func protectedPaths(env *Env, b *backupFlags) []string {
	var out []string
	if path.IsAbs(b.dir) {
		out = append(out, path.Clean(b.dir))
	}
	t, err := audit.ParseDSN(env.auditor().auditDSN(env))
	if err != nil || t.Backend != audit.BackendSQLite {
		return out
	}
	abs, err := filepath.Abs(t.Path)
	if err != nil {
		return out
	}
	rel, err := filepath.Rel(env.FS().Root(), abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return out
	}
	db := path.Clean("/" + filepath.ToSlash(rel))
	return append(out, db, db+"-wal", db+"-shm", db+"-journal")
}

// printRecovered says what the restore finished or abandoned of earlier runs.
func printRecovered(env *Env, recovered []nodefs.Recovered) {
	for _, r := range recovered {
		switch {
		case r.Err != nil:
			env.warnf("an interrupted change could not be finished (%s): %v; its journal %s is kept", r.ID, r.Err, r.Journal)
		case r.Outcome == nodefs.TxnFinished:
			fmt.Fprintf(env.Stdout, "Finished an interrupted change first: %s (%s, started %s): %d files replaced\n", r.ID, r.Command, r.Started.Format(time.RFC3339), len(r.Files))
		default:
			fmt.Fprintf(env.Stdout, "Abandoned an interrupted change first: %s (%s, started %s) had changed nothing\n", r.ID, r.Command, r.Started.Format(time.RFC3339))
		}
	}
}

// restoreAdvice adds to a refusal what the operator can do: the command
// that confirms the paths only they can vouch for.
func restoreAdvice(cmd *cobra.Command, env *Env, which string, err error) error {
	var re *backup.RefusedError
	if !errors.As(err, &re) {
		return err
	}
	var advice []string
	if allow := re.Confirmable(); len(allow) > 0 {
		var extra []string
		for _, a := range allow {
			extra = append(extra, "--allow-path", a)
		}
		advice = append(advice, fmt.Sprintf("Check what the archive holds ('certrescue backup verify %s') and the paths above. If they are this node's credentials, pass --inventory or --dir naming them, or confirm them with:\n  %s",
			shellQuote(which), restoreCommand(cmd, env, which, extra...)))
	}
	for _, r := range re.Refusals {
		if r.Target != "" {
			advice = append(advice, fmt.Sprintf("The symlink %s leads outside this node's credentials, to %s: it is restored only when that target is confirmed with --allow-path, which is right only if %s holds this node's credentials.", r.Path, r.Target, r.Target))
		}
	}
	if slices.ContainsFunc(re.Refusals, func(r backup.Refusal) bool { return r.Allow == "" && r.Target == "" }) {
		advice = append(advice, "The other refusals cannot be overridden: restore the remaining paths with --only, or fix the node as each line says.")
	}
	return fmt.Errorf("%w\n%s", err, strings.Join(advice, "\n"))
}

// restoreCommand is a restore of archive id to paste: the undo archive of a
// restore, or the same archive with extra flags. It carries the global
// flags, --backup-dir and the flags that said what is a credential
// (--inventory, --dir, --allow-path, --allow-manifest-paths) as this run had
// them.
func restoreCommand(cmd *cobra.Command, env *Env, id string, extra ...string) string {
	c := env.command("restore", id)
	if f := cmd.Flags().Lookup("backup-dir"); f != nil {
		c.flag("--backup-dir", f.Value.String(), backup.DefaultDir)
	}
	for _, name := range []string{"inventory", "dir", "allow-path"} {
		if vals, err := cmd.Flags().GetStringArray(name); err == nil {
			c.each("--"+name, vals)
		}
	}
	if on, err := cmd.Flags().GetBool("allow-manifest-paths"); err == nil && on {
		c.args("--allow-manifest-paths")
	}
	return c.args(extra...).String()
}
