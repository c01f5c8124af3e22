package ha

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testbed/ha"
)

// defaultWorkers is how many workers TestHAClusterWithAnsible starts: the
// field guide's whole-cluster incident at 50 (scripts/bench-ha.sh sets
// CERTRESCUE_HA_WORKERS for the growth figure).
const defaultWorkers = 50

func haWorkers(t *testing.T) int {
	t.Helper()
	v := os.Getenv("CERTRESCUE_HA_WORKERS")
	if v == "" {
		return defaultWorkers
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("CERTRESCUE_HA_WORKERS=%q: want a count", v)
	}
	return n
}

// checkWorkersRenewed reads every worker's current kubelet client
// certificate: valid now, for a year, signed by the cluster CA, in a new
// dated file of the kubelet's store.
func checkWorkersRenewed(t *testing.T, c *ha.Cluster, ca *pki.CA) {
	t.Helper()
	now := time.Now()
	bad := 0
	for _, w := range c.Workers {
		p := filepath.Join(w.Root, testbed.KubeletCurrentPEM)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", w.Name, err)
			bad++
			continue
		}
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil || len(certs) == 0 {
			t.Errorf("%s: %s: %v", w.Name, p, err)
			bad++
			continue
		}
		leaf := certs[0]
		if now.After(leaf.NotAfter) || leaf.NotAfter.Sub(now) < 300*24*time.Hour || leaf.CheckSignatureFrom(ca.Cert) != nil ||
			leaf.Subject.CommonName != "system:node:"+w.Name {
			t.Errorf("%s: current certificate %s until %s, want system:node:%s for a year from the cluster CA", w.Name, leaf.Subject.CommonName, leaf.NotAfter, w.Name)
			bad++
		}
	}
	t.Logf("%d of %d workers hold a renewed kubelet client certificate", len(c.Workers)-bad, len(c.Workers))
}
