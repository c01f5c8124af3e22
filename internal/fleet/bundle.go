package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// MaxBundleSize caps a bundle of many nodes' check reports.
const MaxBundleSize = 256 << 20

// ErrNoReport is a bundle's node that gave no report (null: the node was
// unreachable, or its check failed before printing one).
var ErrNoReport = errors.New("no check report: the node did not answer, or its check printed none")

// ParseBundle reads many nodes' check reports in one JSON object, node name
// to report, as the collection's check play writes it from what each node
// printed: each value is the report itself, the report's JSON as a string
// (the stdout Ansible registered), or null (the node gave none). A value
// that is not a report makes its node's Err, not the bundle's: the others
// are still reported. file names the bundle in errors; the nodes come back
// sorted by name.
func ParseBundle(file string, data []byte) ([]NodeCheck, error) {
	if len(data) > MaxBundleSize {
		return nil, &ParseError{File: file, Err: fmt.Errorf("%d bytes, more than the %d a bundle of check reports may have", len(data), MaxBundleSize)}
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, &ParseError{File: file, Err: fmt.Errorf("not a JSON object of node name to check report: %w", err)}
	}
	if dec.More() {
		return nil, &ParseError{File: file, Err: errors.New("more than one JSON value")}
	}
	nodes := make([]string, 0, len(raw))
	for n := range raw {
		if n == "" {
			return nil, &ParseError{File: file, Field: `""`, Err: errors.New("a report without a node name")}
		}
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	out := make([]NodeCheck, 0, len(nodes))
	for _, n := range nodes {
		nc := NodeCheck{Node: n}
		v := bytes.TrimSpace(raw[n])
		switch {
		case bytes.Equal(v, []byte("null")):
			nc.Err = &ParseError{File: file, Field: n, Err: ErrNoReport}
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				nc.Err = &ParseError{File: file, Field: n, Err: err}
				break
			}
			nc.Check, nc.Err = ParseCheck(file+": "+n, []byte(s))
		default:
			nc.Check, nc.Err = ParseCheck(file+": "+n, v)
		}
		out = append(out, nc)
	}
	return out, nil
}
