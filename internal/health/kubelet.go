package health

import (
	"errors"
	"fmt"
	"strconv"

	yaml "go.yaml.in/yaml/v2"

	"github.com/certrescue/certrescue/internal/inventory"
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
