package inventory

import (
	"crypto/x509"
	"net"
	"net/netip"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/certrescue/certrescue/internal/layout"
)

// pairFlag is a certificate flag, its key flag, the flag naming the CA that
// should sign it, and the kubeadm role it plays.
type pairFlag struct {
	cert, key, ca string
	role          string
	usage         []x509.ExtKeyUsage // when role is ""
}

// caFlag is a flag naming a CA certificate, and the role of that CA.
type caFlag struct{ flag, role string }

type componentFlags struct {
	pairs      []pairFlag
	cas        []caFlag
	kubeconfig map[string]string // flag -> kubeadm kubeconfig role ("" for none)
	saKey      []string          // flags naming the service-account private key
	saPub      []string          // flags naming the service-account public key
}

var (
	serverUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both        = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
)

// knownFlags are the certificate flags of each component, as kubeadm's static
// pod manifests and the usual binary installs set them. The CA flag of a pair
// is the component's own view of that CA; on a kubeadm node it is the file
// that signs the certificate.
var knownFlags = map[string]componentFlags{
	layout.KubeAPIServer: {
		pairs: []pairFlag{
			{cert: "tls-cert-file", key: "tls-private-key-file", ca: "client-ca-file", role: "apiserver"},
			{cert: "kubelet-client-certificate", key: "kubelet-client-key", ca: "client-ca-file", role: "apiserver-kubelet-client"},
			{cert: "etcd-certfile", key: "etcd-keyfile", ca: "etcd-cafile", role: "apiserver-etcd-client"},
			{cert: "proxy-client-cert-file", key: "proxy-client-key-file", ca: "requestheader-client-ca-file", role: "front-proxy-client"},
		},
		cas: []caFlag{{"client-ca-file", "ca"}, {"etcd-cafile", "etcd-ca"}, {"requestheader-client-ca-file", "front-proxy-ca"},
			{"kubelet-certificate-authority", ""}, {"oidc-ca-file", ""}},
		saKey: []string{"service-account-signing-key-file"},
		saPub: []string{"service-account-key-file"},
	},
	layout.Etcd: {
		pairs: []pairFlag{
			{cert: "cert-file", key: "key-file", ca: "trusted-ca-file", role: "etcd-server"},
			{cert: "peer-cert-file", key: "peer-key-file", ca: "peer-trusted-ca-file", role: "etcd-peer"},
		},
		cas: []caFlag{{"trusted-ca-file", "etcd-ca"}, {"peer-trusted-ca-file", "etcd-ca"}},
	},
	layout.KubeControllerManager: {
		pairs: []pairFlag{
			{cert: "cluster-signing-cert-file", key: "cluster-signing-key-file", role: "ca"},
			{cert: "tls-cert-file", key: "tls-private-key-file", usage: serverUsage},
		},
		cas:        []caFlag{{"root-ca-file", "ca"}, {"client-ca-file", "ca"}, {"requestheader-client-ca-file", "front-proxy-ca"}},
		kubeconfig: map[string]string{"kubeconfig": "controller-manager.conf", "authentication-kubeconfig": "controller-manager.conf", "authorization-kubeconfig": "controller-manager.conf"},
		saKey:      []string{"service-account-private-key-file"},
	},
	layout.KubeScheduler: {
		pairs:      []pairFlag{{cert: "tls-cert-file", key: "tls-private-key-file", usage: serverUsage}},
		cas:        []caFlag{{"client-ca-file", "ca"}, {"requestheader-client-ca-file", "front-proxy-ca"}},
		kubeconfig: map[string]string{"kubeconfig": "scheduler.conf", "authentication-kubeconfig": "scheduler.conf", "authorization-kubeconfig": "scheduler.conf"},
	},
	layout.Kubelet: {
		pairs:      []pairFlag{{cert: "tls-cert-file", key: "tls-private-key-file", role: "kubelet-serving", usage: serverUsage}},
		cas:        []caFlag{{"client-ca-file", "ca"}},
		kubeconfig: map[string]string{"kubeconfig": "kubelet.conf"},
	},
	"kube-proxy": {
		kubeconfig: map[string]string{"kubeconfig": ""},
	},
}

// componentItems turns a component's certificate flags into items. Flags it
// does not know but whose names say "certificate", "key", "CA" or
// "kubeconfig" are read too, so unusual installs are still covered.
func componentItems(c Component) []Item {
	known := knownFlags[c.Name]
	used := map[string]bool{}
	var items []Item
	src := func(flag string) []string { return []string{c.Where(flag)} }
	abs := func(flag string) (string, bool) {
		v, ok := c.Flags[flag]
		v = strings.TrimSpace(v)
		return path.Clean(v), ok && path.IsAbs(v)
	}
	caPath := func(flag string) string {
		if flag == "" {
			return ""
		}
		p, _ := abs(flag)
		if _, ok := c.Flags[flag]; !ok {
			return ""
		}
		return p
	}
	for _, pf := range known.pairs {
		cert, ok := abs(pf.cert)
		used[pf.cert], used[pf.key] = true, true
		if !ok {
			continue
		}
		it := Item{Kind: KindCertificate, Path: cert, Sources: src(pf.cert), Components: []string{c.Name}}
		if key, ok := abs(pf.key); ok {
			it.KeyPath = key
		}
		applyRole(&it, pf.role, pf.usage)
		if p := caPath(pf.ca); p != "" && !it.IsCA {
			it.CA.Path, it.caExplicit = p, true
		}
		if it.Name == "" {
			it.Name = c.Name + "-" + strings.TrimSuffix(pf.cert, "-file")
		}
		items = append(items, it)
	}
	for _, cf := range known.cas {
		used[cf.flag] = true
		if p, ok := abs(cf.flag); ok {
			it := Item{Kind: KindCertificate, Path: p, Sources: src(cf.flag), Components: []string{c.Name}, IsCA: true}
			applyRole(&it, cf.role, nil)
			it.IsCA = true
			if it.Name == "" {
				it.Name = strings.TrimSuffix(path.Base(p), path.Ext(p))
			}
			items = append(items, it)
		}
	}
	for _, flag := range sortedKeys(known.kubeconfig) { // in a fixed order: merged items list their sources the same way every scan
		role := known.kubeconfig[flag]
		used[flag] = true
		if p, ok := abs(flag); ok {
			items = append(items, kubeconfigItem(p, role, src(flag), c.Name))
		}
	}
	items = append(items, saItems(c, known, used, abs, src)...)
	items = append(items, guessedItems(c, used, abs, src)...)
	return items
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func kubeconfigItem(p, role string, sources []string, component string) Item {
	it := Item{Kind: KindKubeconfig, Path: p, Sources: sources, Components: []string{component}}
	if r, ok := layout.KubeadmRole(role); ok && r.CertPath == p {
		applyRole(&it, role, nil)
	} else {
		it.Name = path.Base(p)
		it.ExtKeyUsage = clientUsage
		it.CA = CARef{Name: "ca"}
	}
	return it
}

func saItems(c Component, known componentFlags, used map[string]bool, abs func(string) (string, bool), src func(string) []string) []Item {
	var items []Item
	var keyPath, pubPath string
	var sources []string
	for _, f := range known.saKey {
		used[f] = true
		if p, ok := abs(f); ok {
			keyPath = p
			sources = append(sources, src(f)...)
		}
	}
	for _, f := range known.saPub {
		used[f] = true
		if p, ok := abs(f); ok {
			pubPath = p
			sources = append(sources, src(f)...)
		}
	}
	if keyPath == "" && pubPath == "" {
		return nil
	}
	it := Item{Name: "sa", Role: "sa", Kind: KindKeyPair, Path: keyPath, PubPath: pubPath, Sources: sources, Components: []string{c.Name}}
	if r, ok := layout.KubeadmRole("sa"); ok {
		if keyPath == "" && pubPath == r.PubPath {
			it.Path = r.KeyPath // the apiserver names only sa.pub; kubeadm's sa.key is beside it
			it.Optional = true
		}
		if pubPath == "" && keyPath == r.KeyPath {
			it.PubPath = r.PubPath
		}
	}
	if it.Path == "" {
		it.Path = pubPath // the key pair is known by its public half only
	}
	items = append(items, it)
	return items
}

// guessedItems reads certificate-looking flags no table names.
func guessedItems(c Component, used map[string]bool, abs func(string) (string, bool), src func(string) []string) []Item {
	var items []Item
	names := make([]string, 0, len(c.Flags))
	for flag := range c.Flags {
		names = append(names, flag)
	}
	sort.Strings(names)
	for _, flag := range names {
		if used[flag] {
			continue
		}
		p, ok := abs(flag)
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(flag, "kubeconfig"):
			items = append(items, kubeconfigItem(p, "", src(flag), c.Name))
		case strings.HasSuffix(flag, "ca-file") || strings.HasSuffix(flag, "cafile") || strings.HasSuffix(flag, "-ca"):
			items = append(items, Item{Name: strings.TrimSuffix(path.Base(p), path.Ext(p)), Kind: KindCertificate, Path: p, IsCA: true,
				Sources: src(flag), Components: []string{c.Name}})
		case strings.HasSuffix(flag, "cert-file") || strings.HasSuffix(flag, "certfile") || strings.HasSuffix(flag, "certificate"):
			it := Item{Name: c.Name + "-" + flag, Kind: KindCertificate, Path: p, Sources: src(flag), Components: []string{c.Name}}
			for _, kf := range keyFlagsFor(flag) {
				if k, ok := abs(kf); ok {
					it.KeyPath = k
					used[kf] = true
					break
				}
			}
			items = append(items, it)
		}
	}
	return items
}

func keyFlagsFor(certFlag string) []string {
	r := strings.NewReplacer("cert-file", "key-file", "certfile", "keyfile", "certificate", "key")
	k := r.Replace(certFlag)
	return []string{k, strings.Replace(certFlag, "cert-file", "private-key-file", 1)}
}

// applyRole copies a kubeadm role's expectations into an item.
func applyRole(it *Item, role string, usage []x509.ExtKeyUsage) {
	it.ExtKeyUsage = usage
	if role == "" {
		return
	}
	it.Name, it.Role = role, role
	r, ok := layout.KubeadmRole(role)
	if !ok {
		return
	}
	it.IsCA = r.Kind == layout.KindCA
	it.ExtKeyUsage = r.ExtKeyUsage
	it.Organization = r.Organization
	if r.CA != "" {
		it.CA.Name = r.CA
	}
}

// expectedSANs says which names the serving certificates named by a
// component's flags must carry.
func expectedSANs(c Component) map[string][]ExpectedSAN {
	out := map[string][]ExpectedSAN{}
	switch c.Name {
	case layout.KubeAPIServer:
		if v, ok := c.Flags["advertise-address"]; ok && v != "" {
			out["apiserver"] = append(out["apiserver"], ExpectedSAN{Value: v, Why: c.Where("advertise-address")})
		}
		if v, ok := c.Flags["service-cluster-ip-range"]; ok {
			for _, cidr := range strings.Split(v, ",") {
				if ip, ok := firstServiceIP(strings.TrimSpace(cidr)); ok {
					out["apiserver"] = append(out["apiserver"], ExpectedSAN{Value: ip, Why: "service IP: first address of " + c.Where("service-cluster-ip-range")})
				}
			}
		}
	case layout.Etcd:
		for _, u := range urlHosts(c.Flags["advertise-client-urls"]) {
			out["etcd-server"] = append(out["etcd-server"], ExpectedSAN{Value: u, Why: c.Where("advertise-client-urls")})
		}
		for _, u := range urlHosts(c.Flags["initial-advertise-peer-urls"]) {
			out["etcd-peer"] = append(out["etcd-peer"], ExpectedSAN{Value: u, Why: c.Where("initial-advertise-peer-urls")})
		}
	}
	return out
}

// firstServiceIP is the first usable address of a service CIDR: the
// kubernetes Service's ClusterIP.
func firstServiceIP(cidr string) (string, bool) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", false
	}
	return p.Masked().Addr().Next().String(), true
}

func urlHosts(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Hostname() == "" {
			continue
		}
		h := u.Hostname()
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			continue
		}
		out = append(out, h)
	}
	return out
}
