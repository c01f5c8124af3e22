package cfssl

import (
	"fmt"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

// BenchmarkIssue100 issues 100 leaves in one batch (no file IO), the library
// half of scripts/bench-gencert.sh.
func BenchmarkIssue100(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, algo := range []struct {
		name string
		key  *KeyRequest
	}{{"rsa-2048", &KeyRequest{Algo: "rsa", Size: 2048}}, {"ecdsa-256", &KeyRequest{Algo: "ecdsa", Size: 256}}} {
		for _, caAlgo := range []string{"ecdsa", "rsa"} {
			caIs, err := InitCA(&Request{CN: "bench-ca", Key: &KeyRequest{Algo: caAlgo}}, now)
			if err != nil {
				b.Fatal(err)
			}
			key, _ := pki.ParsePrivateKeyPEM(caIs.KeyPEM)
			ca, _ := pki.NewCA(caIs.Cert, key)
			var cfg *Config
			pol, _ := cfg.Policy("")
			reqs := make([]IssueRequest, 100)
			for i := range reqs {
				reqs[i] = IssueRequest{Request: &Request{CN: fmt.Sprintf("leaf-%d", i), Hosts: []string{"a.example", "10.0.0.1"}, Key: algo.key}}
			}
			b.Run(algo.name+"/ca-"+caAlgo, func(b *testing.B) {
				for b.Loop() {
					if _, err := IssueMany(ca, pol, reqs, now); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
