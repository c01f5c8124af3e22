package testbed

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var built struct {
	once sync.Once
	path string
	err  error
}

// Certrescue returns the binary under test (CGO_ENABLED=0, as shipped),
// built once per test process from this checkout. A package that uses it
// calls RemoveBuilt in its TestMain after m.Run.
func Certrescue(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "certrescue-test-bin")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "certrescue")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", built.path, "./cmd/certrescue")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// RemoveBuilt removes the binary Certrescue built, if it built one.
func RemoveBuilt() {
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path))
	}
}

// Strace finds a strace that can trace here (it needs ptrace, which some
// sandboxes forbid); without one the test skips, or fails under
// CERTRESCUE_REQUIRE_TESTBED=1 when it is not installed.
func Strace(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("strace")
	if err != nil {
		if Require() {
			t.Fatal("strace is not installed (scripts/test-deps.sh installs it)")
		}
		t.Skip("strace is not installed")
	}
	if out, err := exec.Command(p, "-qq", "-e", "trace=none", "true").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here: %v %s", err, out)
	}
	return p
}

// KillAfter runs argv in dir under strace with every call of syscalls (a
// comma-separated strace list) delayed, and SIGKILLs the whole process group
// once n of those calls have returned 0: a crash at the n-th change. With
// n <= 0 it runs argv to the end. It returns how many successful calls it
// saw, what strace printed, and how argv ended.
func KillAfter(t testing.TB, strace, syscalls string, n int, dir string, argv ...string) (seen int, trace string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"-f", "-qq", "-e", "trace=" + syscalls, "-e", "inject=" + syscalls + ":delay_exit=30000", "--"}, argv...)
	cmd := exec.CommandContext(ctx, strace, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }()
	names := strings.Split(syscalls, ",")
	var lines []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if !strings.Contains(line, ") = 0") || !tracesOneOf(line, names) {
			continue
		}
		seen++
		if n > 0 && seen >= n {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			break
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	return seen, strings.Join(lines, "\n"), err
}

// tracesOneOf says whether an strace line reports one of the calls: the
// call's own line ("[pid N] rename(...) = 0") or its resumption
// ("<... rename resumed>...) = 0"); strace adds " (DELAYED)" to both.
func tracesOneOf(line string, names []string) bool {
	for _, name := range names {
		if strings.Contains(line, name+"(") || strings.Contains(line, "<... "+name+" resumed>") {
			return true
		}
	}
	return false
}
