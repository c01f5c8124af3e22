package cli

import (
	"bytes"
	"context"
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
