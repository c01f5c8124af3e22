package signer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
)

// A signer that misbehaves: the info endpoint gives the node's real CA (so
// the signer is chosen), then the sign endpoint answers garbage or a
// certificate that is not the one asked for. These servers are fakes
// because a real cfssl serve cannot be made to misbehave; each renew fails
// with a message naming the signer and what is wrong, and the node is not
// changed at all.
func TestRenewWithAMisbehavingSignerChangesNothing(t *testing.T) {
	n := newNode(t)
	ca := n.tree.CAs["ca"]
	other := n.tree.CAs["etcd-ca"] // a real CA, but not the one asked
	apiserver := n.tree.Leaves["apiserver"]
	wrongCA, err := pki.Sign(other, pki.Template{Subject: apiserver.Cert.Subject, DNSNames: apiserver.Cert.DNSNames,
		IPAddresses: apiserver.Cert.IPAddresses, ExtKeyUsage: apiserver.Cert.ExtKeyUsage, NotBefore: apiserver.Cert.NotBefore,
		NotAfter: apiserver.Cert.NotAfter.AddDate(1, 0, 0)}, apiserver.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := pki.GenerateKey(pki.DefaultKeySpec)
	wrongKey, err := pki.Sign(ca, pki.Template{Subject: apiserver.Cert.Subject, NotBefore: apiserver.Cert.NotBefore, NotAfter: apiserver.Cert.NotAfter}, otherKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	answer := func(cert []byte) string {
		b, _ := json.Marshal(map[string]any{"success": true, "result": map[string]string{"certificate": string(cert)}})
		return string(b)
	}
	for _, c := range []struct {
		name, sign, want string
	}{
		{"garbage", "<html><body>502 Bad Gateway</body></html>", "not cfssl's JSON"},
		{"a certificate for another key", answer(pki.EncodeCertificatePEM(wrongKey.Raw)), "another public key"},
		{"a certificate from another CA", answer(pki.EncodeCertificatePEM(wrongCA.Raw)), "does not verify"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/info") {
					_, _ = w.Write([]byte(answer(pki.EncodeCertificatePEM(ca.Cert.Raw))))
					return
				}
				_, _ = w.Write([]byte(c.sign))
			}))
			t.Cleanup(srv.Close)
			before := n.hashes(t)
			code, out := n.certrescue(t, "renew", "apiserver", "--signer", "cfssl", "--signer-url", srv.URL)
			if code == 0 || !strings.Contains(out, c.want) || !strings.Contains(out, srv.URL) {
				t.Fatalf("exit %d, want a failure naming the signer and %q:\n%s", code, c.want, out)
			}
			if n.hashes(t) != before {
				t.Error("the node changed")
			}
		})
	}
}
