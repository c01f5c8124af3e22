package restart

import (
	"context"
	"errors"
	"io/fs"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// Node paths crictl's endpoint is read from, in this order.
const (
	CrictlConfig  = "/etc/crictl.yaml"
	KubeletConfig = "/var/lib/kubelet/config.yaml"
)

// maxEndpointFile caps what is read of either file.
const maxEndpointFile = 1 << 20

// RuntimeEndpoint is the container runtime endpoint crictl must talk to on
// the node at root: runtime-endpoint in /etc/crictl.yaml, else the kubelet
// configuration's containerRuntimeEndpoint, else "" (crictl's own default
// list). It returns where it found it. A file that is missing or names no
// endpoint is skipped; one that cannot be parsed is an error naming it.
func RuntimeEndpoint(root string) (endpoint, from string, err error) {
	node := nodefs.New(root) // honours --root and the node's symlinks
	for _, src := range []struct{ path, key string }{
		{CrictlConfig, "runtime-endpoint"},
		{KubeletConfig, "containerRuntimeEndpoint"},
	} {
		rf, err := node.ReadFile(src.path, maxEndpointFile)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", "", &EndpointError{Path: src.path, Err: err}
		}
		var doc map[string]any
		if err := yaml.Unmarshal(rf.Data, &doc); err != nil {
			return "", "", &EndpointError{Path: src.path, Err: err}
		}
		if ep, ok := doc[src.key].(string); ok && strings.TrimSpace(ep) != "" {
			return strings.TrimSpace(ep), src.path, nil
		}
	}
	return "", "", nil
}

// EndpointError is a file the runtime endpoint is read from that cannot be
// parsed.
type EndpointError struct {
	Path string
	Err  error
}

func (e *EndpointError) Error() string {
	return "read the runtime endpoint from " + e.Path + ": " + e.Err.Error()
}
func (e *EndpointError) Unwrap() error { return e.Err }

// crictlIDs are the IDs crictl -q printed, one a line; its output may also
// hold log lines (crictl logs warnings, such as a missing /etc/crictl.yaml,
// on stderr, and Exec returns both streams), which are never one hex word.
var crictlID = regexp.MustCompile(`^[0-9a-f]+$`)

func crictlIDs(out []byte) []string {
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); crictlID.MatchString(line) {
			ids = append(ids, line)
		}
	}
	return ids
}

// crictl runs crictl against the node's runtime endpoint.
func (r StaticPodRestarter) crictl(ctx context.Context, args ...string) ([]byte, error) {
	ep := r.RuntimeEndpoint
	if ep == "" {
		var err error
		if ep, _, err = RuntimeEndpoint(r.root()); err != nil {
			return nil, err
		}
	}
	if ep != "" {
		args = append([]string{"--runtime-endpoint", ep}, args...)
	}
	return r.exec()(ctx, "crictl", args...)
}

func (r StaticPodRestarter) root() string {
	if r.Root == "" {
		return "/"
	}
	return r.Root
}
