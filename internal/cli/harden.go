package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/hardening"
	"github.com/spf13/cobra"
)

func init() {
	register(90, func(env *Env) *cobra.Command {
		var keyMode, output string
		var dry bool
		c := &cobra.Command{
			Use:   "harden [DIR...]",
			Short: "Tighten key and directory modes: keys 0600, CA keys 0400, directories 0700 (audited)",
			Long: `Walk /etc/kubernetes/pki (or the node directories given, under --root) and
tighten modes as compliance asks: private keys 0600 (0400 with --key-mode
0400), CA private keys 0400 (ca.key, etcd/ca.key, front-proxy-ca.key,
*ca-key.pem), directories 0700. A private key is any file that parses as one,
whatever its name; encrypted keys count. Modes are only tightened, never
loosened; certificates and public keys are left alone; symbolic links are not
followed. Each change is an audit event (HARDEN). 'certrescue check' reports
the key_permissions finding that harden fixes.`,
			RunE: func(cmd *cobra.Command, args []string) error {
				if output != "table" && output != "json" {
					return usagef("-o %q: use table or json", output)
				}
				km, err := strconv.ParseUint(keyMode, 8, 32)
				if err != nil || (km != 0o600 && km != 0o400) {
					return usagef("--key-mode %q: use 0600 or 0400", keyMode)
				}
				dirs := args
				if len(dirs) == 0 {
					dirs = hardening.DefaultDirs
				}
				node := env.FS()
				var real []string
				for _, d := range dirs {
					p := node.Clean(d)
					fi, err := node.Stat(p)
					switch {
					case errors.Is(err, fs.ErrNotExist) && len(args) == 0:
						fmt.Fprintf(env.Stdout, "%s: not on this node; nothing to harden\n", p)
						continue
					case err != nil:
						return usagef("harden %s: %w", d, err)
					case !fi.IsDir():
						return usagef("harden %s: not a directory", d)
					}
					real = append(real, p)
				}
				changes, skips, err := hardening.Plan(hardening.Options{FS: node, Dirs: real, KeyMode: fs.FileMode(km)})
				if err != nil {
					return err
				}
				var errs []error
				done := make([]bool, len(changes))
				if !dry {
					for i, ch := range changes {
						// Each mode change is on record before it is made (a
						// chmod is atomic by itself); a failure is recorded too.
						ev := CertEvent{Action: facts.ActionHarden, Name: filepath.Base(ch.Path), Path: ch.Path,
							Detail: fmt.Sprintf("%s mode %04o -> %04o", ch.Kind, ch.From, ch.To)}
						if err := env.record(cmd, ev); err != nil {
							errs = append(errs, err)
							break
						}
						err := hardening.Apply(node, ch)
						done[i] = err == nil
						if err != nil {
							errs = append(errs, err)
							ev.Err = err
							if err := env.record(cmd, ev); err != nil {
								errs = append(errs, err)
							}
						}
					}
				}
				if err := printHarden(env, output, changes, done, skips, dry); err != nil {
					return err
				}
				return errors.Join(errs...)
			},
		}
		c.Flags().StringVar(&keyMode, "key-mode", "0600", "mode of private keys that are not CA keys: 0600 or 0400")
		c.Flags().BoolVar(&dry, "dry-run", false, "show what would change and change nothing")
		c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
		return audited(withHelp(c, `  certrescue harden --dry-run
  certrescue harden
  certrescue harden --key-mode 0400 /etc/kubernetes/pki /var/lib/kubelet/pki
  certrescue --root /mnt/node harden`, `  0  modes are as strict as asked (changed, or already so)
  1  a change failed, or the audit log could not be written (the message says which)
  3  usage error: bad --key-mode, a directory that does not exist`))
	})
}

func printHarden(env *Env, output string, changes []hardening.Change, done []bool, skips []hardening.Skip, dry bool) error {
	if output == "json" {
		type row struct {
			Path    string `json:"path"`
			Kind    string `json:"kind"`
			From    string `json:"from"`
			To      string `json:"to"`
			Changed bool   `json:"changed"`
		}
		out := struct {
			DryRun  bool             `json:"dry_run"`
			Changes []row            `json:"changes"`
			Skipped []hardening.Skip `json:"skipped,omitempty"`
		}{DryRun: dry, Changes: []row{}, Skipped: skips}
		for i, c := range changes {
			out.Changes = append(out.Changes, row{c.Path, c.Kind, fmt.Sprintf("%04o", c.From), fmt.Sprintf("%04o", c.To), done[i]})
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(changes) == 0 {
		fmt.Fprintln(env.Stdout, "nothing to change: keys, CA keys and directories are already as strict as asked")
	} else {
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tKIND\tFROM\tTO\tSTATUS")
		for i, c := range changes {
			status := "changed"
			switch {
			case dry:
				status = "would change (--dry-run)"
			case !done[i]:
				status = "FAILED"
			}
			fmt.Fprintf(tw, "%s\t%s\t%04o\t%04o\t%s\n", c.Path, c.Kind, c.From, c.To, status)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, s := range skips {
		env.warnf("skipped %s: %s", s.Path, s.Reason)
	}
	return nil
}
