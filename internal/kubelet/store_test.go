package kubelet

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

var t0 = testpki.Epoch

// node is a node root with an empty /var/lib/kubelet/pki.
func node(t *testing.T) (*nodefs.FS, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, DefaultPKIDir), 0o755); err != nil {
		t.Fatal(err)
	}
	return nodefs.New(root), root
}

func nodePair(t *testing.T, ca *pki.CA, name string, nb, na time.Time) *Pair {
	t.Helper()
	l := testpki.MustLeaf(t, ca, testpki.WithCN(NodeUserPrefix+name), testpki.WithOrg(NodesGroup),
		testpki.WithUsage(x509.ExtKeyUsageClientAuth), testpki.WithValidity(nb, na))
	p, err := ParsePair(append(testpki.CertPEM(l.Cert), testpki.KeyPEM(t, l.Key)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInstallSwitchesTheCurrentLinkTheKubeletsWay(t *testing.T) {
	fsys, root := node(t)
	ca := testpki.MustCA(t)
	s := Store{FS: fsys, Dir: DefaultPKIDir, Prefix: ClientPrefix}
	old := nodePair(t, ca, "w1", t0.Add(-400*24*time.Hour), t0.Add(-24*time.Hour))
	first, err := s.Install(old, t0.Add(-400*24*time.Hour), InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	renewed := nodePair(t, ca, "w1", t0.Add(-time.Hour), t0.Add(365*24*time.Hour))
	var sawIntent bool
	got, err := s.Install(renewed, t0, InstallOptions{BeforeSwitch: func(dated string) error {
		sawIntent = true
		// Before the switch the current link still names the old pair.
		if st, _ := s.Inspect(); st.Resolved != first.Dated {
			t.Errorf("before the switch the current link names %s, want %s", st.Resolved, first.Dated)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !sawIntent {
		t.Error("BeforeSwitch was not called")
	}
	if want := DefaultPKIDir + "/kubelet-client-" + t0.UTC().Format(timestampLayout) + ".pem"; got.Dated != want {
		t.Errorf("dated file %s, want %s", got.Dated, want)
	}
	target, err := os.Readlink(filepath.Join(root, s.CurrentPath()))
	if err != nil {
		t.Fatal(err)
	}
	if target != got.Dated {
		t.Errorf("current link names %q, want the absolute node path %q (as the kubelet writes it)", target, got.Dated)
	}
	fi, err := os.Stat(filepath.Join(root, got.Dated))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("dated file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(root, s.UpdatedPath())); err == nil {
		t.Error("the -updated link is left behind")
	}
	st, err := s.Inspect()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Pair.Leaf().Equal(renewed.Leaf()) || len(st.Dated) != 2 || st.Stuck(t0) != "" {
		t.Errorf("after install: current %v, dated %v, stuck %q", st.Pair.Leaf().NotAfter, st.Dated, st.Stuck(t0))
	}
	again, err := s.Install(renewed, t0.Add(time.Minute), InstallOptions{})
	if err != nil || !again.Already {
		t.Errorf("installing the current pair again: %+v, %v; want Already and no new file", again, err)
	}
}

func TestInstallReplacesARegularCurrentFileAndKeepsIt(t *testing.T) {
	fsys, root := node(t)
	ca := testpki.MustCA(t)
	s := Store{FS: fsys, Dir: DefaultPKIDir, Prefix: ClientPrefix}
	old := nodePair(t, ca, "w1", t0.Add(-400*24*time.Hour), t0.Add(-24*time.Hour))
	testpki.WriteFile(t, filepath.Join(root, s.CurrentPath()), old.PEM(), 0o600)
	st, _ := s.Inspect()
	if why := st.Stuck(t0); !strings.Contains(why, "regular file") {
		t.Fatalf("a regular current file: Stuck = %q, want it to say regular file", why)
	}
	renewed := nodePair(t, ca, "w1", t0.Add(-time.Hour), t0.Add(365*24*time.Hour))
	got, err := s.Install(renewed, t0, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Preserved == "" {
		t.Fatal("the regular file's pair was not kept")
	}
	kept, err := s.ReadPair(got.Preserved)
	if err != nil || !kept.Leaf().Equal(old.Leaf()) {
		t.Errorf("kept %s: %v", got.Preserved, err)
	}
	if fi, _ := os.Lstat(filepath.Join(root, s.CurrentPath())); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the current file is still not a link")
	}
}

func TestInstallReplacesALeftoverUpdatedLinkAndRefusesAFile(t *testing.T) {
	fsys, root := node(t)
	ca := testpki.MustCA(t)
	s := Store{FS: fsys, Dir: DefaultPKIDir, Prefix: ClientPrefix}
	if err := os.Symlink("/nowhere", filepath.Join(root, s.UpdatedPath())); err != nil {
		t.Fatal(err)
	}
	p := nodePair(t, ca, "w1", t0.Add(-time.Hour), t0.Add(24*time.Hour))
	if _, err := s.Install(p, t0, InstallOptions{}); err != nil {
		t.Fatalf("a dangling -updated link left by a crash: %v", err)
	}
	os.Remove(filepath.Join(root, s.UpdatedPath()))
	testpki.WriteFile(t, filepath.Join(root, s.UpdatedPath()), []byte("x"), 0o600)
	p2 := nodePair(t, ca, "w1", t0.Add(-time.Hour), t0.Add(48*time.Hour))
	before, _ := os.Readlink(filepath.Join(root, s.CurrentPath()))
	if _, err := s.Install(p2, t0.Add(time.Hour), InstallOptions{}); err == nil || !strings.Contains(err.Error(), "regular file") {
		t.Errorf("a regular -updated file: %v, want a refusal", err)
	}
	if after, _ := os.Readlink(filepath.Join(root, s.CurrentPath())); after != before {
		t.Errorf("a refused install moved the current link from %s to %s", before, after)
	}
}

func TestStuckNamesAnExpiredCurrentWithANewerPairBeside(t *testing.T) {
	fsys, root := node(t)
	ca := testpki.MustCA(t)
	s := Store{FS: fsys, Dir: DefaultPKIDir, Prefix: ClientPrefix}
	old := nodePair(t, ca, "w1", t0.Add(-400*24*time.Hour), t0.Add(-24*time.Hour))
	if _, err := s.Install(old, t0.Add(-400*24*time.Hour), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Inspect()
	if why := st.Stuck(t0); why != "" {
		t.Errorf("expired with nothing newer is not stuck rotation (it is expiry): %q", why)
	}
	newer := nodePair(t, ca, "w1", t0.Add(-time.Hour), t0.Add(24*time.Hour))
	testpki.WriteFile(t, filepath.Join(root, s.DatedPath(t0.Add(-time.Hour))), newer.PEM(), 0o600)
	st, _ = s.Inspect()
	if why := st.Stuck(t0); !strings.Contains(why, "expired") || !strings.Contains(why, s.DatedPath(t0.Add(-time.Hour))) {
		t.Errorf("Stuck = %q, want it to name the expired link and the newer file", why)
	}
}

func TestParsePairRefusesWhatTheKubeletCouldNotLoad(t *testing.T) {
	ca := testpki.MustCA(t)
	a := testpki.MustLeaf(t, ca, testpki.WithCN("system:node:a"))
	b := testpki.MustLeaf(t, ca, testpki.WithCN("system:node:b"))
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"no key", testpki.CertPEM(a.Cert), "no private key"},
		{"another certificate's key", append(testpki.CertPEM(a.Cert), testpki.KeyPEM(t, b.Key)...), "does not match"},
		{"two keys", append(append(testpki.CertPEM(a.Cert), testpki.KeyPEM(t, a.Key)...), testpki.KeyPEM(t, b.Key)...), "2 private keys"},
		{"no certificate", testpki.KeyPEM(t, a.Key), "CERTIFICATE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParsePair(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ParsePair: %v, want an error with %q", err, c.want)
			}
		})
	}
}

func FuzzParsePair(f *testing.F) {
	ca := testpki.MustCA(f)
	l := testpki.MustLeaf(f, ca)
	f.Add(append(testpki.CertPEM(l.Cert), testpki.KeyPEM(f, l.Key)...))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePair(data)
		if err == nil && !pki.PublicKeysEqual(p.Leaf().PublicKey, p.Key.Public()) {
			t.Fatal("a pair whose key does not match its certificate parsed")
		}
	})
}
