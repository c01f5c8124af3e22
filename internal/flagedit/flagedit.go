package flagedit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxSize caps the text Set reads: manifests and units are a few KiB.
const MaxSize = 1 << 20

// Errors Set returns, wrapped with the flag and values.
var (
	ErrNotFound = errors.New("flag not found with that value")
	ErrTwice    = errors.New("flag given more than once")
	ErrValue    = errors.New("value cannot be written unquoted")
)

// Use is one occurrence of a flag in a file's text.
type Use struct {
	Value      string
	Start, End int // byte offsets of the value in the text
	Line       int // 1-based
}

// Find lists the occurrences of --flag (or -flag) outside comment lines, in
// order: "--flag=value", "--flag value", the value optionally quoted.
func Find(data []byte, flag string) []Use {
	if len(data) > MaxSize || flag == "" || strings.ContainsAny(flag, " \t\r\n=\"'") {
		return nil
	}
	var out []Use
	line, lineStart := 1, 0
	for i := 0; i < len(data); i++ {
		if data[i] == '\n' {
			line, lineStart = line+1, i+1
			continue
		}
		if data[i] != '-' || (i > 0 && !boundary(data[i-1])) {
			continue
		}
		j := i + 1
		if j < len(data) && data[j] == '-' {
			j++
		}
		if !bytes.HasPrefix(data[j:], []byte(flag)) {
			continue
		}
		j += len(flag)
		if comment(data[lineStart:i]) {
			continue
		}
		switch {
		case j < len(data) && data[j] == '=':
			j++
		case j < len(data) && (data[j] == ' ' || data[j] == '\t'):
			for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
				j++
			}
			if j < len(data) && data[j] == '-' {
				continue // a boolean, then the next flag
			}
		default:
			continue // --flagsomething, or a bare boolean at the end
		}
		start, end := valueAt(data, j)
		if end <= start {
			continue
		}
		out = append(out, Use{Value: string(data[start:end]), Start: start, End: end, Line: line})
		i = end - 1
	}
	return out
}

// Set returns data with --flag's value from changed to to. Exactly one
// occurrence outside comments must exist, and its value must be from.
func Set(data []byte, flag, from, to string) ([]byte, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("--%s: file larger than %d bytes", flag, MaxSize)
	}
	if to == "" || strings.ContainsAny(to, " \t\r\n\"'`,[]{}#\\$;") {
		return nil, fmt.Errorf("--%s=%q: %w", flag, to, ErrValue)
	}
	uses := Find(data, flag)
	switch {
	case len(uses) == 0:
		return nil, fmt.Errorf("--%s=%s: %w", flag, from, ErrNotFound)
	case len(uses) > 1:
		lines := make([]string, len(uses))
		for i, u := range uses {
			lines[i] = fmt.Sprintf("line %d: %s", u.Line, u.Value)
		}
		return nil, fmt.Errorf("--%s (%s): %w", flag, strings.Join(lines, "; "), ErrTwice)
	case uses[0].Value != from:
		return nil, fmt.Errorf("--%s=%s (line %d says %s): %w", flag, from, uses[0].Line, uses[0].Value, ErrNotFound)
	}
	u := uses[0]
	out := make([]byte, 0, len(data)-len(from)+len(to))
	out = append(out, data[:u.Start]...)
	out = append(out, to...)
	return append(out, data[u.End:]...), nil
}

// valueAt is the value starting at j: up to its closing quote when quoted,
// else up to whitespace, a quote or a list delimiter.
func valueAt(data []byte, j int) (start, end int) {
	if j < len(data) && isQuote(data[j]) {
		q := data[j]
		k := bytes.IndexByte(data[j+1:], q)
		if k < 0 || bytes.IndexByte(data[j+1:j+1+k], '\n') >= 0 {
			return j, j
		}
		return j + 1, j + 1 + k
	}
	k := j
	for k < len(data) && !strings.ContainsRune(" \t\r\n\"',]}", rune(data[k])) {
		k++
	}
	return j, k
}

func isQuote(b byte) bool { return b == '"' || b == '\'' }

// boundary: what may come before a flag (a YAML item, a shell word, a
// quoted or flow-list item).
func boundary(b byte) bool {
	return strings.ContainsRune(" \t\r\n\"'[,=", rune(b))
}

// comment reports whether a line's text before a flag starts a comment
// (YAML, shell and systemd: '#'; systemd also ';').
func comment(before []byte) bool {
	t := bytes.TrimLeft(before, " \t")
	return len(t) > 0 && (t[0] == '#' || t[0] == ';')
}
