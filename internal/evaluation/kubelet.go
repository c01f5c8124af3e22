package evaluation

import (
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// checkKubelet raises what keeps the kubelet's own rotation from working:
// a store it cannot rotate (kubelet_rotation_stuck) and a kubelet.conf that
// embeds its client certificate (kubelet_client_embedded).
func (e *evaluator) checkKubelet(it *inventory.Item, add addFunc) {
	leaf := it.Leaf()
	if st := it.Store; st != nil && leaf != nil && it.Role == "kubelet-client" {
		switch {
		case !st.Link:
			add(facts.ReasonKubeletRotationStuck, facts.SeverityWarning, it.Path,
				"%s is a regular file, not the kubelet's symbolic link to a dated pair: the kubelet refuses to rotate it; 'certrescue kubelet install' puts the link back", it.Path)
		case e.now.After(leaf.NotAfter) && st.Newest != "" && !e.now.Before(st.NewestNotBefore) && e.now.Before(st.NewestNotAfter):
			add(facts.ReasonKubeletRotationStuck, facts.SeverityCritical, it.Path,
				"%s names %s, expired %s, while %s beside it is valid until %s: the switch never happened; point the link at it (kubelet install) and restart the kubelet",
				it.Path, orDefault(it.Resolved, it.Path), fmtTime(leaf.NotAfter), st.Newest, fmtTime(st.NewestNotAfter))
		}
	}
	if it.Kind == inventory.KindKubeconfig && it.Role == "kubelet.conf" && it.Kubeconfig != nil && it.Kubeconfig.CertEmbedded && leaf != nil &&
		it.Store != nil && it.Store.Current != nil && it.Store.Current.Equal(leaf) {
		add(facts.ReasonKubeletClientEmbedded, facts.SeverityWarning, it.Path,
			"%s embeds the kubelet's client certificate, and the kubelet's store holds that same certificate: the kubelet started from it and never rotated; when it expires %s nothing replaces it; 'certrescue kubelet install' (or kubelet renew) points kubelet.conf at /var/lib/kubelet/pki/kubelet-client-current.pem",
			it.Path, fmtTime(leaf.NotAfter))
	}
}
