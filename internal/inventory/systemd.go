package inventory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/certrescue/certrescue/internal/facts"
)

// Unit is what certrescue reads from a systemd service unit: its ExecStart
// command lines, with $VAR and ${VAR} expanded from the unit's Environment=
// assignments.
type Unit struct {
	ExecStart [][]string
	Env       map[string]string
}

// ParseUnit reads a systemd unit or drop-in (continuation lines, comments,
// sections, quoting as systemd.syntax describes it, closely enough for
// ExecStart lines). A drop-in is applied on top of base (which may be nil):
// an empty ExecStart= resets the list, as systemd does.
func ParseUnit(data []byte, base *Unit) (*Unit, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d-byte limit for a unit", ErrTooLarge, len(data), MaxManifestSize)
	}
	u := &Unit{Env: map[string]string{}}
	if base != nil {
		u.ExecStart = append(u.ExecStart, base.ExecStart...)
		for k, v := range base.Env {
			u.Env[k] = v
		}
	}
	var raw []string // ExecStart values, expanded at the end (Environment may come later)
	reset := false
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), MaxManifestSize)
	var cont strings.Builder
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line != "" && (line[0] == '#' || line[0] == ';') {
			continue // comments, also inside a continued line, are skipped
		}
		if cont.Len() == 0 && line == "" {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont.WriteString(strings.TrimSuffix(line, "\\"))
			cont.WriteByte(' ')
			continue
		}
		if cont.Len() > 0 {
			cont.WriteString(line)
			line = cont.String()
			cont.Reset()
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: section header %q has no closing ]", lineNo, line)
			}
			section = line[1 : len(line)-1]
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", lineNo, trim(line))
		}
		if section != "Service" {
			continue
		}
		switch strings.TrimSpace(key) {
		case "ExecStart":
			value = strings.TrimSpace(value)
			if value == "" {
				raw, reset = nil, true
				continue
			}
			raw = append(raw, value)
		case "Environment":
			words, err := splitWords(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: Environment: %w", lineNo, err)
			}
			for _, w := range words {
				if k, v, ok := strings.Cut(w, "="); ok {
					u.Env[k] = v
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if reset {
		u.ExecStart = nil
	}
	for _, v := range raw {
		words, err := splitWords(v)
		if err != nil {
			return nil, fmt.Errorf("ExecStart: %w", err)
		}
		u.ExecStart = append(u.ExecStart, expandWords(words, u.Env))
	}
	return u, nil
}

func trim(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// splitWords splits a systemd value into words: whitespace-separated, with
// double and single quotes and backslash escapes.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != '\'' && c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case quote != 0:
			w.WriteByte(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
		if len(words) > maxArgs {
			return nil, errors.New("too many words")
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// expandWords replaces $VAR and ${VAR}; a word that is exactly $VAR splits
// into the variable's words, as systemd does.
func expandWords(words []string, env map[string]string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, "$") && !strings.HasPrefix(w, "${") && !strings.ContainsAny(w[1:], "${}/=") {
			if sub, err := splitWords(env[w[1:]]); err == nil {
				out = append(out, sub...)
			}
			continue
		}
		out = append(out, expandBraces(w, env))
	}
	return out
}

func expandBraces(w string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] == '$' && i+1 < len(w) && w[i+1] == '{' {
			if end := strings.IndexByte(w[i:], '}'); end > 0 {
				b.WriteString(env[w[i+2:i+end]])
				i += end
				continue
			}
		}
		b.WriteByte(w[i])
	}
	return b.String()
}

// unitDirs are searched in order; a unit in an earlier directory hides one of
// the same name in a later one, as systemd's search path does.
var unitDirs = []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// unitPatterns name the units of Kubernetes components and etcd.
var unitPatterns = []string{"kube-*.service", "kubelet.service", "etcd.service", "etcd*.service"}

func (r *Reader) systemdComponents() ([]Component, []Item) {
	var comps []Component
	var bad []Item
	seen := map[string]bool{}
	for _, dir := range unitDirs {
		for _, pat := range unitPatterns {
			for _, p := range r.Node.Glob(path.Join(dir, pat)) {
				name := path.Base(p)
				if seen[name] {
					continue
				}
				seen[name] = true
				c, it := r.unitComponents(p, name)
				comps = append(comps, c...)
				if it != nil {
					bad = append(bad, *it)
				}
			}
		}
	}
	return comps, bad
}

func (r *Reader) unitComponents(p, name string) ([]Component, *Item) {
	files := []string{p}
	for _, dir := range unitDirs {
		files = append(files, r.Node.Glob(path.Join(dir, name+".d", "*.conf"))...)
	}
	var u *Unit
	for _, f := range files {
		it := Item{Name: path.Base(f), Kind: KindFile, Path: f, Sources: []string{"systemd unit"}}
		rf := r.readFor(&it, f, "systemd unit", MaxManifestSize, true)
		if rf == nil {
			return nil, &it
		}
		next, err := ParseUnit(rf.Data, u)
		if err != nil {
			it.problem(facts.ReasonMalformed, f, "systemd unit", err)
			return nil, &it
		}
		u = next
	}
	var comps []Component
	unit := strings.TrimSuffix(name, ".service")
	for _, argv := range u.ExecStart {
		if len(argv) == 0 {
			continue
		}
		comps = append(comps, Component{Name: componentName(argv[0], unit), Origin: p, Flags: ParseFlags(argv[1:])})
	}
	return comps, nil
}
