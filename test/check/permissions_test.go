package check_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/cli"
	"github.com/certrescue/certrescue/internal/testpki"
)

// Files the running user may not read (permission denied) are unreadable
// findings, and the scan goes on. Root reads everything, so as root the
// check runs as nobody (setpriv), on a node readable by all but its keys.
func TestPermissionDeniedIsAFindingNotAFailure(t *testing.T) {
	root, err := os.MkdirTemp("", "certrescue-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	now := time.Now().UTC()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		CANotBefore: now.Add(-time.Hour), CANotAfter: now.AddDate(10, 0, 0)})
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"certrescue", "--root", root, "check", "-o", "json", "--no-endpoints"}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Skip("running as root without setpriv(1) to drop privileges")
		}
		argv = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != cli.ExitCritical {
		t.Fatalf("%v: %v, want exit %d\n%s%s", argv, err, cli.ExitCritical, out.String(), errb.String())
	}
	var rep struct {
		Results []checkResult `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := map[string]checkResult{}
	for _, r := range rep.Results {
		got[r.Name] = r
	}
	for name, want := range map[string]string{
		"apiserver":    "cannot read key /etc/kubernetes/pki/apiserver.key: permission denied",
		"admin.conf":   "cannot read kubeconfig /etc/kubernetes/admin.conf: permission denied",
		"sa":           "cannot read key /etc/kubernetes/pki/sa.key: permission denied",
		"etcd-peer":    "cannot read key /etc/kubernetes/pki/etcd/peer.key: permission denied",
		"kubelet.conf": "permission denied",
	} {
		r, ok := got[name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		found := false
		for _, f := range r.Findings {
			found = found || (f.Reason == "unreadable" && strings.Contains(f.Message, want))
		}
		if !found {
			t.Errorf("%s: no unreadable finding saying %q: %+v", name, want, r.Findings)
		}
	}
	if r := got["apiserver"]; r.NotAfter == nil {
		t.Error("the readable certificate next to an unreadable key was not read")
	}
}
