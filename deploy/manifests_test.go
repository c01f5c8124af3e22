// Package deploy holds the Kustomize manifests; its test is `make manifests`.
package deploy

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/certrescue/certrescue/internal/alerts"
	"github.com/certrescue/certrescue/internal/testbed"
)

var update = flag.Bool("update", false, "rewrite prometheusrule.yaml from certrescue alerts")

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	raw []byte
}

func build(t *testing.T, kubectl string) []object {
	t.Helper()
	out, err := exec.Command(kubectl, "kustomize", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy: %v\n%s", err, out)
	}
	var objs []object
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("document is not YAML: %v\n%s", err, doc)
		}
		o.raw = []byte(doc)
		objs = append(objs, o)
	}
	return objs
}

func TestManifestsPrometheusRuleIsWhatCertrescueAlertsWrites(t *testing.T) {
	o := alerts.Defaults()
	o.Namespace = "certrescue"
	want, err := alerts.ManifestYAML(o)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("prometheusrule.yaml", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("deploy/prometheusrule.yaml differs from `certrescue alerts -o prometheusrule --namespace certrescue`; run go test ./deploy -update")
	}
}

// TestManifestsBuildAndApplyToARealAPIServer builds the Kustomization with
// the testbed's kubectl, checks what must hold (read-only host mounts, RBAC
// limited to list/watch of Secrets and ConfigMaps), applies the objects to a
// real kube-apiserver (server-side dry run; the operator's CRDs are not
// installed there, so the ServiceMonitor and PrometheusRule are checked for
// shape only) and asks the API server what the exporter's account may do.
func TestManifestsBuildAndApplyToARealAPIServer(t *testing.T) {
	kubectl := testbed.Bin(t, "k8s", "kubectl")
	objs := build(t, kubectl)
	kinds := map[string]object{}
	for _, o := range objs {
		kinds[o.Kind+"/"+o.Metadata.Name] = o
	}
	for _, k := range []string{"Namespace/certrescue", "DaemonSet/certrescue-node", "Deployment/certrescue-secrets",
		"ClusterRole/certrescue-secrets", "ClusterRoleBinding/certrescue-secrets", "ServiceAccount/certrescue-secrets",
		"Service/certrescue-node", "Service/certrescue-secrets", "ServiceMonitor/certrescue", "PrometheusRule/certrescue"} {
		if _, ok := kinds[k]; !ok {
			t.Errorf("kustomize output lacks %s", k)
		}
	}
	var ds struct {
		Spec struct {
			Template struct {
				Spec struct {
					HostNetwork bool `json:"hostNetwork"`
					Tolerations []struct {
						Operator string `json:"operator"`
					} `json:"tolerations"`
					Containers []struct {
						Args         []string `json:"args"`
						VolumeMounts []struct {
							Name     string `json:"name"`
							ReadOnly bool   `json:"readOnly"`
						} `json:"volumeMounts"`
					} `json:"containers"`
					Volumes []struct {
						Name     string         `json:"name"`
						HostPath map[string]any `json:"hostPath"`
					} `json:"volumes"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(kinds["DaemonSet/certrescue-node"].raw, &ds); err != nil {
		t.Fatal(err)
	}
	pod := ds.Spec.Template.Spec
	host := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			host[v.Name] = true
		}
	}
	for _, c := range pod.Containers {
		for _, m := range c.VolumeMounts {
			if host[m.Name] && !m.ReadOnly {
				t.Errorf("hostPath volume %s is mounted read-write", m.Name)
			}
		}
	}
	if len(pod.Tolerations) == 0 || pod.Tolerations[0].Operator != "Exists" {
		t.Errorf("the DaemonSet does not tolerate control-plane taints: %+v", pod.Tolerations)
	}
	var role struct {
		Rules []struct {
			APIGroups []string `json:"apiGroups"`
			Resources []string `json:"resources"`
			Verbs     []string `json:"verbs"`
		} `json:"rules"`
	}
	if err := yaml.Unmarshal(kinds["ClusterRole/certrescue-secrets"].raw, &role); err != nil {
		t.Fatal(err)
	}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v != "list" && v != "watch" {
				t.Errorf("ClusterRole grants %q", v)
			}
		}
		for _, res := range r.Resources {
			if res != "secrets" && res != "configmaps" {
				t.Errorf("ClusterRole covers %q", res)
			}
		}
	}

	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	run := func(stdin []byte, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(context.Background(), kubectl, append([]string{"--kubeconfig", api.Kubeconfig}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil && !strings.HasPrefix(args[0], "auth") {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(kinds["Namespace/certrescue"].raw, "apply", "-f", "-")
	for _, o := range objs {
		switch o.Kind {
		case "Namespace", "ServiceMonitor", "PrometheusRule":
			continue
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding":
			run(o.raw, "apply", "-f", "-") // for real: the permissions are asked below
		default:
			run(o.raw, "apply", "--dry-run=server", "-f", "-")
		}
	}
	sa := "system:serviceaccount:certrescue:certrescue-secrets"
	for _, c := range []struct {
		verb, resource, want string
	}{
		{"list", "secrets", "yes"}, {"watch", "secrets", "yes"}, {"list", "configmaps", "yes"}, {"watch", "configmaps", "yes"},
		{"get", "secrets", "no"}, {"create", "secrets", "no"}, {"delete", "configmaps", "no"}, {"list", "pods", "no"},
	} {
		if got := run(nil, "auth", "can-i", c.verb, c.resource, "--all-namespaces", "--as", sa); got != c.want {
			t.Errorf("can %s %s %s? %q, want %q", sa, c.verb, c.resource, got, c.want)
		}
	}
}
