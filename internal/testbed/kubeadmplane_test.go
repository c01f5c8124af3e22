package testbed

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/certrescue/certrescue/internal/layout"
)

// kcmManifest is the head of kubeadm's kube-controller-manager manifest as
// v1.37.2 writes it (the rest: image, probes, volumes).
const kcmManifest = `apiVersion: v1
kind: Pod
metadata:
  name: kube-controller-manager
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-controller-manager
    - --authentication-kubeconfig=/etc/kubernetes/controller-manager.conf
    - --cluster-name=kubernetes
    - --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt
    - --cluster-signing-key-file=/etc/kubernetes/pki/ca.key
    - --root-ca-file=/etc/kubernetes/pki/ca.crt
    image: registry.k8s.io/kube-controller-manager:v1.37.2
    name: kube-controller-manager
  hostNetwork: true
`

// runAWK runs ManifestCommandAWK on manifest text and returns its lines,
// its stderr and its error.
func runAWK(t *testing.T, manifest string) ([]string, string, error) {
	t.Helper()
	dir := t.TempDir()
	prog, path := filepath.Join(dir, "manifest-command.awk"), filepath.Join(dir, "pod.yaml")
	writeFile(t, prog, ManifestCommandAWK)
	writeFile(t, path, manifest)
	var stderr strings.Builder
	cmd := exec.Command("awk", "-f", prog, path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if len(out) == 0 {
		return nil, stderr.String(), err
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), stderr.String(), err
}

// TestManifestCommandAWKReadsWhatTheYAMLParserReads runs the start scripts'
// awk program on manifests in kubeadm's format and others a rewrite may
// leave, and compares with the command the YAML parser reads.
func TestManifestCommandAWKReadsWhatTheYAMLParserReads(t *testing.T) {
	tests := []struct {
		name, manifest string
	}{
		{"kubeadm's manifest", kcmManifest},
		{"quoted items", strings.NewReplacer(
			"- --cluster-name=kubernetes", `- "--cluster-name=kube \"rnetes\" \\ x"`,
			"- --root-ca-file=/etc/kubernetes/pki/ca.crt", `- '--root-ca-file=/etc/kubernetes/pki/it''s.crt'`).Replace(kcmManifest)},
		{"command not the container's first key, items indented deeper", `spec:
  containers:
  - name: x
    command:
      - /bin/x
      - --a=1
    image: x
`},
		{"blank and comment lines inside the list, a trailing comment, CRLF", strings.ReplaceAll(`spec:
  containers:
  - command: # the component
    - /bin/x

    # a comment
    - --a=1 # one
    - --b=2
  - command:
    - /bin/second
`, "\n", "\r\n")},
		{"the next container ends the list", `spec:
  containers:
  - command:
    - /bin/x
    - --a=1
  - name: sidecar
    command:
    - /bin/y
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pod corev1.Pod
			if err := yaml.Unmarshal([]byte(tc.manifest), &pod); err != nil {
				t.Fatal(err)
			}
			want := pod.Spec.Containers[0].Command
			got, stderr, err := runAWK(t, tc.manifest)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("awk read %q (%v: %s), the YAML parser %q", got, err, stderr, want)
			}
		})
	}
	for _, m := range []string{"spec:\n  containers:\n  - name: x\n    image: x\n", "spec:\n  containers:\n  - command: [/bin/x, --a=1]\n", "spec:\n  containers:\n  - command:\n    image: x\n"} {
		got, stderr, err := runAWK(t, m)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || got != nil || !strings.Contains(stderr, "no container command") {
			t.Errorf("a manifest without a command list: %q, %v, %q; want exit 3 and a message", got, err, stderr)
		}
	}
}

// TestTheControllerManagerStartsWithItsManifestsSigningFlags writes the
// plane's scripts (no plane: a stand-in controller-manager that prints its
// arguments) and starts it after each change of its manifest: the
// --cluster-signing-*-file flags are the manifest's as it is then, under the
// root, none when the manifest has none; the fixed flags and Extra stay.
func TestTheControllerManagerStartsWithItsManifestsSigningFlags(t *testing.T) {
	run := t.TempDir()
	p := &KubeadmPlane{T: t, Root: t.TempDir(), Run: run, Bins: map[string]string{"kube-controller-manager": filepath.Join(run, "kcm")},
		Opts: PlaneOptions{Extra: map[string][]string{layout.KubeControllerManager: {"--v=2"}}}}
	writeFile(t, p.Bins["kube-controller-manager"], "#!/bin/sh\nfor a; do echo \"$a\"; done\n")
	if err := os.Chmod(p.Bins["kube-controller-manager"], 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := p.Path(layout.ManifestsDir + "/kube-controller-manager.yaml")
	p.scripts()
	var stderr strings.Builder
	start := func() ([]string, error) {
		t.Helper()
		stderr.Reset()
		cmd := exec.Command("sh", filepath.Join(run, "start-kube-controller-manager.sh"))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return strings.Split(strings.TrimSpace(string(out)), "\n"), err
	}
	signing := func(argv []string) []string {
		return slices.DeleteFunc(slices.Clone(argv), func(a string) bool { return !strings.HasPrefix(a, "--cluster-signing-") })
	}

	writeFile(t, manifest, kcmManifest)
	argv, err := start()
	pki := p.Path(layout.PKIDir)
	if want := []string{"--cluster-signing-cert-file=" + pki + "/ca.crt", "--cluster-signing-key-file=" + pki + "/ca.key"}; err != nil || !slices.Equal(signing(argv), want) {
		t.Fatalf("kubeadm's manifest: %q (%v); want the signing flags %q", argv, err, want)
	}
	if !slices.Contains(argv, "--root-ca-file="+pki+"/ca.crt") || argv[len(argv)-1] != "--v=2" {
		t.Errorf("the fixed flags, then Extra: %q", argv)
	}

	writeFile(t, manifest, strings.Replace(kcmManifest, "cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt", "cluster-signing-cert-file=/etc/kubernetes/pki/ca-signing.crt", 1))
	argv, err = start()
	if want := []string{"--cluster-signing-cert-file=" + pki + "/ca-signing.crt", "--cluster-signing-key-file=" + pki + "/ca.key"}; err != nil || !slices.Equal(signing(argv), want) {
		t.Fatalf("the rewritten manifest: %q (%v); want the signing flags %q", argv, err, want)
	}

	DropManifestFlags(t, manifest, "--cluster-signing-")
	argv, err = start()
	if err != nil || len(signing(argv)) != 0 || !slices.Contains(argv, "--cluster-name=kubernetes") {
		t.Fatalf("without signing flags in the manifest: %q (%v); want none", argv, err)
	}

	writeFile(t, manifest, "spec:\n  containers:\n  - name: kube-controller-manager\n")
	argv, err = start()
	if err == nil || !strings.Contains(stderr.String(), "no container command") {
		t.Fatalf("without a command in the manifest: %q (%v: %s); want a failure that says so", argv, err, stderr.String())
	}
}
