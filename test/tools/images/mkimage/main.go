// Command mkimage writes container image archives (docker "save" format, which
// `ctr images import` reads) without a registry, for the static pod testbed:
// each image is an empty image plus one layer holding one static program at
// /usr/local/bin/NAME, with the names and tags kubeadm's manifests use.
//
//	mkimage -o OUT.tar -entrypoint /usr/local/bin/etcd registry.k8s.io/etcd:3.6.5-0=/path/to/etcd [NAME:TAG=PROGRAM ...]
//
// Each argument is REF=PROGRAM; PROGRAM is copied to /usr/local/bin/ under its
// own base name. With -entrypoint the image's entrypoint is set (the pause
// image needs one; kubeadm's manifests give a command for the others).
// It lives in its own module so go-containerregistry never enters
// certrescue's go.mod.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	out := flag.String("o", "", "archive to write")
	entry := flag.String("entrypoint", "", "entrypoint of every image (optional)")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mkimage -o OUT.tar [-entrypoint PATH] REF=PROGRAM...")
		os.Exit(2)
	}
	refs := map[name.Reference]v1.Image{}
	for _, arg := range flag.Args() {
		ref, prog, ok := strings.Cut(arg, "=")
		if !ok {
			fatal(fmt.Errorf("%q: want REF=PROGRAM", arg))
		}
		tag, err := name.NewTag(ref)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", ref, err))
		}
		img, err := image(prog, *entry)
		if err != nil {
			fatal(err)
		}
		refs[tag] = img
	}
	tmp := *out + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		fatal(fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := os.Rename(tmp, *out); err != nil {
		fatal(err)
	}
}

// image is one layer with prog at /usr/local/bin/BASE, plus /tmp and /etc.
func image(prog, entry string) (v1.Image, error) {
	data, err := os.ReadFile(prog)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", prog, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/", "tmp/", "etc/", "var/", "var/run/", "run/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "usr/local/bin/" + filepath.Base(prog), Mode: 0o755, Size: int64(len(data))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerData := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if entry != "" {
		cf.Config.Entrypoint = []string{entry}
	}
	return mutate.ConfigFile(img, cf)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}
