package inventory

import (
	"context"
	"fmt"
	"path"

	"github.com/certrescue/certrescue/internal/facts"

	"github.com/certrescue/certrescue/internal/layout"
)

// Kubeadm names the files of layout.Kubeadm (except the kubelet's, which
// Kubelet names): /etc/kubernetes/pki, the kubeconfigs of /etc/kubernetes and
// the sa.key/sa.pub pair. Absent files are not problems: not every node is a
// kubeadm control-plane node.
type Kubeadm struct{}

// Name is "kubeadm".
func (Kubeadm) Name() string { return "kubeadm" }

// Items lists the kubeadm roles.
func (Kubeadm) Items(ctx context.Context, _ *Reader) ([]Item, error) {
	var items []Item
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindBundle {
			continue
		}
		items = append(items, roleItem(r, "kubeadm"))
	}
	return items, ctx.Err()
}

func roleItem(r layout.Role, source string) Item {
	it := Item{Name: r.Name, Role: r.Name, Path: r.CertPath, KeyPath: r.KeyPath, Optional: true,
		Sources: []string{source}, Components: append([]string(nil), r.Components...),
		ExtKeyUsage: r.ExtKeyUsage, Organization: r.Organization}
	switch r.Kind {
	case layout.KindCA:
		it.Kind, it.IsCA = KindCertificate, true
	case layout.KindLeaf, layout.KindBundle:
		it.Kind = KindCertificate
	case layout.KindKubeconfig:
		it.Kind, it.KeyPath = KindKubeconfig, ""
	case layout.KindKeyPair:
		it.Kind, it.Path, it.PubPath = KindKeyPair, r.KeyPath, r.PubPath
	}
	if ca, ok := layout.KubeadmRole(r.CA); ok {
		it.CA = CARef{Name: ca.Name, Path: ca.CertPath}
	}
	return it
}

// Kubelet names the kubelet's certificates: kubelet-client-current.pem (and,
// through it, the dated file it links to), the serving certificate
// kubelet.crt/kubelet.key it makes for itself, and kubelet-server-current.pem
// when serving certificates are bootstrapped. The directory is
// /var/lib/kubelet/pki unless the kubelet's --cert-dir says otherwise.
type Kubelet struct{}

// Name is "kubelet".
func (Kubelet) Name() string { return "kubelet" }

// Items lists the kubelet's files.
func (Kubelet) Items(ctx context.Context, r *Reader) ([]Item, error) {
	dirs := []string{layout.KubeletPKIDir}
	configs := []string{KubeletConfigPath}
	comps, _ := r.Components()
	for _, c := range comps {
		if c.Name != layout.Kubelet {
			continue
		}
		if v, ok := c.Flags["cert-dir"]; ok && path.IsAbs(v) && v != layout.KubeletPKIDir {
			dirs = append(dirs, path.Clean(v))
		}
		if v, ok := c.Flags["config"]; ok && path.IsAbs(v) && v != KubeletConfigPath {
			configs = append(configs, path.Clean(v))
		}
	}
	var items []Item
	for _, p := range configs {
		items = append(items, r.kubeletConfigItems(p)...)
	}
	client, _ := layout.KubeadmRole("kubelet-client")
	for _, dir := range dirs {
		c := roleItem(client, "kubelet")
		c.Path, c.KeyPath = path.Join(dir, "kubelet-client-current.pem"), ""
		serving := Item{Name: "kubelet-serving", Role: "kubelet-serving", Kind: KindCertificate, Optional: true,
			Path: path.Join(dir, "kubelet.crt"), KeyPath: path.Join(dir, "kubelet.key"),
			Sources: []string{"kubelet"}, Components: []string{layout.Kubelet}, ExtKeyUsage: serverUsage}
		bootstrapped := serving
		bootstrapped.Path, bootstrapped.KeyPath = path.Join(dir, "kubelet-server-current.pem"), ""
		bootstrapped.CA = CARef{Name: "ca"}
		items = append(items, c, serving, bootstrapped)
	}
	return items, ctx.Err()
}

// KubeletConfigPath is where kubeadm writes the KubeletConfiguration.
const KubeletConfigPath = "/var/lib/kubelet/config.yaml"

// kubeletConfig is what certrescue reads of a KubeletConfiguration.
type kubeletConfig struct {
	TLSCertFile       string `yaml:"tlsCertFile"`
	TLSPrivateKeyFile string `yaml:"tlsPrivateKeyFile"`
	Authentication    struct {
		X509 struct {
			ClientCAFile string `yaml:"clientCAFile"`
		} `yaml:"x509"`
	} `yaml:"authentication"`
}

// ParseKubeletConfig reads the certificate fields of a KubeletConfiguration.
func ParseKubeletConfig(data []byte) (certFile, keyFile, clientCAFile string, err error) {
	if len(data) > MaxManifestSize {
		return "", "", "", fmt.Errorf("%w: %d bytes, more than the %d-byte limit", ErrTooLarge, len(data), MaxManifestSize)
	}
	var c kubeletConfig
	if err := unmarshalYAML(data, &c); err != nil {
		return "", "", "", fmt.Errorf("not a KubeletConfiguration: %w", err)
	}
	return c.TLSCertFile, c.TLSPrivateKeyFile, c.Authentication.X509.ClientCAFile, nil
}

// kubeletConfigItems names the serving certificate and client CA a
// KubeletConfiguration points at; an absent file is not a finding.
func (r *Reader) kubeletConfigItems(p string) []Item {
	if !r.Node.Exists(p) {
		return nil
	}
	it := Item{Name: path.Base(p), Kind: KindFile, Path: p, Sources: []string{"kubelet"}}
	f := r.readFor(&it, p, "kubelet configuration", MaxManifestSize, true)
	if f == nil {
		return []Item{it}
	}
	cert, key, ca, err := ParseKubeletConfig(f.Data)
	if err != nil {
		it.problem(facts.ReasonMalformed, p, "kubelet configuration", err)
		return []Item{it}
	}
	src := []string{"kubelet " + p}
	var items []Item
	if path.IsAbs(ca) {
		c := Item{Kind: KindCertificate, Path: path.Clean(ca), Sources: src, Components: []string{layout.Kubelet}}
		applyRole(&c, "ca", nil)
		items = append(items, c)
	}
	if path.IsAbs(cert) {
		s := Item{Name: "kubelet-serving", Role: "kubelet-serving", Kind: KindCertificate, Path: path.Clean(cert),
			Sources: src, Components: []string{layout.Kubelet}, ExtKeyUsage: serverUsage}
		if path.IsAbs(key) {
			s.KeyPath = path.Clean(key)
		}
		items = append(items, s)
	}
	return items
}

// Manifests names every certificate, key, CA and kubeconfig that the static
// pod manifests in /etc/kubernetes/manifests pass to their components, and
// the SANs the serving certificates must carry (the API server's advertise
// address and service IP, etcd's advertised URLs).
type Manifests struct{}

// Name is "manifests".
func (Manifests) Name() string { return "manifests" }

// Items lists what the manifests name.
func (Manifests) Items(ctx context.Context, r *Reader) ([]Item, error) {
	return fromComponents(ctx, r, func(c Component) bool { return isUnder(c.Origin, layout.ManifestsDir) }, func(it Item) bool {
		return it.Kind == KindFile && isUnder(it.Path, layout.ManifestsDir)
	})
}

// Systemd names what the ExecStart lines of the Kubernetes and etcd systemd
// units (kube-*.service, kubelet.service, etcd.service and their drop-ins)
// pass to their binaries, so binary installs are covered.
type Systemd struct{}

// Name is "systemd".
func (Systemd) Name() string { return "systemd" }

// Items lists what the units name.
func (Systemd) Items(ctx context.Context, r *Reader) ([]Item, error) {
	return fromComponents(ctx, r, func(c Component) bool { return !isUnder(c.Origin, layout.ManifestsDir) }, func(it Item) bool {
		return it.Kind == KindFile && !isUnder(it.Path, layout.ManifestsDir)
	})
}

func fromComponents(ctx context.Context, r *Reader, pick func(Component) bool, pickBad func(Item) bool) ([]Item, error) {
	comps, bad := r.Components()
	var items []Item
	for _, it := range bad {
		if pickBad(it) {
			items = append(items, it)
		}
	}
	sans := map[string][]ExpectedSAN{}
	for _, c := range comps {
		for role, s := range expectedSANs(c) {
			sans[role] = append(sans[role], s...)
		}
	}
	for _, c := range comps {
		if !pick(c) {
			continue
		}
		for _, it := range componentItems(c) {
			it.ExpectSANs = append(it.ExpectSANs, sans[it.Role]...)
			items = append(items, it)
		}
	}
	return items, ctx.Err()
}
