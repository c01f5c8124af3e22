package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/cfssl"
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

// paths returns where the certificate, key and CSR of name go.
// name may carry a directory, as cfssljson's -bare DIR/NAME does: a relative
// one is under --out-dir, an absolute one under --root.
func (o *outputOptions) paths(env *Env, name string) (cert, key, csr string) {
	base := filepath.Join(env.NodePath(o.outDir), name)
	if filepath.IsAbs(name) {
		base = env.NodePath(name)
	}
	if o.layout == "kubeadm" {
		return base + ".crt", base + ".key", ""
	}
	return base + ".pem", base + "-key.pem", base + ".csr"
}

// fileSet lists the files of one issued certificate, without writing them.
func (o *outputOptions) fileSet(env *Env, name string, is *cfssl.Issued) ([]atomicfile.File, string, error) {
	keyMode, err := o.mode()
	if err != nil {
		return nil, "", err
	}
	certPath, keyPath, csrPath := o.paths(env, name)
	files := []atomicfile.File{{Path: certPath, Data: is.CertPEM, Mode: atomicfile.CertMode}}
	if is.KeyPEM != nil {
		files = append(files, atomicfile.File{Path: keyPath, Data: is.KeyPEM, Mode: keyMode})
	}
	if is.CSRPEM != nil && csrPath != "" {
		files = append(files, atomicfile.File{Path: csrPath, Data: is.CSRPEM, Mode: atomicfile.CertMode})
	}
	return files, certPath, nil
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
	data, err := pki.ReadFile(env.NodePath(path))
	if err != nil {
		return nil, usagef("read %s %s: %w", what, path, err)
	}
	return data, nil
}

func printWarnings(env *Env, warnings []string) {
	for _, w := range warnings {
		env.warnf("%s", w)
	}
}

// writeFiles writes an issued certificate's files atomically, first creating
// the directories they go to when missing (--out-dir DIR, -bare DIR/NAME).
func writeFiles(env *Env, files []atomicfile.File, force bool) error {
	var dirs []string
	for _, f := range files {
		if d := filepath.Dir(f.Path); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		created, err := makeDirs(d)
		for _, c := range created {
			fmt.Fprintf(env.Stderr, "created %s (0700)\n", c)
		}
		if err != nil {
			return err
		}
	}
	return atomicfile.WriteSet(files, force)
}

// makeDirs creates dir and its missing parents, each 0700 whatever the umask
// (they will hold private keys), and makes each creation durable. Existing
// directories are left as they are. It returns what it created.
func makeDirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, usagef("create directory %s: %s is not a directory", dir, d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("create directory %s: %w", dir, err)
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, 0o700); err != nil {
			return created, fmt.Errorf("create directory %s: %w", d, err)
		}
		created = append(created, d)
		if err := os.Chmod(d, 0o700); err != nil {
			return created, fmt.Errorf("create directory %s: %w", d, err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(d)); err != nil {
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
