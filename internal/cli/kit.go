package cli

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/kit"
	"github.com/spf13/cobra"
)

func init() {
	register(900, func(env *Env) *cobra.Command {
		k := withHelp(&cobra.Command{
			Use:   "kit",
			Short: "Verify the offline rescue kit, or write its conf/ templates",
		}, `  certrescue kit verify certrescue-kit-v1.0.0.tar.gz
  certrescue kit templates --out-dir conf/`, exitCodesSimple)
		k.AddCommand(newKitVerifyCmd(env), newKitTemplatesCmd(env))
		return k
	})
}

func newKitVerifyCmd(env *Env) *cobra.Command {
	return withHelp(&cobra.Command{
		Use:   "verify DIR|TARBALL",
		Short: "Check every file of a kit against its SHA256SUMS",
		Long: `Check a kit built by 'make kit' (the directory or the .tar.gz) before carrying it
into the air gap: every file listed in SHA256SUMS must be present and match, and
nothing unlisted or unsafe (links, devices, paths leaving the kit) may be there.`,
		Args: exactArgs(1, "a kit directory or tarball"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := kit.Verify(env.NodePath(args[0]))
			if err != nil {
				return usageError(err)
			}
			for _, f := range r.Verified {
				fmt.Fprintf(env.Stdout, "OK       %s\n", f)
			}
			for _, p := range r.Problems {
				fmt.Fprintf(env.Stdout, "FAILED   %s\n", p)
			}
			if !r.OK() {
				return fmt.Errorf("kit %s: %d problem(s); do not use it", args[0], len(r.Problems))
			}
			fmt.Fprintf(env.Stdout, "kit %s: %d files verified\n", args[0], len(r.Verified))
			return nil
		},
	}, `  certrescue kit verify dist/certrescue-kit-v1.0.0.tar.gz
  certrescue kit verify /media/usb/certrescue-kit-v1.0.0`, `  0  every file matches
  1  a file is missing, changed, unlisted or unsafe
  3  the kit or its SHA256SUMS cannot be read`)
}

func newKitTemplatesCmd(env *Env) *cobra.Command {
	var outDir string
	var force bool
	c := &cobra.Command{
		Use:   "templates",
		Short: "Write the kit's conf/ templates (ca-config.json, ca-csr.json, apiserver-csr.json)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var files []atomicfile.File
			err := fs.WalkDir(kit.Conf, "conf", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := kit.Conf.ReadFile(p)
				files = append(files, atomicfile.File{Path: filepath.Join(env.NodePath(outDir), d.Name()), Data: data, Mode: atomicfile.CertMode})
				return err
			})
			if err != nil {
				return err
			}
			if err := atomicfile.WriteSet(files, force); err != nil {
				return err
			}
			describeWritten(env, files)
			return nil
		},
	}
	c.Flags().StringVar(&outDir, "out-dir", ".", "directory to write the templates to")
	c.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return withHelp(c, `  certrescue kit templates --out-dir conf/
  certrescue ca init conf/ca-csr.json`, exitCodesSimple)
}
