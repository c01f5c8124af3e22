package inventory

import (
	"path"
	"strings"
)

// Component is a Kubernetes component as a static pod manifest or a systemd
// unit starts it: its name and its command-line flags.
type Component struct {
	Name   string // kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, ...
	Origin string // node path of the manifest or unit that starts it
	// Unit is the systemd unit that starts it ("kube-apiserver.service"), ""
	// for a static pod.
	Unit string
	// Flags by name without dashes; a repeated flag keeps its last value, as
	// pflag does for strings.
	Flags map[string]string
	// FlagFrom says where a flag not on the command line came from, for
	// messages ("ETCD_CERT_FILE in /etc/etcd.env"); Origin for the others.
	FlagFrom map[string]string
	// Files are the node paths its command line is read from: the manifest;
	// a unit, its drop-ins and its EnvironmentFile= files (flagedit changes
	// a flag in the one that holds it).
	Files []string
}

// StaticPod reports whether a static pod manifest starts the component.
func (c Component) StaticPod() bool { return c.Unit == "" }

// Flag returns a flag's value and whether it was set.
func (c Component) Flag(name string) (string, bool) {
	v, ok := c.Flags[name]
	return v, ok
}

// Where describes a flag for messages: "kube-apiserver --tls-cert-file (/etc/kubernetes/manifests/kube-apiserver.yaml)".
func (c Component) Where(flag string) string {
	if from, ok := c.FlagFrom[flag]; ok {
		return c.Name + " --" + flag + " (" + from + ")"
	}
	return c.Name + " --" + flag + " (" + c.Origin + ")"
}

// maxArgs caps the arguments read from one command line.
const maxArgs = 4096

// ParseFlags reads --name=value, --name value and bare --name (a boolean)
// from a command line's arguments; single-dash long flags (etcd's Go flag
// package accepts them) are read too. Positional arguments are ignored.
func ParseFlags(args []string) map[string]string {
	flags := map[string]string{}
	if len(args) > maxArgs {
		args = args[:maxArgs]
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			continue
		}
		name := strings.TrimLeft(a, "-")
		if name == "" {
			continue
		}
		if n, v, ok := strings.Cut(name, "="); ok {
			flags[n] = v
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && looksLikeValue(name) {
			flags[name] = args[i+1]
			i++
			continue
		}
		flags[name] = "true"
	}
	return flags
}

// looksLikeValue guesses whether "--name value" takes a value: every flag
// certrescue cares about does, and known booleans do not.
func looksLikeValue(name string) bool {
	switch name {
	case "client-cert-auth", "peer-client-cert-auth", "leader-elect", "allow-privileged",
		"enable-bootstrap-token-auth", "use-service-account-credentials", "auto-tls", "peer-auto-tls",
		"rotate-certificates", "rotate-server-certificates", "anonymous-auth":
		return false
	}
	return true
}

// componentName names a component from its executable and, failing that, a
// fallback (container or unit name).
func componentName(exe, fallback string) string {
	base := path.Base(strings.TrimLeft(exe, "@-+!:"))
	for _, known := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "etcd"} {
		if base == known {
			return known
		}
	}
	if fallback != "" {
		return fallback
	}
	return base
}

// Components reads the static pod manifests and systemd units once and
// returns the components they start, with KindFile items for the ones that
// could not be read.
func (r *Reader) Components() ([]Component, []Item) {
	r.compOnce.Do(func() {
		c, items := r.manifestComponents()
		r.components = append(r.components, c...)
		r.compItems = append(r.compItems, items...)
		c, items = r.systemdComponents()
		r.components = append(r.components, c...)
		r.compItems = append(r.compItems, items...)
	})
	return r.components, r.compItems
}
