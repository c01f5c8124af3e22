package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/spf13/cobra"
)

// outputOptions are the flags every command that writes a certificate shares.
type outputOptions struct {
	bare    string
	outDir  string
	layout  string
	force   bool
	keyMode string
	json    bool

	// pipeable commands print cfssl's JSON instead of writing files when
	// their stdout is read by cfssljson (gencert, ca init, sign: cfssl's
	// own gencert and sign print JSON).
	pipeable bool
}

func (o *outputOptions) addFlags(c *cobra.Command, withKey bool) {
	c.Flags().StringVar(&o.bare, "bare", "", "base NAME of the files written (NAME.pem, NAME-key.pem, NAME.csr); default from the CSR file name")
	c.Flags().StringVar(&o.outDir, "out-dir", ".", "directory the files are written to (absolute paths are under --root); created 0700, with missing parents, when it does not exist")
	c.Flags().StringVar(&o.layout, "layout", "cfssl", "file names: cfssl (NAME.pem, NAME-key.pem, NAME.csr) or kubeadm (NAME.crt, NAME.key)")
	c.Flags().BoolVar(&o.force, "force", false, "overwrite existing files")
	c.Flags().BoolVar(&o.json, "json", false, "print cfssl's JSON ({\"cert\",\"key\",\"csr\"}) on stdout instead of writing files (pipe into 'certrescue cfssljson -bare NAME')")
	if withKey {
		c.Flags().StringVar(&o.keyMode, "key-mode", "0600", "mode of private key files: 0600 or stricter (0400 for the field guide's compliance rule)")
	}
}

func (o *outputOptions) validate() error {
	if o.layout != "cfssl" && o.layout != "kubeadm" {
		return usagef("--layout %q: use cfssl or kubeadm", o.layout)
	}
	if b := filepath.Base(o.bare); o.bare != "" && (strings.HasSuffix(o.bare, string(os.PathSeparator)) || b == "." || b == "..") {
		return usagef("--bare %q: needs a file name (cfssljson's -bare NAME or -bare DIR/NAME)", o.bare)
	}
	_, err := o.mode()
	return err
}

func (o *outputOptions) mode() (fs.FileMode, error) {
	if o.keyMode == "" {
		return atomicfile.KeyMode, nil
	}
	v, err := strconv.ParseUint(o.keyMode, 8, 32)
	m := fs.FileMode(v)
	if err != nil || m&^0o600 != 0 || m&0o400 == 0 {
		return 0, usagef("--key-mode %q: must be an octal mode no looser than 0600 that lets the owner read (0600 or 0400)", o.keyMode)
	}
	return m, nil
}

// baseName derives cfssljson's -bare NAME from a CSR file name: apiserver-csr.json -> apiserver.
func baseName(csrFile string) string {
	b := filepath.Base(csrFile)
	for _, suf := range []string{"-csr.json", ".json", "-csr.pem", ".csr", ".pem"} {
		if n, ok := strings.CutSuffix(b, suf); ok && n != "" {
			return n
		}
	}
	return b
}

// paths returns where the certificate, key and CSR of name go, and the view
// of the disk they are written through. name may carry a directory, as
// cfssljson's -bare DIR/NAME does: a relative one is under --out-dir. An
// absolute path is the node's, under --root; a relative one is the
// operator's, from the working directory.
func (o *outputOptions) paths(env *Env, name string) (fsys *nodefs.FS, cert, key, csr string) {
	base := filepath.Join(o.outDir, name)
	if filepath.IsAbs(name) {
		base = name
	}
	fsys = env.FS()
	if !filepath.IsAbs(base) {
		fsys = nodefs.Host()
	}
	if o.layout == "kubeadm" {
		return fsys, base + ".crt", base + ".key", ""
	}
	return fsys, base + ".pem", base + "-key.pem", base + ".csr"
}

// fileSet lists the files of one issued certificate, without writing them,
// and the certificate's path as messages and the audit log show it.
func (o *outputOptions) fileSet(env *Env, name string, is *cfssl.Issued) (*nodefs.FS, []nodefs.Put, string, error) {
	keyMode, err := o.mode()
	if err != nil {
		return nil, nil, "", err
	}
	fsys, certPath, keyPath, csrPath := o.paths(env, name)
	files := []nodefs.Put{{Path: certPath, Data: is.CertPEM, Mode: atomicfile.CertMode}}
	if is.KeyPEM != nil {
		files = append(files, nodefs.Put{Path: keyPath, Data: is.KeyPEM, Mode: keyMode})
	}
	if is.CSRPEM != nil && csrPath != "" {
		files = append(files, nodefs.Put{Path: csrPath, Data: is.CSRPEM, Mode: atomicfile.CertMode})
	}
	return fsys, files, shownPath(fsys, certPath), nil
}

// shownPath is how messages name a path written through fsys: a relative one
// as the operator gave it, a node path where it is on this machine.
func shownPath(fsys *nodefs.FS, p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	return fsys.HostPath(p)
}

// readInput reads an input file named on the command line, capped in size, with
// an error that names it.
func readInput(env *Env, what, path string) ([]byte, error) {
	if path == "-" {
		data, err := readAllCapped(env.Stdin, pki.MaxPEMSize)
		if err != nil {
			return nil, usagef("read %s from stdin: %w", what, err)
		}
		return data, nil
	}
	fsys := env.FS() // an absolute path is the node's, under --root
	if !filepath.IsAbs(path) {
		fsys = nodefs.Host() // a relative one the operator's, from the working directory
	}
	f, err := fsys.ReadFile(path, pki.MaxPEMSize)
	if err != nil {
		return nil, usagef("read %s %s: %w", what, path, err)
	}
	return f.Data, nil
}

func printWarnings(env *Env, warnings []string) {
	for _, w := range warnings {
		env.warnf("%s", w)
	}
}

// writeFiles writes an issued certificate's files as one journaled
// transaction through fsys, first creating the directories they go to when
// missing (--out-dir DIR, -bare DIR/NAME), then says what it wrote. events
// are recorded in the audit log once every file is staged and before the
// first is replaced (the intent); a failure after that is recorded too. The
// journal sits in the first file's directory: the next command writing there
// finishes or abandons what an interrupted one left.
func writeFiles(env *Env, cmd *cobra.Command, fsys *nodefs.FS, files []nodefs.Put, force bool, events []CertEvent) error {
	var dirs []string
	for _, f := range files {
		if d := filepath.Dir(f.Path); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		created, err := makeDirs(fsys, d)
		for _, c := range created {
			fmt.Fprintf(env.Stderr, "created %s (0700)\n", fsys.HostPath(c))
		}
		if err != nil {
			return err
		}
	}
	// The journal sits beside the files (an operator without write access
	// to the node's state directory still issues certificates).
	jdir := fsys.Clean(dirs[0])
	if err := env.recoverTxns(cmd, fsys, jdir); err != nil {
		return err
	}
	txn := env.newTxn(cmd, jdir)
	intent := func() error {
		evs := slices.Clone(events)
		for i := range evs {
			evs[i].Detail = strings.TrimSpace(evs[i].Detail + " transaction " + txn.ID)
		}
		return env.recordAll(cmd, evs)
	}
	if err := fsys.WriteSet(files, nodefs.WriteOptions{Force: force, Txn: txn, BeforeCommit: intent, Context: cmd.Context()}); err != nil {
		if errors.Is(err, nodefs.ErrExists) || errors.Is(err, nodefs.ErrNotRegular) {
			return err // refused before anything was staged: nothing to record
		}
		evs := slices.Clone(events)
		for i := range evs {
			evs[i].Err = err
		}
		return errors.Join(err, env.recordAll(cmd, evs))
	}
	for _, f := range files {
		fmt.Fprintf(env.Stderr, "wrote %s (%04o)\n", shownPath(fsys, f.Path), f.Mode)
	}
	return nil
}

// makeDirs creates dir and its missing parents through the node's view of
// the disk, each 0700 whatever the umask (they will hold private keys), and
// makes each creation durable. Existing directories are left as they are. It
// returns the node paths it created.
func makeDirs(fsys *nodefs.FS, dir string) ([]string, error) {
	// Where dir leads once the links on the way are followed inside the root
	// (a dangling link is created where it points, as mkdir -p does).
	target, err := fsys.Resolve(dir)
	if err != nil {
		return nil, fmt.Errorf("create directory %s: %w", fsys.HostPath(dir), err)
	}
	var missing []string
	for d := target; d != "/"; d = path.Dir(d) {
		if fsys.IsDir(d) {
			break
		}
		if fsys.Exists(d) {
			return nil, usagef("create directory %s: %s is not a directory", fsys.HostPath(dir), fsys.HostPath(d))
		}
		missing = append(missing, d)
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if err := fsys.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", fsys.HostPath(dir), err)
	}
	created := slices.Clone(missing)
	slices.Reverse(created)
	for _, d := range created {
		if err := fsys.SyncDir(path.Dir(d)); err != nil {
			return created, err
		}
	}
	return created, nil
}

func describeWritten(env *Env, files []atomicfile.File) {
	for _, f := range files {
		fmt.Fprintf(env.Stderr, "wrote %s (%04o)\n", f.Path, f.Mode)
	}
}
