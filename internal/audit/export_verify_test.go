package audit

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// exportLines makes a 10-event log and returns its JSON-lines export.
func exportLines(t *testing.T) ([]string, Checkpoint) {
	t.Helper()
	s := mustOpen(t, filepath.Join(t.TempDir(), "audit.db"))
	appendN(t, s, 10)
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, FormatJSONLines)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Events(context.Background(), Filter{}, enc.Encode); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	cp, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"), cp
}

func TestVerifyExport(t *testing.T) {
	tests := []struct {
		name       string
		edit       func([]string) []string
		checkpoint bool
		wantSeq    int64
		wantKind   string
	}{
		{"an untouched export verifies", func(l []string) []string { return l }, true, 0, ""},
		{"an edited field is named", func(l []string) []string {
			l[3] = strings.Replace(l[3], `"operator":"alice"`, `"operator":"eve"`, 1)
			return l
		}, false, 4, ProblemEdited},
		{"a deleted line is named", func(l []string) []string { return append(l[:5:5], l[6:]...) }, false, 6, ProblemMissing},
		{"swapped lines are named", func(l []string) []string { l[2], l[7] = l[7], l[2]; return l }, false, 3, ProblemMissing},
		{"a garbage line is named", func(l []string) []string { l[1] = "hello"; return l }, false, 2, ProblemEdited},
		{"a truncated export is caught by the checkpoint", func(l []string) []string { return l[:7] }, true, 8, ProblemTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, cp := exportLines(t)
			var cpp *Checkpoint
			if tc.checkpoint {
				cpp = &cp
			}
			rep, err := VerifyExport(strings.NewReader(strings.Join(tc.edit(lines), "\n")+"\n"), cpp)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantKind == "" {
				if rep.Problem != nil || rep.Events != 10 || rep.Head != cp {
					t.Fatalf("%+v %v", rep, rep.Problem)
				}
				return
			}
			if rep.Problem == nil || rep.Problem.Seq != tc.wantSeq || rep.Problem.Kind != tc.wantKind {
				t.Errorf("problem %+v, want event %d %s", rep.Problem, tc.wantSeq, tc.wantKind)
			}
		})
	}
}

func FuzzVerifyExport(f *testing.F) {
	e := sampleEvent(1)
	e.Seq, e.PrevHash = 1, GenesisHash
	if err := e.normalize(); err != nil {
		f.Fatal(err)
	}
	e.Hash = e.ComputeHash()
	var buf bytes.Buffer
	enc, _ := NewEncoder(&buf, FormatJSONLines)
	enc.Encode(e)
	enc.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("{\"id\":1,\"hash\":\"" + strings.Repeat("a", 64) + "\"}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := VerifyExport(bytes.NewReader(b), nil)
		if err == nil && rep.Problem == nil && rep.Events > 0 && len(b) == 0 {
			t.Fatal("events from nothing")
		}
	})
}
