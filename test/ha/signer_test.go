package ha

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testbed/ha"
)

// controllerManagerSigns: the controller-managers sign a CSR made through
// the VIP with ca (testbed.ControllerManagerSigns), with cp1's admin.conf.
func controllerManagerSigns(t *testing.T, c *ha.Cluster, ca *x509.Certificate) {
	t.Helper()
	data, err := os.ReadFile(c.Nodes[0].Path(layout.KubernetesDir + "/admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "admin.conf")
	if err := os.WriteFile(kc, data, 0o600); err != nil {
		t.Fatal(err)
	}
	testbed.ControllerManagerSigns(t, func(args ...string) (string, error) { return c.Kubectl(kc, args...) }, ca)
}
