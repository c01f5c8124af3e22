package testpki

import (
	"path/filepath"
	"testing"

	"github.com/certrescue/certrescue/internal/kubeadm"
)

// ManifestOptions shape the static pod manifests WriteManifests writes
// (kubeadm.ManifestOptions: node name node1, advertise address 10.0.0.1,
// port 6443, service range 10.96.0.0/12 unless set).
type ManifestOptions = kubeadm.ManifestOptions

// WriteManifests writes kubeadm's four static pod manifests under
// root/etc/kubernetes/manifests, as kubeadm.Manifests renders them (the same
// the demo sandbox has).
func WriteManifests(t testing.TB, root string, o ManifestOptions) {
	t.Helper()
	for _, f := range kubeadm.Manifests(o) {
		WriteFile(t, filepath.Join(root, f.Path), f.Data, 0o600)
	}
}
