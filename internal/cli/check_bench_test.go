package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// BenchmarkCheckKubeadmNode is one `certrescue check` of a kubeadm node with
// kubeadm's RSA-2048 keys and its static pod manifests, in process (no
// process start-up; scripts/bench-check.sh measures the binary).
func BenchmarkCheckKubeadmNode(b *testing.B) {
	root := b.TempDir()
	testpki.KubeadmTree(b, root, testpki.TreeOptions{Manifests: true, KeySpec: pki.KeySpec{Algo: pki.AlgoRSA, Size: 2048}})
	env := &Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Clock: clock.Fixed(testpki.Epoch),
		Root: "/", Getenv: func(string) string { return "" }}
	b.ResetTimer()
	for b.Loop() {
		if code := run(context.Background(), env, []string{"--root", root, "check", "--no-endpoints", "-q"}); code != ExitOK {
			b.Fatalf("exit %d: %s", code, env.Stderr)
		}
	}
}

// BenchmarkCheckDirectory10k is `certrescue check --scan-node=false --dir D`
// on 10,000 PEM certificates signed by one CA that is in the directory too.
func BenchmarkCheckDirectory10k(b *testing.B) {
	root := b.TempDir()
	ca := testpki.MustCA(b, testpki.WithCN("bench-ca"))
	key := testpki.MustLeaf(b, ca).Key
	testpki.WriteCert(b, filepath.Join(root, "pems/ca.crt"), ca.Cert)
	for i := range 9999 {
		leaf := testpki.MustLeaf(b, ca, testpki.WithKey(key), testpki.WithCN(fmt.Sprintf("svc-%05d", i)))
		if err := os.WriteFile(filepath.Join(root, "pems", fmt.Sprintf("svc-%05d.pem", i)), testpki.CertPEM(leaf.Cert), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	env := &Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Clock: clock.Fixed(testpki.Epoch),
		Root: "/", Getenv: func(string) string { return "" }}
	b.ResetTimer()
	for b.Loop() {
		if code := run(context.Background(), env, []string{"--root", root, "check", "--scan-node=false", "--dir", "/pems", "-q"}); code != ExitOK {
			b.Fatalf("exit %d: %s", code, env.Stderr)
		}
	}
}
