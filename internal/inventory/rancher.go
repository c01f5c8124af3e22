package inventory

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/layout"
)

// Rancher names the server certificates of k3s and RKE2 under
// /var/lib/rancher/{k3s,rke2}/server/tls (the dynamic listener's
// temporary-certs excepted) and the kubeconfigs in server/cred. CAs are the
// *-ca.crt files; each client-*, serving-* and etcd certificate is expected to
// be signed by the CA k3s signs it with.
type Rancher struct{}

// Name is "rancher".
func (Rancher) Name() string { return "rancher" }

// Items lists the k3s and RKE2 files.
func (Rancher) Items(ctx context.Context, r *Reader) ([]Item, error) {
	var items []Item
	for _, dist := range []string{"k3s", "rke2"} {
		base := "/var/lib/rancher/" + dist + "/server"
		tls := base + "/tls"
		entries, err := r.Node.Walk(tls, func(p string) bool { return path.Base(p) == "temporary-certs" })
		if err != nil {
			continue // no such distribution on this node
		}
		items = append(items, rancherTLS(dist, tls, entries)...)
		for _, p := range r.Node.Glob(base + "/cred/*.kubeconfig") {
			it := Item{Name: dist + "/" + strings.TrimSuffix(path.Base(p), ".kubeconfig"), Kind: KindKubeconfig, Path: p,
				Sources: []string{dist}, ExtKeyUsage: clientUsage, CA: CARef{Path: tls + "/client-ca.crt"}, Components: rancherComponents()}
			items = append(items, it)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return items, nil
}

func rancherTLS(dist, tls string, entries []Entry) []Item {
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Path] = true
	}
	var items []Item
	for _, e := range entries {
		if e.Type.IsDir() {
			it := Item{Name: dist + "/" + strings.TrimPrefix(e.Path, tls+"/"), Kind: KindFile, Path: e.Path, Sources: []string{dist}}
			it.problem("unreadable", e.Path, "directory", fs.ErrPermission)
			items = append(items, it)
			continue
		}
		rel := strings.TrimPrefix(e.Path, tls+"/")
		switch {
		case strings.HasSuffix(rel, ".crt"):
			stem := strings.TrimSuffix(rel, ".crt")
			it := Item{Name: dist + "/" + stem, Kind: KindCertificate, Path: e.Path, Sources: []string{dist}, Components: rancherComponents()}
			if names[tls+"/"+stem+".key"] {
				it.KeyPath = tls + "/" + stem + ".key"
			}
			rancherRole(&it, tls, stem)
			items = append(items, it)
		case strings.HasSuffix(rel, ".key"):
			stem := strings.TrimSuffix(rel, ".key")
			if !names[tls+"/"+stem+".crt"] {
				items = append(items, Item{Name: dist + "/" + stem + ".key", Kind: KindKey, Path: e.Path, Sources: []string{dist}})
			}
		}
	}
	return items
}

// rancherComponents is what must restart to load a k3s or RKE2 server file:
// the one server process, which runs (k3s) or supervises and rewrites (RKE2)
// the whole control plane. certrescue restarts and gates it as the API
// server (package restart maps that to k3s.service or rke2-server.service).
func rancherComponents() []string { return []string{layout.KubeAPIServer} }

func rancherRole(it *Item, tls, stem string) {
	base := path.Base(stem)
	switch {
	case strings.HasSuffix(base, "-ca"):
		it.IsCA = true
	case stem == "client-auth-proxy":
		it.ExtKeyUsage, it.CA.Path = clientUsage, tls+"/request-header-ca.crt"
	case strings.HasPrefix(stem, "client-"):
		it.ExtKeyUsage, it.CA.Path = clientUsage, tls+"/client-ca.crt"
	case stem == "serving-kube-apiserver":
		it.Role, it.ExtKeyUsage, it.CA.Path = "apiserver", serverUsage, tls+"/server-ca.crt"
	case strings.HasPrefix(stem, "serving-"):
		it.ExtKeyUsage, it.CA.Path = serverUsage, tls+"/server-ca.crt"
	case strings.HasPrefix(stem, "etcd/peer-"):
		it.ExtKeyUsage, it.CA.Path = both, tls+"/etcd/peer-ca.crt"
	case stem == "etcd/client":
		it.ExtKeyUsage, it.CA.Path = clientUsage, tls+"/etcd/server-ca.crt"
	case strings.HasPrefix(stem, "etcd/"):
		it.ExtKeyUsage, it.CA.Path = both, tls+"/etcd/server-ca.crt"
	}
}

// RancherServer is a k3s or RKE2 server on the node: the one service that
// runs (k3s) or supervises (RKE2, whose control plane runs as static pods)
// the whole control plane, and what its configuration says.
type RancherServer struct {
	Dist string // "k3s" or "rke2"
	// Unit is the service that runs it: k3s.service or rke2-server.service.
	Unit string
	// Origin is the node path of the unit file, "" when only the data
	// directory was found.
	Origin string
	// Config is the server's configuration by flag name: config.yaml, then
	// config.yaml.d/*.yaml in name order, then the unit's ExecStart flags
	// (the command line wins, as in k3s). Lists are joined with commas.
	Config map[string]string
	// Files are the node paths Config was read from, for messages.
	Files []string
	// DataDir is the server's data directory (data-dir, default
	// /var/lib/rancher/DIST).
	DataDir string
	// Kubeconfig is the admin kubeconfig it writes (write-kubeconfig,
	// default /etc/rancher/DIST/DIST.yaml).
	Kubeconfig string
}

// Where describes a configuration key for messages.
func (s RancherServer) Where(key string) string {
	return s.Dist + " " + key + " (" + strings.Join(s.Files, ", ") + ")"
}

// rancherUnits are the server units of each distribution.
var rancherUnits = map[string]string{"k3s": "k3s.service", "rke2": "rke2-server.service"}

// RancherServers finds the k3s and RKE2 servers of the node: a server unit,
// or a server data directory, of either distribution. Files that cannot be
// read or parsed are returned as KindFile items.
func (r *Reader) RancherServers() ([]RancherServer, []Item) {
	var out []RancherServer
	var bad []Item
	for _, dist := range []string{"k3s", "rke2"} {
		s := RancherServer{Dist: dist, Unit: rancherUnits[dist], Config: map[string]string{}}
		var cmdline map[string]string
		for _, dir := range unitDirs {
			p := path.Join(dir, s.Unit)
			if !r.Node.Exists(p) {
				continue
			}
			u, _, _, _, it := r.readUnit(p, s.Unit)
			if it != nil {
				bad = append(bad, *it)
				break
			}
			s.Origin = p
			for _, argv := range u.ExecStart {
				if len(argv) > 0 && path.Base(argv[0]) == dist {
					cmdline = ParseFlags(argv[1:])
				}
			}
			break
		}
		cfg := "/etc/rancher/" + dist + "/config.yaml"
		if v, ok := cmdline["config"]; ok && path.IsAbs(v) {
			cfg = path.Clean(v)
		}
		files := []string{cfg}
		files = append(files, r.Node.Glob(cfg+".d/*.yaml")...)
		for _, f := range files {
			if !r.Node.Exists(f) {
				continue
			}
			it := Item{Name: path.Base(f), Kind: KindFile, Path: f, Sources: []string{dist}}
			rf := r.readFor(&it, f, dist+" configuration", MaxManifestSize, true)
			if rf == nil {
				bad = append(bad, it)
				continue
			}
			kv, err := ParseRancherConfig(rf.Data)
			if err != nil {
				it.problem(facts.ReasonMalformed, f, dist+" configuration", err)
				bad = append(bad, it)
				continue
			}
			for k, v := range kv {
				s.Config[k] = v
			}
			s.Files = append(s.Files, f)
		}
		for k, v := range cmdline {
			s.Config[k] = v
		}
		if s.Origin != "" {
			s.Files = append(s.Files, s.Origin)
		}
		s.DataDir = "/var/lib/rancher/" + dist
		if v := s.Config["data-dir"]; path.IsAbs(v) {
			s.DataDir = path.Clean(v)
		}
		s.Kubeconfig = "/etc/rancher/" + dist + "/" + dist + ".yaml"
		if v := s.Config["write-kubeconfig"]; path.IsAbs(v) {
			s.Kubeconfig = path.Clean(v)
		}
		if s.Origin == "" && !r.Node.Exists(s.DataDir+"/server/tls") {
			continue // no such server on this node
		}
		out = append(out, s)
	}
	return out, bad
}

// ParseRancherConfig reads a k3s or RKE2 config.yaml: a flat map of flag
// names (without dashes) to values. A trailing "+" on a key (append to the
// list) is dropped; lists are joined with commas, as the repeated flag would
// be; nested values are ignored.
func ParseRancherConfig(data []byte) (map[string]string, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d-byte limit for a configuration file", ErrTooLarge, len(data), MaxManifestSize)
	}
	var m map[string]any
	if err := unmarshalYAML(data, &m); err != nil {
		return nil, fmt.Errorf("not a configuration file: %w", err)
	}
	out := map[string]string{}
	for k, v := range m {
		k = strings.TrimSuffix(strings.TrimSpace(k), "+")
		switch v := v.(type) {
		case []any:
			var parts []string
			for _, e := range v {
				if s, ok := scalar(e); ok {
					parts = append(parts, s)
				}
			}
			out[k] = strings.Join(parts, ",")
		default:
			if s, ok := scalar(v); ok {
				out[k] = s
			}
		}
	}
	return out, nil
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(v), true
	case nil:
		return "", true
	}
	return "", false
}
