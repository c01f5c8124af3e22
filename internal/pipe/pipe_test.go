package pipe

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestReadersFindsTheProcessReadingThePipe starts a real process reading the
// pipe (cat, as cfssljson reads gencert's stdout) and one that only writes to
// another: the reader is found by its command line; a writer is not a reader.
func TestReadersFindsTheProcessReadingThePipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	reader := exec.Command("cat", "-u")
	reader.Stdin = r
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer func() { w.Close(); _ = reader.Wait() }()

	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	writer := exec.Command("sleep", "30")
	writer.Stdout = w2
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	defer func() { _ = writer.Process.Kill(); _ = writer.Wait() }()

	got, err := Readers(w)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(got, func(p Process) bool { return p.PID == reader.Process.Pid })
	if i < 0 {
		t.Fatalf("cat (pid %d) not among the readers %+v", reader.Process.Pid, got)
	}
	if p := got[i]; p.Name() != "cat" || !slices.Equal(p.Argv, []string{"cat", "-u"}) || filepath.Base(p.Exe) != "cat" {
		t.Errorf("reader = %+v", p)
	}
	if len(got) != 1 {
		t.Errorf("readers %+v, want cat alone (this process holds the write end only)", got)
	}
	// The writer of the second pipe holds its write end: it is no reader of it.
	got2, err := Readers(r2)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(got2, func(p Process) bool { return p.PID == writer.Process.Pid }) {
		t.Errorf("the writer %d is listed as a reader: %+v", writer.Process.Pid, got2)
	}
}

func TestReadersOfAFileThatIsNoPipe(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Readers(f); !errors.Is(err, ErrNotPipe) {
		t.Errorf("Readers(regular file) = %v, want ErrNotPipe", err)
	}
}

func TestParseAccessMode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
		ok   bool
	}{
		{"a read end with O_LARGEFILE", "pos:\t0\nflags:\t0100000\nmnt_id:\t15\n", syscall.O_RDONLY, true},
		{"a write end", "pos:\t0\nflags:\t01\nmnt_id:\t15\n", syscall.O_WRONLY, true},
		{"read-write with O_CLOEXEC", "flags:\t02000002\n", syscall.O_RDWR, true},
		{"no flags line", "pos:\t0\n", 0, false},
		{"garbage flags", "flags:\tzz\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseAccessMode([]byte(tt.in))
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseAccessMode = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseAccessMode(f *testing.F) {
	f.Add([]byte("pos:\t0\nflags:\t0100000\nmnt_id:\t15\n"))
	f.Add([]byte("flags:\t"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, ok := parseAccessMode(data); ok && (m < 0 || m > syscall.O_ACCMODE) {
			t.Fatalf("access mode %d out of range", m)
		}
	})
}
