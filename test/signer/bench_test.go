package signer

import (
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/signer"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// BenchmarkPrepareBySigner plans the renewal of a whole kubeadm node (13
// certificates, keys kept, nothing written): signed by the CA keys on the
// node, and by three real cfssl serve processes on loopback (one per CA).
// The difference is what a remote signer costs a renewal.
func BenchmarkPrepareBySigner(b *testing.B) {
	now := time.Now()
	root := b.TempDir()
	tree := testpki.KubeadmTree(b, root, testpki.TreeOptions{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		CANotBefore: now.Add(-time.Hour), CANotAfter: now.Add(365 * 24 * time.Hour)})
	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			if _, err := renewal.Prepare(renewal.Options{Root: root, Now: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cfssl-serve", func(b *testing.B) {
		var ss []signer.Signer
		for _, ca := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
			ss = append(ss, &signer.CFSSL{URL: testbed.StartCFSSLServe(b, tree.CAs[ca], testbed.CFSSLServeOptions{}).URL})
		}
		set := &signer.Set{Signers: ss}
		for b.Loop() {
			if _, err := renewal.Prepare(renewal.Options{Root: root, Now: time.Now(), Signers: set}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
