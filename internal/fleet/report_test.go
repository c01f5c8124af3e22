package fleet

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const cp1 = `{"now":"2026-03-01T12:00:00Z","status":"critical","counts":{"expired":1},"results":[
 {"name":"apiserver","kind":"certificate","path":"/etc/kubernetes/pki/apiserver.crt","notAfter":"2026-02-28T12:00:00Z","residualSeconds":-86400,"status":"critical",
  "findings":[{"reason":"expired","severity":"critical","message":"expired 1d ago"},{"reason":"expired","severity":"critical","message":"again"}]},
 {"name":"ca","kind":"certificate","path":"/etc/kubernetes/pki/ca.crt","status":"ok","findings":[]}],"policy":{"warnDays":30,"criticalDays":7}}`

const cp2 = `{"now":"2026-03-01T12:00:00Z","status":"warning","results":[
 {"name":"admin.conf","kind":"kubeconfig","path":"/etc/kubernetes/admin.conf","status":"warning","findings":[{"reason":"expiring","severity":"warning","message":"expires in 20d"}]}]}`

func TestMergeSaysWhatIsWrongWhere(t *testing.T) {
	var nodes []NodeCheck
	for name, data := range map[string]string{"cp2": cp2, "cp1": cp1} {
		c, err := ParseCheck(name+".json", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, NodeCheck{Node: name, Check: c})
	}
	fr := Merge(nodes)
	if fr.Status != "critical" || len(fr.Nodes) != 2 || fr.Nodes[0].Node != "cp1" || fr.Nodes[1].Status != "warning" {
		t.Fatalf("nodes %+v, status %s", fr.Nodes, fr.Status)
	}
	if len(fr.Rows) != 2 || fr.Rows[0].Node != "cp1" || fr.Rows[0].Name != "apiserver" || fr.Rows[1].Node != "cp2" {
		t.Fatalf("rows %+v: want the critical one of cp1 first, then cp2's warning; OK items left out", fr.Rows)
	}
	if got := strings.Join(fr.Rows[0].Reasons, ","); got != "expired" {
		t.Errorf("reasons %q: want each reason once", got)
	}
	if fr.Nodes[0].Critical != 1 || fr.Nodes[0].Items != 2 || fr.Reasons["expired"] != 1 || strings.Join(fr.ByReason["expiring"], ",") != "cp2" {
		t.Errorf("counts: %+v %+v %+v", fr.Nodes[0], fr.Reasons, fr.ByReason)
	}
}

func TestAnUnreadableReportMakesItsNodeUnknown(t *testing.T) {
	c, err := ParseCheck("cp2.json", []byte(cp2))
	if err != nil {
		t.Fatal(err)
	}
	fr := Merge([]NodeCheck{{Node: "cp2", Check: c}, {Node: "cp1", Err: errors.New("cp1.json: empty")}})
	if fr.Status != Unknown || fr.Nodes[0].Status != Unknown || fr.Nodes[0].Error == "" {
		t.Fatalf("%+v", fr)
	}
}

func TestParseCheckNamesTheFileAndField(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty input", "", "cp1.json: empty"},
		{"not JSON", "Error: no such file", "cp1.json: not the JSON"},
		{"a wrong type", `{"status":"ok","results":[{"name":3}]}`, "cp1.json: results.name: want string"},
		{"an unknown status", `{"status":"fine","results":[]}`, `cp1.json: status: "fine"`},
		{"an item's unknown status", `{"status":"ok","results":[{"status":"bad"}]}`, `cp1.json: results[0].status`},
		{"no results", `{"status":"ok"}`, "cp1.json: results: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCheck("cp1.json", []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzParseCheck(f *testing.F) {
	f.Add([]byte(cp1))
	f.Add([]byte(cp2))
	f.Add([]byte(`{"status":"ok","results":[{"status":"ok","residualSeconds":"x"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCheck("fuzz.json", data)
		if err != nil {
			return
		}
		fr := Merge([]NodeCheck{{Node: "n", Check: c}})
		if len(fr.Nodes) != 1 {
			t.Fatalf("one node in, %d out", len(fr.Nodes))
		}
	})
}

func TestParseBundle(t *testing.T) {
	asString, err := json.Marshal(cp2)
	if err != nil {
		t.Fatal(err)
	}
	data := `{"cp1": ` + cp1 + `, "worker-1": ` + string(asString) + `, "worker-2": null, "worker-3": "Error: connection refused"}`
	nodes, err := ParseBundle("checks.json", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 4 || nodes[0].Node != "cp1" || nodes[3].Node != "worker-3" {
		t.Fatalf("nodes %+v", nodes)
	}
	if nodes[0].Check == nil || nodes[1].Check == nil || nodes[0].Err != nil || nodes[1].Err != nil {
		t.Fatalf("cp1 and worker-1 (a report as a string) not read: %v, %v", nodes[0].Err, nodes[1].Err)
	}
	if !errors.Is(nodes[2].Err, ErrNoReport) || !strings.Contains(nodes[2].Err.Error(), "checks.json: worker-2: no check report") {
		t.Errorf("worker-2 (null): %v", nodes[2].Err)
	}
	if nodes[3].Err == nil || !strings.Contains(nodes[3].Err.Error(), "checks.json: worker-3: not the JSON") {
		t.Errorf("worker-3 (not a report): %v", nodes[3].Err)
	}
	fr := Merge(nodes)
	if len(fr.Nodes) != 4 || fr.Nodes[2].Status != Unknown || fr.Nodes[3].Status != Unknown {
		t.Errorf("merged: %+v", fr.Nodes)
	}
	for _, tc := range []struct{ data, want string }{
		{`[]`, "checks.json: not a JSON object"},
		{`null`, "checks.json: not a JSON object"},
		{`{"cp1": null} {}`, "more than one JSON value"},
		{`{"": null}`, `checks.json: "": a report without a node name`},
	} {
		if _, err := ParseBundle("checks.json", []byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.data, err, tc.want)
		}
	}
}

func FuzzParseBundle(f *testing.F) {
	f.Add([]byte(`{"cp1": ` + cp1 + `, "w": null, "x": "{}"}`))
	f.Add([]byte(`{"a": "not json"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := ParseBundle("fuzz.json", data)
		if err != nil {
			return
		}
		for _, n := range nodes {
			if (n.Check == nil) == (n.Err == nil) {
				t.Fatalf("%s: a report and an error, or neither", n.Node)
			}
		}
		if fr := Merge(nodes); len(fr.Nodes) != len(nodes) {
			t.Fatalf("%d nodes in, %d out", len(nodes), len(fr.Nodes))
		}
	})
}
