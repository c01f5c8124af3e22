package certmanager

import (
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
)

// Unmanaged is one of the node's certificates cert-manager cannot manage.
type Unmanaged struct {
	Name string // the role's name: apiserver, admin.conf
	Path string // node path of the file
	Why  string // why cert-manager cannot renew it
	By   string // what renews it instead
}

// The components that start before the API server can serve anything, or
// are the API server.
var controlPlane = []string{layout.Etcd, layout.KubeAPIServer, layout.KubeControllerManager, layout.KubeScheduler}

// CannotManage lists the node's certificates (as renewal.Inspect reads them;
// absent ones are left out) with why cert-manager cannot manage each. Every
// certificate on a node's disk is one: cert-manager writes Secrets, and
// these are files read by processes that run before, or are, the API
// server cert-manager needs.
func CannotManage(current []renewal.Current) []Unmanaged {
	var out []Unmanaged
	for _, c := range current {
		if c.Err != nil {
			continue
		}
		u := Unmanaged{Name: c.Role.Name, Path: c.Path, By: "the certrescue timer (renew --auto)"}
		if u.Path == "" {
			u.Path = c.Role.CertPath
		}
		var cp []string
		for _, comp := range c.Role.Components {
			if slices.Contains(controlPlane, comp) {
				cp = append(cp, comp)
			}
		}
		switch {
		case c.Role.Kind == layout.KindCA:
			u.Why = "a CA on the node's disk that signs the cluster's own certificates; cert-manager issues workload certificates from Vault and does not replace it"
			u.By = "a planned CA rotation (renew --auto renews leaves, never a CA)"
		case len(cp) > 0:
			u.Why = "read from the node's disk by " + strings.Join(cp, ", ") + " (static pods or systemd units): a static pod cannot mount a Secret, and cert-manager needs the API server these certificates keep running"
		case slices.Contains(c.Role.Components, layout.Kubelet):
			u.Why = "the kubelet's own credential on the node's disk, used before the kubelet can reach the API server (the kubelet rotates its client certificate itself when rotateCertificates is on)"
		default:
			u.Why = "a kubeconfig on the node's disk: the way in when the API server's own certificates fail, so it must not depend on them"
		}
		out = append(out, u)
	}
	return out
}
