package inventory

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want map[string]string
	}{
		{"equals form", []string{"--tls-cert-file=/a.crt"}, map[string]string{"tls-cert-file": "/a.crt"}},
		{"space form", []string{"--tls-cert-file", "/a.crt"}, map[string]string{"tls-cert-file": "/a.crt"}},
		{"single dash as etcd allows", []string{"-cert-file=/s.crt"}, map[string]string{"cert-file": "/s.crt"}},
		{"known boolean does not eat the next argument", []string{"--client-cert-auth", "/positional"}, map[string]string{"client-cert-auth": "true"}},
		{"flag before another flag is a boolean", []string{"--x", "--y=1"}, map[string]string{"x": "true", "y": "1"}},
		{"last value wins", []string{"--a=1", "--a=2"}, map[string]string{"a": "2"}},
		{"positional and bare dashes ignored", []string{"run", "-", "--"}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseFlags(tt.args); !maps.Equal(got, tt.want) {
				t.Fatalf("ParseFlags(%q) = %v, want %v", tt.args, got, tt.want)
			}
		})
	}
}

func TestParseUnit(t *testing.T) {
	tests := []struct {
		name    string
		unit    string
		dropIn  string
		want    [][]string
		wantErr string
	}{
		{
			name: "continuation lines and quotes",
			unit: "[Service]\nExecStart=/usr/bin/etcd \\\n  --cert-file=/a \\\n  # a comment\n  --name \"my node\"\n",
			want: [][]string{{"/usr/bin/etcd", "--cert-file=/a", "--name", "my node"}},
		},
		{
			name: "environment expansion, whole word and braces",
			unit: "[Service]\nEnvironment=\"ARGS=--a=1 --b=2\" DIR=/pki\nExecStart=/bin/kubelet $ARGS --c=${DIR}/x.crt\n",
			want: [][]string{{"/bin/kubelet", "--a=1", "--b=2", "--c=/pki/x.crt"}},
		},
		{
			name:   "a drop-in resets ExecStart as kubeadm's 10-kubeadm.conf does",
			unit:   "[Service]\nExecStart=/usr/bin/kubelet\n",
			dropIn: "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf\"\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS\n",
			want:   [][]string{{"/usr/bin/kubelet", "--kubeconfig=/etc/kubernetes/kubelet.conf"}},
		},
		{
			name: "other sections ignored",
			unit: "[Install]\nExecStart=/nope\n[Service]\nType=notify\n",
		},
		{name: "unterminated quote", unit: "[Service]\nExecStart=/bin/x \"oops\n", wantErr: "unterminated"},
		{name: "not key=value", unit: "[Service]\nwhat is this\n", wantErr: "line 2"},
		{name: "broken section header", unit: "[Service\n", wantErr: "section header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUnit([]byte(tt.unit), nil)
			if err == nil && tt.dropIn != "" {
				u, err = ParseUnit([]byte(tt.dropIn), u)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(u.ExecStart, tt.want, slices.Equal) {
				t.Fatalf("ExecStart = %q, want %q", u.ExecStart, tt.want)
			}
		})
	}
}

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
		wantCmd             []string
	}{
		{name: "kubeadm shape", data: "apiVersion: v1\nkind: Pod\nmetadata: {name: etcd}\nspec:\n  containers:\n  - name: etcd\n    command: [etcd, --cert-file=/a]\n",
			wantCmd: []string{"etcd", "--cert-file=/a"}},
		{name: "json", data: `{"kind":"Pod","spec":{"containers":[{"command":["x"]}]}}`, wantCmd: []string{"x"}},
		{name: "a Deployment is not a static pod", data: "kind: Deployment\n", wantErr: "expected Pod"},
		{name: "no containers", data: "kind: Pod\nspec: {}\n", wantErr: "spec.containers"},
		{name: "not yaml", data: "kind: Pod\n  - : [\n", wantErr: "not a Pod manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cs, err := ParseManifest([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(cs[0].Command, tt.wantCmd) {
				t.Fatalf("got %v, %v", cs, err)
			}
		})
	}
}

func TestParseInventoryFileNamesTheBadField(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"unknown field", "items:\n- path: /a\n  kye: /b\n", `unknown field "kye"`},
		{"relative path", "items:\n- path: a.crt\n", "items[0].path"},
		{"relative key", "items:\n- path: /a.crt\n  key: a.key\n", "items[0].key"},
		{"bad kind", "items:\n- path: /a\n  kind: secret\n", "items[0].kind"},
		{"bad usage", "items:\n- path: /a\n  usages: [server]\n", "items[0].usages"},
		{"missing path", "items:\n- name: x\n", "items[0].path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInventoryFile([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	f, err := ParseInventoryFile([]byte("items:\n- path: /a.crt\n  usages: [server auth]\n  sans: [a.example]\n"))
	if err != nil || len(f.Entries) != 1 {
		t.Fatalf("valid file: %v %v", f, err)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command: [kube-apiserver, --tls-cert-file=/a]\n"))
	f.Add([]byte(`{"kind":"Pod","spec":{"containers":[{"args":["--x"]}]}}`))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, cs, err := ParseManifest(data)
		if err == nil {
			for _, c := range cs {
				ParseFlags(append(c.Command, c.Args...))
			}
		}
	})
}

func FuzzParseUnit(f *testing.F) {
	f.Add([]byte("[Service]\nEnvironment=\"A=--x=1\"\nExecStart=/bin/etcd $A \\\n --cert-file=${B}/c\n"))
	f.Add([]byte("[Service]\nExecStart=\nExecStart='a b' \"c\\\"d\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUnit(data, nil)
		if err == nil {
			for _, argv := range u.ExecStart {
				ParseFlags(argv)
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\naGVsbG8=\n-----END RSA PRIVATE KEY-----\n-----BEGIN PUBLIC KEY-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) { Decode(data) })
}

func FuzzParseInventoryFile(f *testing.F) {
	f.Add([]byte("items:\n- path: /a.crt\n  key: /a.key\n  usages: [server auth]\n"))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseInventoryFile(data) })
}

func TestParseKubeletConfig(t *testing.T) {
	cert, key, ca, err := ParseKubeletConfig([]byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\ntlsCertFile: /srv/kubelet.crt\ntlsPrivateKeyFile: /srv/kubelet.key\n"))
	if err != nil || cert != "/srv/kubelet.crt" || key != "/srv/kubelet.key" || ca != "/etc/kubernetes/pki/ca.crt" {
		t.Fatalf("%q %q %q %v", cert, key, ca, err)
	}
	if _, _, _, err := ParseKubeletConfig([]byte("tlsCertFile: [\n")); err == nil {
		t.Fatal("broken YAML accepted")
	}
}

func FuzzParseKubeletConfig(f *testing.F) {
	f.Add([]byte("authentication:\n  x509:\n    clientCAFile: /ca.crt\ntlsCertFile: /a\n"))
	f.Fuzz(func(t *testing.T, data []byte) { _, _, _, _ = ParseKubeletConfig(data) })
}
