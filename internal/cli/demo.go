package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/demo"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/spf13/cobra"
)

func init() {
	register(1, func(env *Env) *cobra.Command {
		var dir string
		c := &cobra.Command{
			Use:   "demo",
			Short: "Rescue a sandbox node whose certificates all expired (offline, no privileges, seconds)",
			Long: `Build a kubeadm control-plane node under a temporary directory, with every
leaf certificate and kubeconfig expired three days ago and admin.conf "fixed"
with the field guide's sed line (pointed at the API server's own certificate).
Then run check, rescue (--restart none: a sandbox has no processes to restart)
and check again, and show the backup, the plan and what changed.

Everything happens under the sandbox directory, which is kept so you can look
at it (certrescue --root DIR ...) and removed with rm -rf.`,
			Args: exactArgs(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd.Context(), env, dir) },
		}
		c.Flags().StringVar(&dir, "dir", "", "build the sandbox here (an empty or new directory) instead of a temporary one")
		return withHelp(c, `  certrescue demo
  go run ./cmd/certrescue demo
  certrescue demo --dir /tmp/sandbox && certrescue --root /tmp/sandbox backup list`, `  0  the sandbox was rescued
  1  something failed (the message says what)
  3  usage error (--dir is not empty)`)
	})
}

func runDemo(ctx context.Context, env *Env, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "certrescue-demo-")
		if err != nil {
			return err
		}
		dir = d
	} else if des, err := os.ReadDir(dir); err == nil && len(des) > 0 {
		return usagef("--dir %s is not empty: the demo builds a node there", dir)
	}
	now := env.Clock.Now()
	w := env.Stdout
	t0 := wall.Now() // the demo's own running time, on real time
	if _, err := demo.Build(dir, demo.Options{Now: now, FieldGuideSed: true}); err != nil {
		return fmt.Errorf("build the sandbox in %s: %w", dir, err)
	}
	fmt.Fprintf(w, `certrescue demo: a kubeadm control-plane node whose every certificate expired three days ago,
built in %.1fs under %s (offline, no privileges; remove it with: rm -rf %s)
admin.conf was "fixed" with the field guide's sed line: it points at the API server's own certificate.

`, wall.Now().Sub(t0).Seconds(), dir, dir)
	before := renewal.Inspect(dir, layout.Kubeadm)
	sub := *env
	sub.Root = dir
	step := func(n int, title string, args ...string) int {
		fmt.Fprintf(w, "== %d. %s\n$ %s\n", n, title, sub.command(args...))
		code := run(ctx, &sub, append([]string{"--root", dir}, args...))
		fmt.Fprintln(w)
		return code
	}
	check := func(n int, title string) {
		if hasCommand(&sub, "check") {
			step(n, title, "check")
			return
		}
		fmt.Fprintf(w, "== %d. %s\n", n, title)
		printExpiry(w, renewal.Inspect(dir, layout.Kubeadm), env.Clock.Now())
		fmt.Fprintln(w)
	}
	check(1, "check: what is wrong")
	if code := step(2, "rescue (--restart none: a sandbox has no processes to restart)", "rescue", "--restart", "none"); code != 0 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("the rescue of the sandbox failed (exit %d); see above", code)}
	}
	check(3, "check again")

	fmt.Fprintf(w, "== 4. what changed\n")
	after := renewal.Inspect(dir, layout.Kubeadm)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWAS VALID UNTIL\tNOW VALID UNTIL\tKEY\tSUBJECT")
	for i, b := range before {
		a := after[i]
		if b.Cert == nil || a.Cert == nil {
			continue
		}
		key := "kept"
		if !pki.PublicKeysEqual(a.Cert.PublicKey, b.Cert.PublicKey) {
			key = "new"
		}
		subject := a.Cert.Subject.String()
		if subject != b.Cert.Subject.String() {
			subject = b.Cert.Subject.String() + " -> " + subject
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Role.Name, expiry(b.Cert, now), expiry(a.Cert, now), key, subject)
	}
	tw.Flush()
	if list, err := backup.List(sub.NodePath(backup.DefaultDir)); err == nil && len(list) > 0 {
		last := list[len(list)-1]
		fmt.Fprintf(w, "\nBackup of the expired node: %s (%d files)\n", last.ID, last.Manifest.Files())
		fmt.Fprintf(w, "  %s\n  %s   # undo the rescue\n", sub.command("backup", "verify", last.ID), sub.command("restore", last.ID))
	}
	fmt.Fprintf(w, "\nDone in %.1fs. On a real node: certrescue rescue --dry-run, then certrescue rescue.\n", wall.Now().Sub(t0).Seconds())
	return nil
}

func hasCommand(env *Env, name string) bool {
	for _, c := range NewRootCommand(env).Commands() {
		if c.Name() == name {
			return true
		}
	}
	return false
}

// printExpiry is a plain expiry table, used when no check command is built in.
func printExpiry(w interface{ Write([]byte) (int, error) }, cur []renewal.Current, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVALID UNTIL\tPATH")
	for _, c := range cur {
		state := "missing"
		var cert *x509.Certificate = c.Cert
		if cert != nil {
			state = expiry(cert, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Role.Name, state, c.Path)
	}
	tw.Flush()
}
