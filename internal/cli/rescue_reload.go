package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/reload"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/restart"
	"github.com/spf13/cobra"
)

// reloadFlags are rescue's --reload and --stop-grace.
type reloadFlags struct {
	reload    bool
	stopGrace string
}

func (f *reloadFlags) add(c *cobra.Command) {
	c.Flags().BoolVar(&f.reload, "reload", true, "let components take up renewed credentials they reload by themselves (docs/reload.md), gated on their using them; --reload=false restarts every component the renewal touches")
	c.Flags().StringVar(&f.stopGrace, "stop-grace", "auto", "how long a restarted component may take to stop before it is killed: auto (1s for a component whose certificates expired, which cannot work anyway; its normal period for a planned renewal) or a duration (0s, 5s)")
}

// GateBackoff paces rescue's gates: a restarted component is seen healthy
// within half a second of being so (health.DefaultBackoff settles at 2s),
// for a few more requests to the node's own components.
var GateBackoff = health.Backoff{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond}

// apply sets the rescue's reload gates, stop grace and gate pace.
func (f *reloadFlags) apply(o *rescue.Options, reader *inventory.Reader, ho health.Options) error {
	o.Backoff = GateBackoff
	if f.stopGrace != "auto" {
		d, err := time.ParseDuration(f.stopGrace)
		if err != nil {
			d, err = cfssl.ParseDuration(f.stopGrace)
		}
		if err != nil || d < 0 {
			return usagef("--stop-grace %q: want auto or a duration such as 1s", f.stopGrace)
		}
		o.StopGrace, o.StopGraceSet = d, true
	}
	if !f.reload {
		return nil
	}
	comps, _ := reader.Components()
	o.Components = comps
	ho.Node = reader.Node
	o.ReloadGate = func(t reload.Take) (health.Gate, bool, error) {
		if v, ok := ho.Endpoints[t.Component]; ok {
			// --gate names or turns off the component's endpoint: the
			// derived addresses may not be where it answers; restart it.
			return health.Gate{}, false, fmt.Errorf("--gate %s=%s given", t.Component, v)
		}
		return health.ReloadGate(comps, t, ho)
	}
	return nil
}

// printReloads shows what the plan lets components take up by themselves,
// the gate that proves each, the component's own gates after them, and how
// it is restarted if it does not take them up.
func printReloads(w io.Writer, d *reload.Decision, gate func(reload.Take) (health.Gate, bool, error), r restart.Restarter, gates map[string][]health.Gate) {
	if d == nil || len(d.Takes) == 0 {
		return
	}
	fmt.Fprintln(w, "taken up without a restart (docs/reload.md), then the component's gates:")
	for _, c := range d.Components() {
		takes := d.Reloaded(c)
		if len(takes) == 0 {
			continue
		}
		seen := map[string]bool{}
		for i, t := range takes {
			if seen[t.Entry.What] {
				continue
			}
			seen[t.Entry.What] = true
			name := ""
			if i == 0 {
				name = c + ":"
			}
			fmt.Fprintf(w, "  %-24s %s (%s, measured within %s on %s)\n", name, t.Entry.What, t.Entry.Use, t.Entry.Within, reload.Measured.Kubernetes)
			if gate == nil {
				continue
			}
			if g, ok, err := gate(t); err == nil && ok {
				fmt.Fprintf(w, "  %-24s gate %s\n", "", g.Name)
			}
		}
		for _, g := range gates[c] {
			fmt.Fprintf(w, "  %-24s then gate %s\n", "", g.Name)
		}
		fmt.Fprintf(w, "  %-24s not taken up in time: %s\n", "", r.Describe(c))
	}
	fmt.Fprintln(w)
}
