package health

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	yaml "go.yaml.in/yaml/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubelet"
	"github.com/certrescue/certrescue/internal/nodefs"
)

// ParseKubeletHealthz reads healthzPort and healthzBindAddress of a
// KubeletConfiguration ("" when unset: the kubelet's defaults, 10248 and
// 127.0.0.1, apply).
func ParseKubeletHealthz(data []byte) (port, bind string, err error) {
	if len(data) > inventory.MaxManifestSize {
		return "", "", fmt.Errorf("%w: %d bytes, more than the %d-byte limit", inventory.ErrTooLarge, len(data), inventory.MaxManifestSize)
	}
	var c struct {
		HealthzPort        *int32 `yaml:"healthzPort"`
		HealthzBindAddress string `yaml:"healthzBindAddress"`
	}
	if err := unmarshal(data, &c); err != nil {
		return "", "", fmt.Errorf("not a KubeletConfiguration: %w", err)
	}
	if c.HealthzPort != nil {
		if *c.HealthzPort < 0 || *c.HealthzPort > 65535 {
			return "", "", fmt.Errorf("healthzPort: %d is not a port", *c.HealthzPort)
		}
		port = strconv.Itoa(int(*c.HealthzPort))
	}
	return port, c.HealthzBindAddress, nil
}

// unmarshal is yaml.Unmarshal that turns a decoder panic into an error.
func unmarshal(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("YAML decoder failed")
		}
	}()
	return yaml.Unmarshal(data, v)
}

// NodeReadyProbe passes when the API server has the Node Ready and its
// kubelet has renewed the Node's Lease (kube-node-lease/NAME, renewed every
// ten seconds or so, with microsecond times) after Since: the kubelet,
// restarted after its credentials changed, is talking to the API server
// with them. It asks with the kubelet's own kubeconfig, read through the
// node's view at each attempt (the Node authorizer lets system:node:NAME
// read its own Node and Lease), so a credential the API server refuses fails
// the gate too.
type NodeReadyProbe struct {
	FS         *nodefs.FS
	Kubeconfig string // node path of the kubelet's kubeconfig
	Server     string // overrides its server ("" keeps it)
	Node       string
	// Since is when the restart had finished: the old process is gone, so
	// a renewal after it is the new one's.
	Since time.Time
}

// Check runs one attempt.
func (p NodeReadyProbe) Check(ctx context.Context) error {
	conf, err := kubelet.LoadConf(p.FS, p.Kubeconfig)
	if err != nil {
		return err
	}
	cfg, err := kubelet.RESTConfig(conf.KC, p.Server)
	if err != nil {
		return err
	}
	api, err := kubelet.NewAPI(cfg)
	if err != nil {
		return err
	}
	n, err := api.Node(ctx, p.Node)
	if err != nil {
		return err
	}
	c := kubelet.ReadyCondition(n)
	switch {
	case c == nil:
		return fmt.Errorf("node %s has no Ready condition yet", p.Node)
	case c.Status != corev1.ConditionTrue:
		return fmt.Errorf("node %s is not Ready (%s: %s %s)", p.Node, c.Status, c.Reason, c.Message)
	}
	l, err := api.NodeLease(ctx, p.Node)
	if err != nil {
		return err
	}
	if l.Spec.RenewTime == nil || !l.Spec.RenewTime.After(p.Since) {
		last := "never"
		if l.Spec.RenewTime != nil {
			last = l.Spec.RenewTime.UTC().Format(time.RFC3339Nano)
		}
		return fmt.Errorf("node %s is Ready, but its kubelet last renewed its lease at %s, not since the restart (%s): waiting for the restarted kubelet",
			p.Node, last, p.Since.UTC().Format(time.RFC3339Nano))
	}
	return nil
}
