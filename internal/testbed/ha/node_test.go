package ha

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestStaticPodScriptReadsTheManifestAtEachStart runs a unit's ExecStart,
// static-pod.sh, outside any namespace with a stand-in binary that prints
// its arguments: each start runs the manifest's command as it is then, and
// a manifest without one is refused with a message for the unit's log.
func TestStaticPodScriptReadsTheManifestAtEachStart(t *testing.T) {
	dir := t.TempDir()
	script := writeStaticPodScript(t, dir)
	bin, manifest := filepath.Join(dir, "kcm"), filepath.Join(dir, "kube-controller-manager.yaml")
	writeFile(t, bin, "#!/bin/sh\nfor a; do echo \"$a\"; done\n", 0o755)
	const pod = `spec:
  containers:
  - command:
    - kube-controller-manager
    - --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt
    - '--root-ca-file=/etc/kubernetes/pki/ca.crt'
    image: registry.k8s.io/kube-controller-manager:v1.37.2
`
	var stderr strings.Builder
	start := func() ([]string, error) {
		t.Helper()
		stderr.Reset()
		cmd := exec.Command("/bin/sh", script, manifest, bin)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), err
	}
	for _, signing := range []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca-signing.crt", "/etc/kubernetes/pki/ca.crt"} {
		writeFile(t, manifest, strings.Replace(pod, "/etc/kubernetes/pki/ca.crt", signing, 1), 0o600)
		checkManifestCommand(t, dir, manifest)
		argv, err := start()
		want := []string{"--cluster-signing-cert-file=" + signing, "--root-ca-file=/etc/kubernetes/pki/ca.crt"}
		if err != nil || !slices.Equal(argv, want) {
			t.Fatalf("with the signing certificate %s: %q (%v: %s), want %q", signing, argv, err, stderr.String(), want)
		}
	}
	writeFile(t, manifest, "spec:\n  containers:\n  - name: kube-controller-manager\n", 0o600)
	if argv, err := start(); err == nil || !strings.Contains(stderr.String(), "no container command to start") {
		t.Fatalf("without a command: %q (%v: %s), want a failure that says so", argv, err, stderr.String())
	}
}
