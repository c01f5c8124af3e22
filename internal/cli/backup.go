package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/facts"
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
					env.warnf("skipped special file %s", p)
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

func init() {
	register(61, func(env *Env) *cobra.Command {
		var b backupFlags
		var only []string
		c := &cobra.Command{
			Use:   "restore ID|FILE|latest",
			Short: "Put a backup back: verified first, modes, owners and symlinks restored",
			Long: `Restore a backup made by 'certrescue backup' (or by rescue) under --root.
Every checksum is verified before anything is written. What the restore is about
to overwrite is backed up first, into an undo archive (certrescue-undo-...) named
in the output, so a restore can be undone; 'latest' never picks an undo archive. Entries that would land
outside the root (absolute paths, "..", a symlink followed by a file through it),
hard links, devices, FIFOs and setuid bits are refused. Each file is written to a
temporary name, fsynced, given its mode and owner, and renamed into place.
Files that already match are left alone. Restart the components afterwards
(certrescue rescue does this for you when a rescue fails).`,
			Args: exactArgs(1, "one backup: its ID, its file, or latest"),
			RunE: func(cmd *cobra.Command, args []string) error {
				p, err := backup.Resolve(b.realDir(env), args[0])
				if err != nil {
					return usageError(backupAdvice(env, &b, err))
				}
				res, err := backup.Restore(p, backup.RestoreOptions{Root: env.Root, Only: only,
					Undo: &backup.UndoOptions{Dir: b.realDir(env), Now: env.Clock.Now()}})
				var errs []error
				if res != nil && res.Undo != nil {
					errs = append(errs, env.record(cmd, CertEvent{Action: facts.ActionBackup, Name: res.Undo.ID, Path: res.Undo.Path}))
				}
				if res != nil {
					for _, w := range res.Written {
						errs = append(errs, env.record(cmd, CertEvent{Action: facts.ActionRestore, Name: res.Info.ID, Path: w}))
					}
				}
				if err != nil {
					errs = append(errs, env.record(cmd, CertEvent{Action: facts.ActionRestore, Path: p, Err: err}))
					return errors.Join(append([]error{err}, errs...)...)
				}
				fmt.Fprintf(env.Stdout, "restored %s: %d written, %d already identical\n", res.Info.ID, len(res.Written), len(res.Unchanged))
				for _, w := range res.Written {
					fmt.Fprintf(env.Stdout, "  %s\n", w)
				}
				if res.Undo != nil {
					fmt.Fprintf(env.Stdout, "Backup of what this restore overwrote: %s (%d files; undo with: %s)\n",
						res.Undo.ID, res.Undo.Manifest.Files(), restoreHint(env, &b, res.Undo.ID))
				} else {
					fmt.Fprintln(env.Stdout, "Nothing on the node differed from the backup: no undo archive was needed")
				}
				return errors.Join(errs...)
			},
		}
		b.addDir(c)
		c.Flags().StringSliceVar(&only, "only", nil, "restore only these node paths (repeatable)")
		return audited(withHelp(c, `  certrescue restore latest
  certrescue restore certrescue-backup-20260102T030405Z --only /etc/kubernetes/admin.conf
  certrescue --root /mnt/node restore /media/usb/certrescue-backup-20260102T030405Z.tar.gz`, `  0  restored (the undo archive named in the output holds what it overwrote)
  1  refused (damaged or unsafe archive, or the undo archive could not be written:
     nothing was written) or failed part-way (rerun it)
  3  usage error (no such backup)`))
	})
}
