package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// A certificate beside a key of another generation (what an interrupted
// tool without a journal leaves) is due for a rescue whatever its expiry,
// and gets a new pair.
func TestRescueRepairsACertificateBesideAKeyOfAnotherGeneration(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	other := testpki.MustLeaf(t, testpki.MustCA(t))
	keyPath := filepath.Join(root, "etc/kubernetes/pki/apiserver.key")
	testpki.WriteFile(t, keyPath, testpki.KeyPEM(t, other.Key), 0o600)

	r := runAt(t, testpki.Epoch, "", "--root", root, "rescue", "--restart", "none")
	if strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("rescue left the mismatched pair alone:\n%s%s", r.stdout, r.stderr)
	}
	certs, err := pki.ParseCertificatesPEM(mustReadFile(t, filepath.Join(root, "etc/kubernetes/pki/apiserver.crt")))
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKeyPEM(mustReadFile(t, keyPath))
	if err != nil {
		t.Fatal(err)
	}
	if !pki.PublicKeysEqual(certs[0].PublicKey, key.Public()) {
		t.Fatalf("apiserver.crt and apiserver.key still do not match:\n%s%s", r.stdout, r.stderr)
	}
	if pki.PublicKeysEqual(key.Public(), other.Key.Public()) {
		t.Error("the stray key was kept instead of a new one")
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
