package evaluation_test

import (
	"path/filepath"
	"testing"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/testpki"
)

// A remote signer's issuer below the node's CA travels in the leaf's file:
// the leaf chains to the node's ca.crt through it, and check says so; an
// intermediate the node's CA did not sign is still an untrusted chain.
func TestALeafWithItsIntermediateChainsToTheNodesCA(t *testing.T) {
	for _, c := range []struct {
		name      string
		byNodeCA  bool
		untrusted bool
	}{
		{"the intermediate is signed by the node's CA", true, false},
		{"the intermediate is signed by another CA", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{})
			parent := tr.CAs["ca"]
			if !c.byNodeCA {
				parent = testpki.MustCA(t, testpki.WithCN("kubernetes"))
			}
			inter := testpki.MustIntermediate(t, parent, testpki.WithCN("vault-intermediate"))
			old := tr.Leaves["apiserver"]
			leaf := testpki.MustLeaf(t, inter, testpki.WithTemplate(testpki.TemplateFrom(old.Cert)), testpki.WithKey(old.Key))
			testpki.WriteCert(t, filepath.Join(root, "etc/kubernetes/pki/apiserver.crt"), leaf.Cert, inter.Cert)
			r := result(t, check(t, root, evaluation.DefaultPolicy()), "apiserver")
			untrusted := false
			for _, f := range r.Findings {
				untrusted = untrusted || f.Reason == facts.ReasonUntrustedChain
			}
			if untrusted != c.untrusted {
				t.Errorf("untrusted_chain = %v, want %v (findings %+v)", untrusted, c.untrusted, r.Findings)
			}
			if !c.untrusted && r.CA != "ca" {
				t.Errorf("CA column %q, want ca", r.CA)
			}
		})
	}
}
