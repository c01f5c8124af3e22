package carotation

import (
	"fmt"
	"slices"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/nodefs"
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
		caFile := resolved(n, st.Role.CertPath)
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
				sc := SigningConflict{CA: st.Role.Name, Component: c.Name, Flag: fl, From: from, Path: v}
				if !slices.Contains(out, sc) {
					out = append(out, sc)
				}
			}
		}
	}
	return out
}
