package carotation

import (
	"fmt"
	"slices"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
)

// SigningFlags are the controller-manager's flags that name a CA
// certificate it signs with. The controller-manager refuses to start when
// such a file holds more than one certificate ("error reading CA cert file:
// expected 1 certificate, found 2"), and phases 1 and 2 turn the CA file
// into a bundle of the old and new CA. kubeadm names ca.crt with
// --cluster-signing-cert-file, and with --client-ca-file of the API server,
// so one file cannot be both until the flag names a copy of its own.
var SigningFlags = []string{
	"cluster-signing-cert-file",
	"cluster-signing-kube-apiserver-client-cert-file",
	"cluster-signing-kubelet-client-cert-file",
	"cluster-signing-kubelet-serving-cert-file",
	"cluster-signing-legacy-unknown-cert-file",
}

// SigningConflict is a signing flag that names the file of a CA a rotation
// would bundle.
type SigningConflict struct {
	CA, Component, Flag, From, Path string
}

func (c SigningConflict) String() string {
	return fmt.Sprintf("%s --%s (%s) names %s, the %s CA file", c.Component, c.Flag, c.From, c.Path, c.CA)
}

// SigningConflicts are the signing flags of comps that name the CA file of a
// rotation in sts still to go through phase 1 or 2 (the file holds both CAs
// until phase 3). Paths are compared resolved, inside the node's root.
func SigningConflicts(n *nodefs.FS, comps []inventory.Component, sts []*Status) []SigningConflict {
	var out []SigningConflict
	for _, st := range sts {
		if st.Phase >= PhaseReissued {
			continue
		}
		out = appendConflicts(out, n, comps, st.Role.Name, st.Role.CertPath)
	}
	return out
}

// SigningBundles are the signing flags of comps that name a file of plan
// whose new contents hold more than one certificate (ca apply of a
// trust-both archive on another node).
func SigningBundles(n *nodefs.FS, comps []inventory.Component, plan *renewal.Plan) []SigningConflict {
	var out []SigningConflict
	for _, it := range plan.Items {
		for _, f := range it.Files {
			if certs, err := pki.ParseCertificatesPEM(f.Data); err == nil && len(certs) > 1 {
				out = appendConflicts(out, n, comps, it.Role.Name, f.Path)
			}
		}
	}
	return out
}

func appendConflicts(out []SigningConflict, n *nodefs.FS, comps []inventory.Component, ca, file string) []SigningConflict {
	caFile := resolved(n, file)
	for _, c := range comps {
		for _, fl := range SigningFlags {
			v, ok := c.Flags[fl]
			if !ok || v == "" || resolved(n, v) != caFile {
				continue
			}
			from := c.Origin
			if f, ok := c.FlagFrom[fl]; ok && f != "" {
				from = f
			}
			sc := SigningConflict{CA: ca, Component: c.Name, Flag: fl, From: from, Path: v}
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	return out
}
