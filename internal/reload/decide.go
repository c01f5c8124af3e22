package reload

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
)

// Item is one renewed credential as Decide needs it.
type Item struct {
	Role       string
	Components []string // the components that use it (layout.Role.Components)
	// Paths are node paths: the role's certificate file (the kubeconfig, the
	// bundle, the .crt) and every file the renewal writes for it.
	Paths []string
	// Kubeconfig is Embedded or Files for a kubeconfig role, "" otherwise.
	Kubeconfig string
}

// Take is a renewed credential a component takes up without a restart.
type Take struct {
	Component string
	Role      string
	Path      string // the node path its flag names
	Flag      string
	Entry     Entry
}

// Decision is what a renewal needs: the restarts, and the credentials taken
// up without one.
type Decision struct {
	Restart []string          // in layout.RestartOrder
	Why     map[string]string // why each one restarts
	Takes   []Take            // of components not restarted, in layout.RestartOrder
}

// Reloaded returns the takes of one component.
func (d Decision) Reloaded(component string) []Take {
	var out []Take
	for _, t := range d.Takes {
		if t.Component == component {
			out = append(out, t)
		}
	}
	return out
}

// Components are the components the decision touches (restarted or
// reloaded), in layout.RestartOrder.
func (d Decision) Components() []string {
	var out []string
	for _, c := range layout.RestartOrder {
		if slices.Contains(d.Restart, c) || len(d.Reloaded(c)) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// All is the decision that restarts every component of items (Restart for
// all, as before the table; rescue's --reload off).
func All(items []Item) Decision {
	d := Decision{Why: map[string]string{}}
	need := map[string]bool{}
	for _, it := range items {
		for _, c := range it.Components {
			need[c] = true
		}
	}
	for _, c := range layout.RestartOrder {
		if need[c] {
			d.Restart = append(d.Restart, c)
			d.Why[c] = "every renewed component restarts (reloads off)"
		}
	}
	return d
}

// Decide says, for each component the items are used by, whether the table
// lets it take them up without a restart.
func Decide(items []Item, comps []inventory.Component) Decision {
	byName := map[string]inventory.Component{}
	for _, c := range comps {
		if _, dup := byName[c.Name]; !dup {
			byName[c.Name] = c
		}
	}
	restart := map[string]string{}
	takes := map[string][]Take{}
	for _, it := range items {
		for _, name := range it.Components {
			if _, done := restart[name]; done {
				continue
			}
			c, found := byName[name]
			if !found {
				restart[name] = fmt.Sprintf("%s: no static pod manifest or systemd unit shows how %s reads it", it.Role, name)
				continue
			}
			ts, why := decideOne(it, c)
			if why != "" {
				restart[name] = why
				continue
			}
			takes[name] = append(takes[name], ts...)
		}
	}
	d := Decision{Why: map[string]string{}}
	for _, c := range layout.RestartOrder {
		if why, ok := restart[c]; ok {
			d.Restart = append(d.Restart, c)
			d.Why[c] = why
			continue
		}
		d.Takes = append(d.Takes, takes[c]...)
	}
	// Components outside layout.RestartOrder (none today) restart, last.
	var extra []string
	for c := range restart {
		if !slices.Contains(layout.RestartOrder, c) {
			extra = append(extra, c)
		}
	}
	sort.Strings(extra)
	for _, c := range extra {
		d.Restart = append(d.Restart, c)
		d.Why[c] = restart[c]
	}
	return d
}

// decideOne returns the takes of one item by one component, or why the
// component must restart for it.
func decideOne(it Item, c inventory.Component) ([]Take, string) {
	var flags []string
	for f, v := range c.Flags {
		v = strings.TrimSpace(v)
		if !path.IsAbs(v) {
			continue
		}
		if slices.Contains(it.Paths, path.Clean(v)) {
			flags = append(flags, f)
		}
	}
	if len(flags) == 0 {
		return nil, fmt.Sprintf("%s: no flag of %s names its files (%s): how it reads them is not known", it.Role, c.Name, strings.Join(it.Paths, ", "))
	}
	sort.Strings(flags)
	var out []Take
	for _, f := range flags {
		kind := ""
		if slices.Contains(kubeconfigFlags, f) {
			kind = it.Kubeconfig
		}
		e, ok := Lookup(c.Name, f, kind)
		switch {
		case !ok:
			return nil, fmt.Sprintf("%s: %s is not in the reload table (not measured): restart", it.Role, c.Where(f))
		case e.Use == Restart:
			return nil, fmt.Sprintf("%s: %s reads its %s only at start", it.Role, c.Where(f), e.What)
		}
		out = append(out, Take{Component: c.Name, Role: it.Role, Path: path.Clean(c.Flags[f]), Flag: f, Entry: e})
	}
	return out, ""
}
