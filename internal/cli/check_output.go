package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"sigs.k8s.io/yaml"
)

// kubeadmTime is how `kubeadm certs check-expiration` prints EXPIRES.
const kubeadmTime = "Jan 02, 2006 15:04 MST"

func printCheck(env *Env, f *checkFlags, rep *evaluation.Report, trust []trustCA) error {
	f.printed = true
	format := f.output
	switch format {
	case "json", "yaml":
		for i := range rep.Results {
			rep.Results[i].Describe()
		}
		// check --trust adds its view to the report, as "trust".
		var doc any = rep
		if trust != nil {
			doc = struct {
				*evaluation.Report
				Trust []trustCA `json:"trust"`
			}{rep, trust}
		}
		if format == "yaml" {
			b, err := yaml.Marshal(doc)
			if err != nil {
				return err
			}
			_, err = env.Stdout.Write(b)
			return err
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	if err := printCheckTable(env.Stdout, rep, useColour(env)); err != nil {
		return err
	}
	return printCheckNext(env, f, rep)
}

// useColour is true when stdout is a terminal and NO_COLOR is not set.
func useColour(env *Env) bool {
	if env.Getenv != nil && env.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := env.Stdout.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

func statusText(r *evaluation.Result) string {
	var reasons []string
	seen := map[facts.Reason]bool{}
	for _, f := range r.Findings {
		if !seen[f.Reason] {
			seen[f.Reason] = true
			reasons = append(reasons, string(f.Reason))
		}
	}
	word := "OK"
	switch r.Status {
	case facts.SeverityCritical:
		word = "CRITICAL"
	case facts.SeverityWarning:
		word = "WARNING"
	}
	if len(reasons) > 0 {
		return word + " " + strings.Join(reasons, ",")
	}
	if r.Kind == inventory.KindServed && r.Served != nil && r.Served.Err != nil {
		return "UNREACHABLE"
	}
	return word
}

func colourFor(s facts.Severity) string {
	switch s {
	case facts.SeverityCritical:
		return ansiRed
	case facts.SeverityWarning:
		return ansiYellow
	}
	return ansiGreen
}

func printCheckTable(w io.Writer, rep *evaluation.Report, colour bool) error {
	t := &table{colour: colour}
	t.row(nil, "CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CA", "STATUS", "PATH")
	for i := range rep.Results {
		r := &rep.Results[i]
		expires, residual := "-", "-"
		if r.NotAfter != nil {
			expires = r.NotAfter.UTC().Format(kubeadmTime)
			residual = evaluation.Human(r.NotAfter.Sub(rep.Now))
		}
		ca := r.CA
		if ca == "" {
			ca = "-"
		}
		path := r.Path
		if r.Resolved != "" && r.Kind != inventory.KindServed {
			path += " -> " + r.Resolved
		}
		st := r.Status
		t.row(map[int]facts.Severity{4: st}, r.Name, expires, residual, ca, statusText(r), path)
	}
	if err := t.write(w); err != nil {
		return err
	}
	var b strings.Builder
	var notes []string
	for i := range rep.Results {
		r := &rep.Results[i]
		for _, f := range r.Findings {
			sev := strings.ToUpper(f.Severity.String())
			if colour {
				sev = colourFor(f.Severity) + sev + ansiReset
			}
			fmt.Fprintf(&b, "  %s %s [%s]: %s\n", sev, r.Name, f.Reason, f.Message)
		}
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("  %s: %s\n", r.Name, n))
		}
	}
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nFINDINGS\n%s", b.String())
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNOTES\n%s", strings.Join(notes, ""))
	}
	_, err := fmt.Fprintf(w, "\n%s (warn under %dd, critical under %dd)\n", summaryCounts(rep), rep.Policy.WarnDays, rep.Policy.CriticalDays)
	return err
}

// summaryCounts counts the rows by the word their STATUS column starts with,
// so the summary says what the lines above it say: an endpoint that did not
// answer is "unreachable", not "ok".
func summaryCounts(rep *evaluation.Report) string {
	n := map[string]int{}
	for i := range rep.Results {
		word, _, _ := strings.Cut(statusText(&rep.Results[i]), " ")
		n[word]++
	}
	s := fmt.Sprintf("%d checked: %d critical, %d warning, %d ok", len(rep.Results), n["CRITICAL"], n["WARNING"], n["OK"])
	if n["UNREACHABLE"] > 0 {
		s += fmt.Sprintf(", %d unreachable", n["UNREACHABLE"])
	}
	return s
}

// table pads columns by their visible width, so colour codes do not break
// the alignment (text/tabwriter counts them as characters).
type table struct {
	colour bool
	rows   [][]string
	sev    []map[int]facts.Severity
}

func (t *table) row(sev map[int]facts.Severity, cells ...string) {
	t.rows = append(t.rows, cells)
	t.sev = append(t.sev, sev)
}

func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for ri, r := range t.rows {
		for i, c := range r {
			last := i == len(r)-1
			text := c
			if s, ok := t.sev[ri][i]; ok && t.colour {
				text = colourFor(s) + c + ansiReset
			} else if ri == 0 && t.colour {
				text = ansiBold + c + ansiReset
			}
			b.WriteString(text)
			if !last {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+3))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
