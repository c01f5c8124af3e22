package cli

import (
	"context"
	"errors"

	"github.com/certrescue/certrescue/internal/inventory"
)

// nodeOptions is what check, renew, rescue and the exporter pass to
// inventory.NodeSources: the same flags find the same credentials in all four.
func nodeOptions(scanNode bool, inventories, dirs []string) inventory.NodeOptions {
	return inventory.NodeOptions{Node: scanNode, Inventories: inventories, Dirs: dirs}
}

// nodeSources builds the sources, turning a bad inventory file or directory
// into a usage error that names its flag.
func nodeSources(env *Env, r *inventory.Reader, o inventory.NodeOptions) ([]inventory.Source, error) {
	s, err := inventory.NodeSources(r, o)
	return s, sourceUsage(env, err)
}

// scanNode scans the node's credentials (and the extra sources) as every
// command does.
func scanNode(ctx context.Context, env *Env, r *inventory.Reader, o inventory.NodeOptions, extra ...inventory.Source) ([]inventory.Item, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	sources, err := nodeSources(env, r, o)
	if err != nil {
		return nil, err
	}
	return inventory.Scan(ctx, r, append(sources, extra...)...)
}

func sourceUsage(env *Env, err error) error {
	var se *inventory.SourceError
	if !errors.As(err, &se) {
		return err
	}
	if se.Kind == "dir" {
		if errors.Is(se.Err, inventory.ErrRelativeDir) {
			return usagef("--dir %q: give an absolute node path (it is read under --root %s)", se.Path, env.Root)
		}
		return usagef("--dir %s: %w", se.Path, unwrapPathError(se.Err))
	}
	return usagef("--inventory: inventory file %s: %w", se.Path, unwrapPathError(se.Err))
}
