package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/spf13/cobra"
)

// Env is what a command may touch: its streams, the clock and the node's root.
// Tests build one with a fixed clock and a temporary root.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Clock          clock.Clock
	Root           string // --root: where the node's filesystem is mounted
	// Getenv reads the environment (CERTRESCUE_OPERATOR and friends).
	Getenv func(string) string
	// Program is the name certrescue was invoked by (os.Args[0]), for the
	// commands hints tell the user to run; "" means "certrescue".
	Program string
	// args are the command line's arguments, as run was given them.
	args []string

	fs *nodefs.FS
	// audit is the command tree's audit recorder (its global flags and open
	// store): created with the root command, closed after it runs.
	audit *auditRecorder
}

// FS is the node's disk under --root: the one view every read and write of a
// node path goes through.
func (e *Env) FS() *nodefs.FS {
	if e.fs == nil || e.fs.Root() != nodefs.New(e.Root).Root() {
		e.fs = nodefs.New(e.Root)
	}
	return e.fs
}

// NodePath maps a node path onto --root for a part that opens paths itself
// (the audit database, a backup directory): symlinks on the way resolve
// inside the root and ".." never climbs out of it. Relative paths are the
// operator's own files and stay relative to the working directory.
func (e *Env) NodePath(p string) string {
	if p == "" || !filepath.IsAbs(p) {
		return p
	}
	if h, err := e.FS().HostResolved(p); err == nil {
		return h
	}
	return e.FS().HostPath(p)
}

func (e *Env) warnf(format string, a ...any) {
	fmt.Fprintf(e.Stderr, "warning: "+format+"\n", a...)
}

type commandFactory struct {
	order int
	make  func(*Env) *cobra.Command
}

var factories []commandFactory

// rootHooks run on the root command after every command is added: global flags
// and pre-run checks of cross-cutting concerns (the audit store) live there.
var rootHooks []func(root *cobra.Command, env *Env)

// register adds a top-level command; order sorts the help listing.
func register(order int, f func(*Env) *cobra.Command) {
	factories = append(factories, commandFactory{order, f})
}

// NewRootCommand builds the whole command tree for env.
func NewRootCommand(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "certrescue",
		Short: "Diagnose, issue and rescue Kubernetes certificates offline",
		Long: `certrescue diagnoses, issues and rescues the certificates of a Kubernetes node
offline, with an internal CA. It reads the cfssl JSON files (ca-config.json,
CSR files) operators already keep, and kubeadm's PKI layout.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	withHelp(root, `  certrescue ca init ca-csr.json
  certrescue gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=kubernetes apiserver-csr.json
  certrescue --root /mnt/node certinfo /etc/kubernetes/pki/apiserver.crt`, exitCodesSimple)
	root.PersistentFlags().StringVar(&env.Root, "root", "/", "directory where the node's filesystem is mounted; absolute paths are read and written under it")
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetUsageTemplate(usageTemplate)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%s: %w (see '%s --help')", c.CommandPath(), err, c.CommandPath())
	})
	sort.SliceStable(factories, func(i, j int) bool { return factories[i].order < factories[j].order })
	for _, f := range factories {
		root.AddCommand(f.make(env))
	}
	root.AddCommand(newCompletionCmd(root))
	for _, h := range rootHooks {
		h(root, env)
	}
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			withHelp(c, "  certrescue help gencert", exitCodesSimple)
		}
	}
	return root
}

// Main runs certrescue with args and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Clock: clockFrom(ctx), Root: "/", Getenv: os.Getenv, Program: programName(os.Args[0])}
	return run(ctx, env, args)
}

func run(ctx context.Context, env *Env, args []string) int {
	root := NewRootCommand(env)
	env.args = normalizeDashes(root, args)
	root.SetArgs(env.args)
	cmd, err := root.ExecuteContextC(ctx)
	env.auditor().close()
	if err != nil && err.Error() != "" {
		var ee *ExitError
		if !(asExit(err, &ee) && ee.Err == nil) {
			fmt.Fprintf(env.Stderr, "certrescue: %v%s\n", err, advice(env, cmd, err))
		}
	}
	if err != nil && isCobraUsage(err) {
		return ExitUsage
	}
	if err != nil && ctx.Err() != nil {
		return ExitInterrupted
	}
	return exitCode(err)
}
