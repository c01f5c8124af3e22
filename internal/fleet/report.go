package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// MaxCheckSize caps one node's check report (a node with thousands of
// certificates writes a few MB).
const MaxCheckSize = 64 << 20

// Check is the part of `certrescue check -o json` the fleet report reads.
type Check struct {
	Now     time.Time     `json:"now"`
	Status  string        `json:"status"`
	Results []CheckResult `json:"results"`
}

// CheckResult is one item of a check report.
type CheckResult struct {
	Name     string         `json:"name"`
	Kind     string         `json:"kind"`
	Path     string         `json:"path"`
	NotAfter *time.Time     `json:"notAfter,omitempty"`
	Residual *int64         `json:"residualSeconds,omitempty"`
	Status   string         `json:"status"`
	Findings []CheckFinding `json:"findings"`
}

// CheckFinding is one finding of an item.
type CheckFinding struct {
	Reason   string `json:"reason"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Statuses as check writes them, worst last.
var statuses = []string{"ok", "warning", "critical"}

func rank(status string) int {
	for i, s := range statuses {
		if s == status {
			return i
		}
	}
	return -1
}

// ParseError names the node's file and the field at fault.
type ParseError struct {
	File  string
	Field string
	Err   error
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.File, e.Field, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseCheck reads one node's check report; file names it in errors.
func ParseCheck(file string, data []byte) (*Check, error) {
	if len(data) > MaxCheckSize {
		return nil, &ParseError{File: file, Err: fmt.Errorf("%d bytes, more than the %d a check report may have", len(data), MaxCheckSize)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ParseError{File: file, Err: errors.New("empty: not the output of certrescue check -o json")}
	}
	var c Check
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &ParseError{File: file, Field: te.Field, Err: fmt.Errorf("want %s, got %s", te.Type, te.Value)}
		}
		return nil, &ParseError{File: file, Err: fmt.Errorf("not the JSON of certrescue check -o json: %w", err)}
	}
	if rank(c.Status) < 0 {
		return nil, &ParseError{File: file, Field: "status", Err: fmt.Errorf("%q: want ok, warning or critical", c.Status)}
	}
	if c.Results == nil {
		return nil, &ParseError{File: file, Field: "results", Err: errors.New("missing: not the output of certrescue check -o json")}
	}
	for i, r := range c.Results {
		if rank(r.Status) < 0 {
			return nil, &ParseError{File: file, Field: fmt.Sprintf("results[%d].status", i), Err: fmt.Errorf("%q: want ok, warning or critical", r.Status)}
		}
	}
	return &c, nil
}

// NodeCheck is one node's input to Merge: its check, or why there is none.
type NodeCheck struct {
	Node  string
	Check *Check
	Err   error // the report could not be read: the node counts as unknown
}

// NodeSummary is one node in the fleet report.
type NodeSummary struct {
	Node     string         `json:"node"`
	Status   string         `json:"status"` // ok, warning, critical, or unknown (no readable report)
	Items    int            `json:"items"`
	Critical int            `json:"critical"`
	Warning  int            `json:"warning"`
	Reasons  map[string]int `json:"reasons"`
	Checked  *time.Time     `json:"checkedAt,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// Row is one item that is not OK, with its node.
type Row struct {
	Node     string     `json:"node"`
	Name     string     `json:"name"`
	Path     string     `json:"path"`
	Status   string     `json:"status"`
	Reasons  []string   `json:"reasons"`
	NotAfter *time.Time `json:"notAfter,omitempty"`
	Residual *int64     `json:"residualSeconds,omitempty"`
	Message  string     `json:"message,omitempty"`
}

// FleetReport is the merge.
type FleetReport struct {
	Status   string              `json:"status"` // the worst node's; unknown when a report is missing
	Nodes    []NodeSummary       `json:"nodes"`
	Rows     []Row               `json:"findings"`
	Reasons  map[string]int      `json:"reasons"`       // reason -> items, fleet-wide
	ByReason map[string][]string `json:"nodesByReason"` // reason -> nodes with it
}

// Unknown is a node's status when its report could not be read.
const Unknown = "unknown"

// Merge makes the fleet report; the order of nodes does not matter.
func Merge(nodes []NodeCheck) *FleetReport {
	fr := &FleetReport{Status: "ok", Nodes: []NodeSummary{}, Rows: []Row{}, Reasons: map[string]int{}, ByReason: map[string][]string{}}
	sorted := append([]NodeCheck{}, nodes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Node < sorted[j].Node })
	unknown := false
	for _, n := range sorted {
		s := NodeSummary{Node: n.Node, Status: "ok", Reasons: map[string]int{}}
		if n.Err != nil || n.Check == nil {
			s.Status, unknown = Unknown, true
			if n.Err != nil {
				s.Error = n.Err.Error()
			}
			fr.Nodes = append(fr.Nodes, s)
			continue
		}
		now := n.Check.Now
		s.Checked = &now
		for _, r := range n.Check.Results {
			s.Items++
			if rank(r.Status) > rank(s.Status) {
				s.Status = r.Status
			}
			switch r.Status {
			case "critical":
				s.Critical++
			case "warning":
				s.Warning++
			default:
				continue
			}
			row := Row{Node: n.Node, Name: r.Name, Path: r.Path, Status: r.Status, NotAfter: r.NotAfter, Residual: r.Residual, Reasons: []string{}}
			seen := map[string]bool{}
			var msgs []string
			for _, f := range r.Findings {
				if !seen[f.Reason] {
					seen[f.Reason] = true
					row.Reasons = append(row.Reasons, f.Reason)
					s.Reasons[f.Reason]++
					fr.Reasons[f.Reason]++
				}
				if f.Message != "" {
					msgs = append(msgs, f.Message)
				}
			}
			row.Message = strings.Join(msgs, "; ")
			fr.Rows = append(fr.Rows, row)
		}
		if rank(n.Check.Status) > rank(s.Status) {
			s.Status = n.Check.Status
		}
		for reason := range s.Reasons {
			fr.ByReason[reason] = append(fr.ByReason[reason], n.Node)
		}
		if rank(s.Status) > rank(fr.Status) {
			fr.Status = s.Status
		}
		fr.Nodes = append(fr.Nodes, s)
	}
	sort.SliceStable(fr.Rows, func(i, j int) bool {
		a, b := fr.Rows[i], fr.Rows[j]
		if rank(a.Status) != rank(b.Status) {
			return rank(a.Status) > rank(b.Status)
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Path < b.Path
	})
	for _, ns := range fr.ByReason {
		sort.Strings(ns)
	}
	if unknown && fr.Status != "critical" {
		fr.Status = Unknown
	}
	return fr
}
