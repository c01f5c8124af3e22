package inventory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/layout"
)

// Unit is what certrescue reads from a systemd service unit: its ExecStart
// command lines, with $VAR and ${VAR} expanded from the unit's Environment=
// assignments (and, after Expand, from its EnvironmentFile= files).
type Unit struct {
	ExecStart [][]string
	Env       map[string]string
	// EnvFiles are the EnvironmentFile= entries in order, as written (node
	// paths, specifiers not yet expanded); an empty assignment resets them.
	EnvFiles []EnvFile

	raw []string // ExecStart values as written, for Expand
}

// EnvFile is one EnvironmentFile= entry. Optional ("-" prefix) files may be
// absent.
type EnvFile struct {
	Path     string
	Optional bool
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
		u.raw = append(u.raw, base.raw...)
		u.EnvFiles = append(u.EnvFiles, base.EnvFiles...)
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
			if len(words) == 0 {
				u.Env = map[string]string{} // an empty Environment= resets the list
			}
			for _, w := range words {
				if k, v, ok := strings.Cut(w, "="); ok {
					u.Env[k] = v
				}
			}
		case "EnvironmentFile":
			value = strings.TrimSpace(value)
			if value == "" {
				u.EnvFiles = nil
				continue
			}
			words, err := splitWords(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: EnvironmentFile: %w", lineNo, err)
			}
			for _, w := range words {
				f := EnvFile{Path: w}
				if strings.HasPrefix(w, "-") {
					f = EnvFile{Path: w[1:], Optional: true}
				}
				u.EnvFiles = append(u.EnvFiles, f)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if reset {
		u.raw = nil
	}
	u.raw = append(u.raw, raw...)
	if err := u.Expand(nil); err != nil {
		return nil, err
	}
	return u, nil
}

// Expand recomputes ExecStart from the values as written, with the unit's
// Environment= assignments overridden by fileEnv (what its EnvironmentFile=
// files set: systemd lets those win).
func (u *Unit) Expand(fileEnv map[string]string) error {
	env := u.Environ(fileEnv)
	u.ExecStart = nil
	for _, v := range u.raw {
		words, err := splitWords(v)
		if err != nil {
			return fmt.Errorf("ExecStart: %w", err)
		}
		u.ExecStart = append(u.ExecStart, expandWords(words, env))
	}
	return nil
}

// Environ is the environment the unit's processes start with: Environment=
// assignments overridden by fileEnv.
func (u *Unit) Environ(fileEnv map[string]string) map[string]string {
	env := make(map[string]string, len(u.Env)+len(fileEnv))
	for k, v := range u.Env {
		env[k] = v
	}
	for k, v := range fileEnv {
		env[k] = v
	}
	return env
}

// ParseEnvFile reads a systemd EnvironmentFile: KEY=VALUE lines, # and ;
// comments, blank lines, values in single or double quotes (backslash escapes
// in double quotes), a trailing backslash continuing a line, and an optional
// "export " prefix (shell-style files sourced elsewhere too). Keys must be
// valid variable names.
func ParseEnvFile(data []byte) (map[string]string, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d-byte limit for an environment file", ErrTooLarge, len(data), MaxManifestSize)
	}
	env := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) && !quotedOpen(line) {
			i++
			line = strings.TrimSuffix(line, "\\") + strings.TrimSpace(lines[i])
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validEnvName(key) {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", lineNo, trim(line))
		}
		value = strings.TrimSpace(value)
		// A quoted value may span lines, as systemd allows.
		for quotedOpen(value) && i+1 < len(lines) {
			i++
			value += "\n" + lines[i]
		}
		v, err := envValue(value)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", lineNo, key, err)
		}
		env[key] = v
	}
	return env, nil
}

// quotedOpen reports whether s starts a quoted value it does not close.
func quotedOpen(s string) bool {
	if s == "" || (s[0] != '"' && s[0] != '\'') {
		if _, v, ok := strings.Cut(s, "="); ok {
			return quotedOpen(strings.TrimSpace(v))
		}
		return false
	}
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q:
			return false
		}
	}
	return true
}

// envValue unquotes one value: quoted parts lose their quotes, unquoted text
// keeps its inner spaces (systemd keeps "a b" for A=a b).
func envValue(s string) (string, error) {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != '\'' && c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				b.WriteByte(s[i])
			}
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == '#' && i > 0 && (s[i-1] == ' ' || s[i-1] == '\t'):
			return strings.TrimSpace(b.String()), nil // a trailing comment
		default:
			b.WriteByte(c)
		}
	}
	if quote != 0 {
		return "", fmt.Errorf("unterminated %c quote", quote)
	}
	return strings.TrimSpace(b.String()), nil
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// expandSpecifiers replaces the unit-name specifiers systemd allows in
// EnvironmentFile= (%n the unit's name, %N without its suffix, %p its
// prefix, %i its instance, %% a percent sign); others are left as they are.
func expandSpecifiers(s, unit string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	noSuffix := strings.TrimSuffix(unit, path.Ext(unit))
	prefix, instance, _ := strings.Cut(noSuffix, "@")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteString(unit)
		case 'N':
			b.WriteString(noSuffix)
		case 'p':
			b.WriteString(prefix)
		case 'i':
			b.WriteString(instance)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
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
		case c == ' ' || c == '\t' || c == '\n':
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
// the same name in a later one, as systemd's search path does (/usr/local/lib
// is where RKE2's tarball install puts rke2-server.service).
var unitDirs = []string{"/etc/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

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

// dropIns lists a unit's drop-ins in the order systemd applies them: sorted
// by file name across the unit directories, a name in an earlier directory
// hiding the same name in a later one.
func (r *Reader) dropIns(name string) []string {
	byName := map[string]string{}
	var names []string
	for _, dir := range unitDirs {
		for _, f := range r.Node.Glob(path.Join(dir, name+".d", "*.conf")) {
			if _, ok := byName[path.Base(f)]; !ok {
				byName[path.Base(f)] = f
				names = append(names, path.Base(f))
			}
		}
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, byName[n])
	}
	return out
}

// readUnit reads a unit, its drop-ins and its EnvironmentFile= files, and
// expands its ExecStart lines. files are the node paths read, in order; a
// file that cannot be read or parsed is returned as a KindFile item.
func (r *Reader) readUnit(p, name string) (u *Unit, env map[string]string, fileOf map[string]string, files []string, bad *Item) {
	for _, f := range append([]string{p}, r.dropIns(name)...) {
		files = append(files, f)
		it := Item{Name: path.Base(f), Kind: KindFile, Path: f, Sources: []string{"systemd unit"}}
		rf := r.readFor(&it, f, "systemd unit", MaxManifestSize, true)
		if rf == nil {
			return nil, nil, nil, nil, &it
		}
		next, err := ParseUnit(rf.Data, u)
		if err != nil {
			it.problem(facts.ReasonMalformed, f, "systemd unit", err)
			return nil, nil, nil, nil, &it
		}
		u = next
	}
	fileEnv := map[string]string{}
	fileOf = map[string]string{}
	for _, ef := range u.EnvFiles {
		ep := expandSpecifiers(ef.Path, name)
		if !path.IsAbs(ep) {
			continue // systemd refuses relative paths too
		}
		ep = path.Clean(ep)
		if ef.Optional && !r.Node.Exists(ep) {
			continue
		}
		it := Item{Name: path.Base(ep), Kind: KindFile, Path: ep, Sources: []string{"EnvironmentFile of " + p}}
		rf := r.readFor(&it, ep, "environment file", MaxManifestSize, true)
		if rf == nil {
			return nil, nil, nil, nil, &it
		}
		vars, err := ParseEnvFile(rf.Data)
		if err != nil {
			it.problem(facts.ReasonMalformed, ep, "environment file", err)
			return nil, nil, nil, nil, &it
		}
		for k, v := range vars {
			fileEnv[k], fileOf[k] = v, ep
		}
		files = append(files, ep)
	}
	if err := u.Expand(fileEnv); err != nil {
		it := Item{Name: path.Base(p), Kind: KindFile, Path: p, Sources: []string{"systemd unit"}}
		it.problem(facts.ReasonMalformed, p, "systemd unit", err)
		return nil, nil, nil, nil, &it
	}
	return u, u.Environ(fileEnv), fileOf, files, nil
}

func (r *Reader) unitComponents(p, name string) ([]Component, *Item) {
	u, env, fileOf, files, bad := r.readUnit(p, name)
	if bad != nil {
		return nil, bad
	}
	var comps []Component
	unit := strings.TrimSuffix(name, ".service")
	for _, argv := range u.ExecStart {
		if len(argv) == 0 {
			continue
		}
		c := Component{Name: componentName(argv[0], unit), Origin: p, Unit: name, Flags: ParseFlags(argv[1:]), Files: files}
		if c.Name == layout.Etcd {
			etcdEnvFlags(&c, env, fileOf)
		}
		comps = append(comps, c)
	}
	return comps, nil
}

// etcdEnvFlags adds the ETCD_* variables of etcd's environment as the flags
// they stand for (ETCD_LISTEN_CLIENT_URLS is --listen-client-urls), as etcd
// itself reads them; a flag on the command line wins (etcd refuses to start
// with both, so either reading is the one that runs). kubespray's etcd unit
// has no flags at all: everything is in /etc/etcd.env.
func etcdEnvFlags(c *Component, env, fileOf map[string]string) {
	for k, v := range env {
		if !strings.HasPrefix(k, "ETCD_") || len(k) == len("ETCD_") {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(k[len("ETCD_"):], "_", "-"))
		if _, set := c.Flags[flag]; set {
			continue
		}
		c.Flags[flag] = v
		if c.FlagFrom == nil {
			c.FlagFrom = map[string]string{}
		}
		from := fileOf[k]
		if from == "" {
			from = c.Origin
		}
		c.FlagFrom[flag] = k + " in " + from
	}
}
