package flagedit

import (
	"errors"
	"strings"
	"testing"
)

const manifest = `apiVersion: v1
kind: Pod
spec:
  containers:
  - command:
    - kube-controller-manager
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt
    - --cluster-signing-key-file=/etc/kubernetes/pki/ca.key
    - --root-ca-file=/etc/kubernetes/pki/ca.crt
`

func TestSetChangesOnlyTheValue(t *testing.T) {
	const ca, copy = "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca-signing.crt"
	tests := []struct {
		name, flag, in, want string
	}{
		{"a kubeadm manifest", "cluster-signing-cert-file", manifest,
			strings.Replace(manifest, "cluster-signing-cert-file="+ca, "cluster-signing-cert-file="+copy, 1)},
		{"a quoted YAML item", "cluster-signing-cert-file", `    - "--cluster-signing-cert-file=` + ca + `"` + "\n",
			`    - "--cluster-signing-cert-file=` + copy + `"` + "\n"},
		{"a JSON manifest", "cluster-signing-cert-file", `{"command":["kube-controller-manager","--cluster-signing-cert-file=` + ca + `","--root-ca-file=` + ca + `"]}`,
			`{"command":["kube-controller-manager","--cluster-signing-cert-file=` + copy + `","--root-ca-file=` + ca + `"]}`},
		{"a unit with continuations and a space-separated value", "cluster-signing-cert-file",
			"[Service]\nExecStart=/usr/local/bin/kube-controller-manager \\\n  --cluster-signing-cert-file " + ca + " \\\n  --root-ca-file=" + ca + "\n",
			"[Service]\nExecStart=/usr/local/bin/kube-controller-manager \\\n  --cluster-signing-cert-file " + copy + " \\\n  --root-ca-file=" + ca + "\n"},
		{"an environment file, a commented line ignored", "cluster-signing-cert-file",
			"# KUBE_ARGS=\"--cluster-signing-cert-file=/old/ca.pem\"\nKUBE_ARGS=\"--leader-elect=true --cluster-signing-cert-file='" + ca + "'\"\n",
			"# KUBE_ARGS=\"--cluster-signing-cert-file=/old/ca.pem\"\nKUBE_ARGS=\"--leader-elect=true --cluster-signing-cert-file='" + copy + "'\"\n"},
		{"a single-dash flag", "cluster-signing-cert-file", "ExecStart=/bin/x -cluster-signing-cert-file=" + ca + "\n",
			"ExecStart=/bin/x -cluster-signing-cert-file=" + copy + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Set([]byte(tc.in), tc.flag, ca, copy)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			back, err := Set(got, tc.flag, copy, ca)
			if err != nil || string(back) != tc.in {
				t.Fatalf("setting it back: %v\n%s", err, back)
			}
		})
	}
}

func TestSetRefusesWhatItCannotChangeSafely(t *testing.T) {
	const ca = "/etc/kubernetes/pki/ca.crt"
	tests := []struct {
		name, in, to string
		want         error
	}{
		{"the flag is absent", "    - --root-ca-file=" + ca + "\n", "/x", ErrNotFound},
		{"a longer flag is not the flag", "    - --cluster-signing-cert-file-x=" + ca + "\n", "/x", ErrNotFound},
		{"another value", "    - --cluster-signing-cert-file=/other/ca.crt\n", "/x", ErrNotFound},
		{"given twice", "    - --cluster-signing-cert-file=" + ca + "\n    - --cluster-signing-cert-file=" + ca + "\n", "/x", ErrTwice},
		{"a new value with a space", manifest, "/a b", ErrValue},
		{"an empty new value", manifest, "", ErrValue},
		{"a bare boolean", "    - --cluster-signing-cert-file\n", "/x", ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Set([]byte(tc.in), "cluster-signing-cert-file", ca, tc.to)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("Set = %q, %v; want %v", got, err, tc.want)
			}
			if !strings.Contains(err.Error(), "--cluster-signing-cert-file") {
				t.Errorf("the error does not name the flag: %v", err)
			}
		})
	}
}
