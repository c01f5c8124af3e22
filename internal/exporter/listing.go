package exporter

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/certrescue/certrescue/internal/inventory"
)

// list runs the sources through inventory.List (so a file named by two
// paths, as kubespray's /etc/kubernetes/pki link makes it, is one item, as in
// check) and groups what they name by node path, in the order the sources
// first name each path.
func list(ctx context.Context, r *inventory.Reader, sources []inventory.Source) ([]string, map[string][]inventory.Item, error) {
	items, err := inventory.List(ctx, r, sources...)
	if err != nil {
		return nil, nil, fmt.Errorf("list the node's sources: %w", err)
	}
	var order []string
	groups := map[string][]inventory.Item{}
	for i := range items {
		p := items[i].Path
		g, ok := groups[p]
		if !ok {
			// The listed slice, capped: a path named once (most of them)
			// costs no copy; a second naming reallocates.
			order = append(order, p)
			groups[p] = items[i : i+1 : i+1]
			continue
		}
		groups[p] = append(g, items[i])
	}
	return order, groups, nil
}

// listingHash summarises what the sources said about a path (kinds, roles,
// expectations, companion files, every field of the listed items, unexported
// ones included): a change makes the path read again. It walks the items by
// reflection, so a field added to inventory.Item counts without a change
// here, at a fraction of what formatting them costs for 10,000 files. The
// order of the items does not count: the manifests source names a
// component's flags in no fixed order.
func listingHash(items []inventory.Item) uint64 {
	sums := make([]uint64, len(items))
	for i := range items {
		h := hasher(fnvOffset)
		h.value(reflect.ValueOf(&items[i]).Elem(), 0)
		sums[i] = uint64(h)
	}
	slices.Sort(sums)
	h := hasher(fnvOffset)
	for _, s := range sums {
		h.u64(s)
	}
	return uint64(h)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	maxDepth  = 8 // listed items hold no deep structures; parsed ones are not hashed
)

// hasher is FNV-1a over the values it is given.
type hasher uint64

func (h *hasher) byte(b byte) { *h = (*h ^ hasher(b)) * fnvPrime }

func (h *hasher) u64(v uint64) {
	for range 8 {
		h.byte(byte(v))
		v >>= 8
	}
}

func (h *hasher) str(s string) {
	h.u64(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		h.byte(s[i])
	}
}

func (h *hasher) value(v reflect.Value, depth int) {
	h.byte(byte(v.Kind())) //nolint:gosec // G115: a reflect.Kind is < 256
	if depth > maxDepth {
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			h.byte(1)
		} else {
			h.byte(0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		h.u64(uint64(v.Int())) //nolint:gosec // G115: the hash takes the bits, sign and all
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		h.u64(v.Uint())
	case reflect.Float32, reflect.Float64:
		h.u64(math.Float64bits(v.Float()))
	case reflect.String:
		h.str(v.String())
	case reflect.Slice, reflect.Array:
		h.u64(uint64(v.Len())) //nolint:gosec // G115: a length is never negative
		for i := range v.Len() {
			h.value(v.Index(i), depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			h.value(v.Field(i), depth+1)
		}
	case reflect.Pointer:
		if v.IsNil() {
			h.byte(0)
			return
		}
		h.byte(1)
		h.value(v.Elem(), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			h.byte(0)
			return
		}
		h.str(v.Elem().Type().String())
		if err, ok := valueInterface(v).(error); ok {
			h.str(err.Error())
			return
		}
		h.value(v.Elem(), depth+1)
	case reflect.Map:
		// Maps are not in listed items; their order would make the hash
		// unstable, so only their size counts.
		h.u64(uint64(v.Len())) //nolint:gosec // G115: a length is never negative
	default:
		// Channels and functions say nothing about a listing.
	}
}

// valueInterface is v.Interface() where reflection allows it (exported
// fields), else nil.
func valueInterface(v reflect.Value) any {
	if !v.CanInterface() {
		return nil
	}
	return v.Interface()
}

func listedPaths(items []inventory.Item) []string {
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		for _, p := range []string{it.Path, it.KeyPath, it.PubPath} {
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// readPaths is the files a read item depends on beyond those listed: the
// files a kubeconfig references.
func readPaths(items []inventory.Item, listed []string) []string {
	seen := map[string]bool{}
	for _, p := range listed {
		seen[p] = true
	}
	var out []string
	for _, it := range items {
		ps := []string{it.KeyFile}
		if k := it.Kubeconfig; k != nil {
			ps = append(ps, k.CertPath, k.CAPath)
		}
		for _, p := range ps {
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
