package renewal_test

import (
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
)

// BenchmarkPrepare plans the renewal of a whole kubeadm node with RSA-2048
// keys, as kubeadm makes them: keys kept, and rotated (12 new keys, generated
// in parallel). scripts/bench-renew.sh compares the command with kubeadm's.
func BenchmarkPrepare(b *testing.B) {
	tr := expiredTreeB(b, pki.KeySpec{Algo: pki.AlgoRSA, Size: 2048})
	for _, rotate := range []bool{false, true} {
		name := "keys-kept"
		if rotate {
			name = "rotate-keys"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, RotateKeys: rotate}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
