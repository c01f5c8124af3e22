package exporter

import (
	"crypto/x509"
	"path"
	"strings"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeconfig"
)

// entriesOf turns a read item into its series: one Entry per certificate, and
// an error Entry where a certificate should be and could not be read.
// clusters holds the kubeconfig's cluster name (embedded_key of its CA).
func entriesOf(it *inventory.Item, clusters map[string][]string) []Entry {
	var out []Entry
	add := func(loc Location, certs []*x509.Certificate) {
		for i, c := range certs {
			ct := CertOf(c)
			out = append(out, Entry{Loc: loc, Cert: &ct, InChain: i > 0})
		}
	}
	switch it.Kind {
	case inventory.KindCertificate:
		add(Location{Path: it.Path}, it.Certs)
	case inventory.KindKubeconfig:
		if k := it.Kubeconfig; k != nil {
			user := Location{Path: k.CertPath}
			if k.CertEmbedded {
				user = Location{Path: it.Path, EmbeddedKind: "user", EmbeddedKey: k.User}
			}
			add(user, it.Certs)
			ca := Location{Path: k.CAPath}
			if k.CAEmbedded {
				ca = Location{Path: it.Path, EmbeddedKind: "cluster"}
				if c := clusters[it.Path]; len(c) > 0 {
					ca.EmbeddedKey = c[0]
				}
			}
			add(ca, k.CACerts)
		}
	}
	for _, p := range it.Problems {
		if loc, ok := certProblemLocation(it, p); ok {
			out = append(out, Entry{Loc: loc, Err: p.Reason})
		}
	}
	return out
}

// certProblemLocation says where a problem puts an x509_cert_error series:
// at a certificate that could not be read, not at a key or a public key
// (those are findings only).
func certProblemLocation(it *inventory.Item, p inventory.Problem) (Location, bool) {
	what := strings.TrimSuffix(p.What, "-data")
	switch {
	case it.Kind == inventory.KindFile:
		return Location{Path: p.Path}, true
	case what == "certificate" && it.Kind == inventory.KindCertificate, what == "kubeconfig":
		return Location{Path: p.Path}, true
	case what == "client-certificate" || what == "certificate-authority":
		if !strings.HasSuffix(p.What, "-data") {
			return Location{Path: p.Path}, true
		}
		loc := Location{Path: it.Path, EmbeddedKind: "user"}
		if it.Kubeconfig != nil {
			loc.EmbeddedKey = it.Kubeconfig.User
		}
		if what == "certificate-authority" {
			loc = Location{Path: it.Path, EmbeddedKind: "cluster"}
		}
		return loc, true
	}
	return Location{}, false
}

// timeReason reports the reasons that depend on the clock: the Collector
// computes them at scrape time, so a cached evaluation never goes stale.
func timeReason(r facts.Reason) bool {
	return r == facts.ReasonExpired || r == facts.ReasonNotYetValid || r == facts.ReasonExpiring
}

// clusterNames reads the cluster name of each kubeconfig (the embedded_key
// of its CA's series), which the inventory does not keep.
func clusterNames(r *inventory.Reader, items []inventory.Item) map[string][]string {
	var out map[string][]string
	for _, it := range items {
		if it.Kind != inventory.KindKubeconfig || it.Kubeconfig == nil || !it.Kubeconfig.CAEmbedded {
			continue
		}
		f, err := r.Node.ReadFile(it.Path, kubeconfig.MaxSize)
		if err != nil {
			continue
		}
		kc, err := kubeconfig.Parse(f.Data, path.Dir(it.Path), func(string) ([]byte, error) { return nil, errNotRead })
		if err != nil {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[it.Path] = []string{kc.Cluster}
	}
	return out
}

type notRead struct{}

func (notRead) Error() string { return "not read" }

var errNotRead error = notRead{}
