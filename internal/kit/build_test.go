package kit

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

// TestMakeKitBuildsAVerifiableStaticKit runs the real scripts/kit.sh (what
// `make kit` runs) and verifies its tarball: two static binaries, the conf/
// templates and SHA256SUMS, then checks the amd64 binary runs.
func TestMakeKitBuildsAVerifiableStaticKit(t *testing.T) {
	if testing.Short() || !testbed.Require() {
		t.Skip("cross-compiles twice; runs under make test")
	}
	_, file, _, _ := runtime.Caller(0)
	top := filepath.Join(filepath.Dir(file), "..", "..")
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(top, "scripts", "kit.sh"), "vtest")
	cmd.Env = append(os.Environ(), "KIT_OUT="+out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kit.sh: %v\n%s", err, b)
	}
	tarball := filepath.Join(out, "certrescue-kit-vtest.tar.gz")
	r, err := Verify(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("problems: %v", r.Problems)
	}
	want := []string{"README.md", "bin/certrescue-linux-amd64", "bin/certrescue-linux-arm64", "conf/apiserver-csr.json", "conf/ca-config.json", "conf/ca-csr.json"}
	var rest, collection []string
	for _, f := range r.Verified {
		if strings.HasPrefix(f, "ansible/") {
			collection = append(collection, f)
		} else {
			rest = append(rest, f)
		}
	}
	if strings.Join(rest, ",") != strings.Join(want, ",") {
		t.Fatalf("verified %v, want %v and the Ansible collection", r.Verified, want)
	}
	// Every file of the collection in the tree, none left out.
	var tree []string
	err = filepath.WalkDir(filepath.Join(top, "deploy", "ansible"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".retry") {
			return err
		}
		rel, err := filepath.Rel(filepath.Join(top, "deploy"), p)
		tree = append(tree, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(tree, "ansible/site.yml", "ansible/ca-rotate.yml", "ansible/roles/certrescue_rotate/tasks/main.yml") {
		if !slices.Contains(collection, f) {
			t.Errorf("the kit has no %s (the collection from deploy/ansible): %v", f, collection)
		}
	}
	x := exec.Command("tar", "-xzf", tarball, "-C", out)
	if b, err := x.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, b)
	}
	bin := filepath.Join(out, "certrescue-kit-vtest", "bin", "certrescue-linux-amd64")
	if runtime.GOARCH == "amd64" {
		v, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil || !strings.Contains(string(v), "certrescue vtest") {
			t.Fatalf("kit binary: %v %s", err, v)
		}
		if f, err := exec.Command("file", bin).CombinedOutput(); err == nil && !strings.Contains(string(f), "statically linked") {
			t.Errorf("not static: %s", f)
		}
	}
}
