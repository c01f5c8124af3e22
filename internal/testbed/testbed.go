package testbed

import (
	"os"
	"path/filepath"
	"testing"
)

// Versions of the peers, matching scripts/testbed.sh.
const (
	CFSSLVersion = "v1.6.5"
	K8sVersion   = "v1.37.2"
	EtcdVersion  = "v3.6.16"
	// The static pod testbed's runtime set (scripts/testbed.sh containerd).
	ContainerdVersion = "v2.4.2"
	CrictlVersion     = "v1.37.0"
	ImagesVersion     = "v1" // mkimage and the pause program, test/tools/images
)

// Bin returns the path of binary name from set ("cfssl", "k8s", "etcd" or
// "kubelet": kubemark and kubelet; "containerd": containerd, ctr and
// containerd-shim-runc-v2; "crictl"; "images": mkimage and pause).
// CERTRESCUE_TESTBED_CACHE overrides the cache directory.
func Bin(t testing.TB, set, name string) string {
	t.Helper()
	version := map[string]string{"cfssl": CFSSLVersion, "k8s": K8sVersion, "etcd": EtcdVersion, "kubelet": K8sVersion,
		"containerd": ContainerdVersion, "crictl": CrictlVersion, "images": ImagesVersion}[set]
	if version == "" {
		t.Fatalf("testbed: unknown set %q", set)
	}
	cache := os.Getenv("CERTRESCUE_TESTBED_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "certrescue-testbed")
	}
	p := filepath.Join(cache, set+"-"+version, "bin", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CERTRESCUE_REQUIRE_TESTBED") == "1" {
			t.Fatalf("testbed: %s missing (%v); scripts/testbed.sh %s builds it", p, err, set)
		}
		t.Skipf("testbed: %s not built; run scripts/testbed.sh %s (make test does)", p, set)
	}
	return p
}

// Require reports whether a missing peer must fail rather than skip.
func Require() bool { return os.Getenv("CERTRESCUE_REQUIRE_TESTBED") == "1" }
