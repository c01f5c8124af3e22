package health

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
)

// Off disables a component's gate (--gate COMPONENT=off).
const Off = "off"

// Options shape the gates.
type Options struct {
	// Node is the node's disk (nodefs): every file a gate reads goes through it.
	Node *nodefs.FS
	// Root is used to open the node when Node is nil.
	Root string
	// Endpoints override a component's URL: for the API server the base URL
	// (https://10.0.0.1:6443), for the others the whole health URL. Off
	// disables the gate. The credentials are still those derived from the
	// component's flags.
	Endpoints map[string]string
	Timeout   time.Duration // per gate; default 90s
	// Clock gives the time TLS verification uses (the command layer's
	// certificates' clock); crypto/tls's own when nil.
	Clock clock.Clock
	// Hostname is this node's name as its components see it (os.Hostname
	// when ""): the lease gates release only leases held by this node.
	Hostname string
}

// Note says how a component's gate was derived, or why it has none.
type Note struct {
	Component string
	Text      string
	NoGate    bool // the component has no gate: a restart of it is not verified
}

// ForNode derives the gates of every control-plane component the node's
// inventory finds (static pod manifests, systemd units with their drop-ins
// and environment files, k3s and RKE2 servers), from each component's own
// flags. A component without a gate (turned off, not found, or without a
// credential its endpoint accepts) is absent from the map and has a Note
// with NoGate saying why.
func ForNode(r *inventory.Reader, o Options) (map[string][]Gate, []Note) {
	comps, _ := r.Components()
	servers, _ := r.RancherServers()
	if o.Node == nil {
		o.Node = r.Node
	}
	return Derive(comps, servers, o)
}

// Kubeadm is ForNode on the node at o.Root, for callers that have no Reader.
func Kubeadm(o Options) map[string][]Gate {
	g, _ := ForNode(inventory.NewReader(o.Root), o)
	return g
}

// Derive is ForNode on components already read.
func Derive(comps []inventory.Component, servers []inventory.RancherServer, o Options) (map[string][]Gate, []Note) {
	if o.Node == nil {
		o.Node = nodefs.New(o.Root)
	}
	if o.Timeout == 0 {
		o.Timeout = 90 * time.Second
	}
	d := &deriver{f: files{node: o.Node}, o: o, gates: map[string][]Gate{}, byName: map[string]inventory.Component{}}
	for _, c := range comps {
		if _, dup := d.byName[c.Name]; !dup {
			d.byName[c.Name] = c
		}
	}
	for _, name := range layout.RestartOrder {
		override, overridden := o.Endpoints[name]
		if override == Off {
			d.none(name, "turned off with --gate "+name+"=off")
			continue
		}
		c, found := d.byName[name]
		switch {
		case name == layout.KubeAPIServer && !found && len(servers) > 0:
			d.rancher(servers[0], override)
			continue
		case !found && name == layout.Kubelet:
			c = inventory.Component{Name: name} // its defaults are everyone's
		case !found && d.kubeadmFiles(name):
			c = d.kubeadmDefaults(name)
			d.note(name, "no static pod manifest or systemd unit starts %s; its kubeadm files are on the node: probing it as kubeadm's manifest would start it", name)
		case !found && !overridden:
			d.none(name, "no static pod manifest or systemd unit on the node starts "+name+" (pass --gate "+name+"=URL)")
			continue
		case !found:
			c = inventory.Component{Name: name}
		}
		switch name {
		case layout.Etcd:
			d.etcd(c, override)
		case layout.KubeAPIServer:
			d.apiserver(c, override)
		case layout.KubeControllerManager:
			d.selfSigned(c, override, "10257")
			d.lease(c)
		case layout.KubeScheduler:
			d.selfSigned(c, override, "10259")
			d.lease(c)
		case layout.Kubelet:
			d.kubelet(c, override)
		}
	}
	return d.gates, d.notes
}

// now is the TLS verification time function: the clock's Now, nil (crypto/tls's own) without a clock.
func (o Options) now() func() time.Time {
	if o.Clock == nil {
		return nil
	}
	return o.Clock.Now
}

type deriver struct {
	f      files
	o      Options
	gates  map[string][]Gate
	notes  []Note
	byName map[string]inventory.Component
	api    *apiClient // the API server gate's client, for the lease gates
}

func (d *deriver) add(c, name string, p HTTPProbe, ready func() error) {
	d.gates[c] = append(d.gates[c], Gate{Component: c, Name: name, Timeout: d.o.Timeout, Probe: p, Ready: ready})
}

func (d *deriver) note(c, format string, a ...any) {
	d.notes = append(d.notes, Note{Component: c, Text: fmt.Sprintf(format, a...)})
}

func (d *deriver) none(c, why string) {
	d.notes = append(d.notes, Note{Component: c, Text: "no health gate: " + why, NoGate: true})
}

// flagPath is an absolute path flag's value, "" when unset or relative.
func flagPath(c inventory.Component, flag string) string {
	v := strings.TrimSpace(c.Flags[flag])
	if !path.IsAbs(v) {
		return ""
	}
	return path.Clean(v)
}

func (d *deriver) exists(p string) bool { return p != "" && d.f.node.Exists(p) }

// from says where a component was found, for notes.
func from(c inventory.Component) string {
	if c.Origin == "" {
		return "defaults"
	}
	return c.Origin
}

// etcd: /health on one of its --listen-client-urls, with a client
// certificate etcd trusts, serving the --cert-file now on disk.
func (d *deriver) etcd(c inventory.Component, override string) {
	certFile := flagPath(c, "cert-file")
	u, why, ok := etcdURL(c)
	if override != "" {
		u, why, ok = override, "from --gate "+c.Name, true
	}
	if !ok {
		d.none(c.Name, why)
		return
	}
	pu, err := url.Parse(u)
	if err != nil {
		d.none(c.Name, fmt.Sprintf("health URL %q: %v", u, err))
		return
	}
	p := HTTPProbe{URL: u, Body: etcdHealthy}
	name := "etcd " + u
	var caPaths []string
	var client *cred
	if pu.Scheme == "https" {
		caPaths = existing(d, flagPath(c, "trusted-ca-file"))
		api := d.byName[layout.KubeAPIServer]
		caPaths = appendNew(caPaths, existing(d, flagPath(api, "etcd-cafile"))...)
		if len(caPaths) == 0 {
			caPaths = existing(d, layout.PKIDir+"/etcd/ca.crt")
		}
		if len(caPaths) == 0 {
			d.none(c.Name, fmt.Sprintf("%s serves TLS but no CA to verify it with was found (--trusted-ca-file in %s)", u, from(c)))
			return
		}
		clientCAs := d.f.readCAs(existing(d, flagPath(c, "trusted-ca-file")))
		if len(clientCAs) == 0 {
			clientCAs = d.f.readCAs(caPaths)
		}
		cands := []cred{
			{What: layout.PKIDir + "/etcd/healthcheck-client.crt", Cert: layout.PKIDir + "/etcd/healthcheck-client.crt", Key: layout.PKIDir + "/etcd/healthcheck-client.key"},
		}
		if cf, kf := flagPath(api, "etcd-certfile"), flagPath(api, "etcd-keyfile"); cf != "" && kf != "" {
			cands = append(cands, cred{What: cf + " (" + api.Where("etcd-certfile") + ")", Cert: cf, Key: kf})
		}
		if kf := flagPath(c, "key-file"); certFile != "" && kf != "" {
			cands = append(cands, cred{What: certFile + " (etcd's own, " + c.Where("cert-file") + ")", Cert: certFile, Key: kf})
		}
		cands = existingCreds(d, cands)
		if cr, _, found := d.f.trusted(cands, clientCAs); found {
			client = &cr
			name += " as " + cr.What
		} else if c.Flags["client-cert-auth"] == "true" {
			d.none(c.Name, fmt.Sprintf("etcd asks for a client certificate (--client-cert-auth in %s) and none on the node is signed by its --trusted-ca-file", from(c)))
			return
		}
		host := pu.Hostname()
		p.TLS = d.f.tlsFunc(caPaths, client, d.f.serverName(certFile, append([]string{host}, "127.0.0.1", "localhost")...), d.o.now())
		if certFile != "" {
			p.Served = func() (*x509.Certificate, error) { return d.f.cert(certFile) }
		}
	}
	d.add(c.Name, name, p, func() error { return d.f.ready(caPaths, client, certFile) })
	d.note(c.Name, "URL %s", why)
}

// etcdURL picks the client URL to probe: a loopback one first, then one on
// every interface (probed on 127.0.0.1), then any other; https before http.
func etcdURL(c inventory.Component) (string, string, bool) {
	list, set := c.Flags["listen-client-urls"]
	if !set {
		list = "http://localhost:2379" // etcd's default
	}
	type cand struct {
		u    *url.URL
		rank int
	}
	var cands []cand
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
			continue
		}
		host := u.Hostname()
		rank := 2
		switch ip := net.ParseIP(host); {
		case host == "localhost" || ip != nil && ip.IsLoopback():
			rank = 0
		case host == "" || ip != nil && ip.IsUnspecified():
			rank = 1
			u.Host = net.JoinHostPort("127.0.0.1", u.Port())
		}
		if u.Scheme == "http" {
			rank = rank*2 + 1
		} else {
			rank *= 2
		}
		cands = append(cands, cand{u, rank})
	}
	where := "etcd's default listen-client-urls"
	if set {
		where = c.Where("listen-client-urls")
	}
	if len(cands) == 0 {
		return "", "no http(s) URL with a port in " + where, false
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].rank < cands[j].rank })
	u := cands[0].u
	u.Path = "/health"
	return u.String(), "from " + where, true
}

// apiserver: /livez and /readyz on the local address and --secure-port,
// never the load balancer name of a kubeconfig.
func (d *deriver) apiserver(c inventory.Component, override string) {
	host, port, why := apiserverAddr(c)
	if port == "0" {
		d.none(c.Name, "--secure-port=0 in "+from(c)+": no TLS port to probe")
		return
	}
	base := "https://" + net.JoinHostPort(host, port)
	if override != "" {
		base, why = strings.TrimRight(override, "/"), "from --gate "+c.Name
		if u, err := url.Parse(base); err == nil {
			host = u.Hostname()
		}
	}
	served := flagPath(c, "tls-cert-file")
	clientCA := flagPath(c, "client-ca-file")
	caPaths := existing(d, clientCA)
	if len(caPaths) == 0 {
		caPaths = existing(d, layout.PKIDir+"/ca.crt")
	}
	var cands []cred
	// admin.conf (kubeadm), then the root's kubeconfig binary installs write
	// (kubeasz, the hard-way guides' admin), then the components' own.
	for _, kc := range []string{layout.KubernetesDir + "/admin.conf", "/root/.kube/config"} {
		cands = append(cands, cred{What: kc, Kubeconfig: kc})
	}
	for _, other := range []string{layout.KubeControllerManager, layout.KubeScheduler} {
		oc := d.byName[other]
		if kc := flagPath(oc, "kubeconfig"); kc != "" {
			cands = append(cands, cred{What: kc + " (" + oc.Where("kubeconfig") + ")", Kubeconfig: kc})
		}
	}
	if cf, kf := flagPath(c, "kubelet-client-certificate"), flagPath(c, "kubelet-client-key"); cf != "" && kf != "" {
		cands = append(cands, cred{What: cf + " (" + c.Where("kubelet-client-certificate") + ")", Cert: cf, Key: kf})
	}
	cands = existingCreds(d, cands)
	var client *cred
	who := "anonymously"
	if cr, _, ok := d.f.trusted(cands, d.f.readCAs(existing(d, clientCA))); ok {
		client, who = &cr, "as "+cr.What
	} else if c.Flags["anonymous-auth"] == "false" {
		d.none(c.Name, fmt.Sprintf("no client certificate on the node is signed by its --client-ca-file, and --anonymous-auth=false in %s", from(c)))
		return
	}
	if client == nil && len(caPaths) == 0 {
		d.none(c.Name, "no CA to verify the API server with (--client-ca-file in "+from(c)+")")
		return
	}
	serverName := d.f.serverName(served, host, "127.0.0.1", "kubernetes", "localhost")
	tlsf := d.f.tlsFunc(caPaths, client, serverName, d.o.now())
	d.api = &apiClient{base: base, tls: tlsf, who: who, caPaths: caPaths, client: client}
	for _, check := range []string{"/livez", "/readyz"} {
		p := HTTPProbe{URL: base + check, TLS: tlsf}
		if served != "" {
			p.Served = func() (*x509.Certificate, error) { return d.f.cert(served) }
		}
		d.add(c.Name, "kube-apiserver "+base+check+" "+who, p, func() error { return d.f.ready(caPaths, client, served) })
	}
	d.note(c.Name, "address %s; served certificate checked for %q", why, serverName)
	if served == "" {
		d.note(c.Name, "kube-apiserver has no --tls-cert-file in %s: the served certificate is not compared with a file", from(c))
	}
}

// apiserverAddr is where the API server listens locally: a specific
// --bind-address, else the --advertise-address, else 127.0.0.1.
func apiserverAddr(c inventory.Component) (host, port, why string) {
	port = "6443"
	if v := strings.TrimSpace(c.Flags["secure-port"]); v != "" {
		port = v
	}
	if b := strings.TrimSpace(c.Flags["bind-address"]); b != "" && !unspecified(b) {
		return b, port, "from " + c.Where("bind-address")
	}
	if a := strings.TrimSpace(c.Flags["advertise-address"]); a != "" && !unspecified(a) {
		return a, port, "from " + c.Where("advertise-address")
	}
	return "127.0.0.1", port, "listening on every address (" + from(c) + ")"
}

func unspecified(host string) bool {
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsUnspecified()
}

// selfSigned: the controller-manager's and scheduler's /healthz on their
// --secure-port and --bind-address. Without --tls-cert-file they serve a
// certificate made in memory at start, so only the answer is checked; with
// it, the served certificate must be the one on disk.
func (d *deriver) selfSigned(c inventory.Component, override, defPort string) {
	port := defPort
	if v := strings.TrimSpace(c.Flags["secure-port"]); v != "" {
		port = v
	}
	if port == "0" && override == "" {
		d.none(c.Name, "--secure-port=0 in "+from(c)+": no health port")
		return
	}
	host := "127.0.0.1"
	if b := strings.TrimSpace(c.Flags["bind-address"]); b != "" && !unspecified(b) {
		host = b
	}
	u := "https://" + net.JoinHostPort(host, port) + "/healthz"
	if override != "" {
		u = override
	}
	served := flagPath(c, "tls-cert-file")
	p := HTTPProbe{URL: u, TLS: func() (*tls.Config, error) {
		return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil //nolint:gosec // see above: health only, no credentials sent
	}}
	if served != "" {
		p.Served = func() (*x509.Certificate, error) { return d.f.cert(served) }
	}
	d.add(c.Name, c.Name+" "+u, p, func() error { return d.f.ready(nil, nil, served) })
	d.note(c.Name, "address from %s", from(c))
}

// kubelet: its healthz endpoint, from the KubeletConfiguration its --config
// names (or kubeadm's) and its --healthz-* flags.
func (d *deriver) kubelet(c inventory.Component, override string) {
	port, host := "10248", "127.0.0.1"
	where := "the kubelet's defaults"
	cfg := flagPath(c, "config")
	if cfg == "" && d.exists(inventory.KubeletConfigPath) {
		cfg = inventory.KubeletConfigPath
	}
	if cfg != "" {
		if data, err := d.f.node.ReadFile(cfg, inventory.MaxManifestSize); err == nil {
			if hp, hb, err := ParseKubeletHealthz(data.Data); err == nil {
				if hp != "" {
					port, where = hp, "healthzPort in "+cfg
				}
				if hb != "" {
					host = hb
				}
			} else {
				d.note(c.Name, "%s: %v; using the kubelet's default health port", cfg, err)
			}
		}
	}
	if v := strings.TrimSpace(c.Flags["healthz-port"]); v != "" {
		port, where = v, c.Where("healthz-port")
	}
	if v := strings.TrimSpace(c.Flags["healthz-bind-address"]); v != "" {
		host = v
	}
	if unspecified(host) {
		host = "127.0.0.1"
	}
	if port == "0" && override == "" {
		d.none(c.Name, "its health port is disabled ("+where+" is 0)")
		return
	}
	u := "http://" + net.JoinHostPort(host, port) + "/healthz"
	if override != "" {
		u, where = override, "--gate "+c.Name
	}
	d.add(c.Name, "kubelet "+u, HTTPProbe{URL: u}, nil)
	d.note(c.Name, "port from %s", where)
}

func existing(d *deriver, paths ...string) []string {
	var out []string
	for _, p := range paths {
		if d.exists(p) {
			out = append(out, p)
		}
	}
	return out
}

func existingCreds(d *deriver, cands []cred) []cred {
	var out []cred
	for _, c := range cands {
		if c.Kubeconfig != "" && d.exists(c.Kubeconfig) || c.Cert != "" && d.exists(c.Cert) && d.exists(c.Key) {
			out = append(out, c)
		}
	}
	return out
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		found := false
		for _, l := range list {
			if l == m {
				found = true
			}
		}
		if !found {
			list = append(list, m)
		}
	}
	return list
}
