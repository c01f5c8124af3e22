package inventory

import (
	"errors"
	"fmt"
	"path"
	"sync"

	yaml "go.yaml.in/yaml/v2"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/layout"
)

// MaxManifestSize caps a static pod manifest or a systemd unit; kubeadm's
// largest manifest is about 4 KiB.
const MaxManifestSize = 1 << 20

// Container is one container's command line from a static pod manifest.
type Container struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
}

type podManifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Containers []Container `yaml:"containers"`
	} `yaml:"spec"`
}

// ParseManifest reads the containers of a static pod manifest (YAML or JSON).
// Only what certrescue needs is decoded; the rest of the Pod is ignored. It
// decodes with go.yaml.in/yaml/v2 into that small struct directly: the
// sigs.k8s.io/yaml route (YAML to JSON to struct) costs seven times as much,
// and parsing the manifests was most of a kubeadm node's check.
func ParseManifest(data []byte) (name string, containers []Container, err error) {
	if len(data) > MaxManifestSize {
		return "", nil, fmt.Errorf("%w: %d bytes, more than the %d-byte limit for a manifest", ErrTooLarge, len(data), MaxManifestSize)
	}
	var m podManifest
	if err := unmarshalYAML(data, &m); err != nil {
		return "", nil, fmt.Errorf("not a Pod manifest: %w", err)
	}
	if m.Kind != "Pod" {
		return "", nil, fmt.Errorf("kind: %q, expected Pod", m.Kind)
	}
	if len(m.Spec.Containers) == 0 {
		return "", nil, errors.New("spec.containers: empty")
	}
	return m.Metadata.Name, m.Spec.Containers, nil
}

func (r *Reader) manifestComponents() ([]Component, []Item) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
		files = append(files, r.Node.Glob(path.Join(layout.ManifestsDir, pat))...)
	}
	// Parsed concurrently: YAML decoding is most of a small node's scan.
	type parsed struct {
		comps []Component
		bad   *Item
	}
	out := make([]parsed, len(files))
	var wg sync.WaitGroup
	for i, p := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].comps, out[i].bad = r.manifestComponent(p)
		}()
	}
	wg.Wait()
	var comps []Component
	var bad []Item
	for _, o := range out {
		comps = append(comps, o.comps...)
		if o.bad != nil {
			bad = append(bad, *o.bad)
		}
	}
	return comps, bad
}

func (r *Reader) manifestComponent(p string) ([]Component, *Item) {
	it := Item{Name: path.Base(p), Kind: KindFile, Path: p, Sources: []string{"static pod manifest"}}
	f := r.readFor(&it, p, "manifest", MaxManifestSize, true)
	if f == nil {
		return nil, &it
	}
	name, containers, err := ParseManifest(f.Data)
	if err != nil {
		it.problem(facts.ReasonMalformed, p, "manifest", err)
		return nil, &it
	}
	var comps []Component
	for _, c := range containers {
		argv := append(append([]string{}, c.Command...), c.Args...)
		if len(argv) == 0 {
			continue
		}
		fallback := c.Name
		if fallback == "" {
			fallback = name
		}
		comps = append(comps, Component{Name: componentName(argv[0], fallback), Origin: p, Flags: ParseFlags(argv[1:]), Files: []string{p}})
	}
	return comps, nil
}

// unmarshalYAML is yaml.Unmarshal that turns a decoder panic into an error:
// a parser must not crash a scan.
func unmarshalYAML(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("YAML decoder failed: %v", r)
		}
	}()
	return yaml.Unmarshal(data, v)
}
