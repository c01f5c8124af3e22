package timer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
	buildDir  string
)

// buildCertrescue builds the binary once for the package's tests, as a
// node would run it (systemd execs it; the timer's service names its path).
func buildCertrescue(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "certrescue-timer-test-")
		if buildErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		top := filepath.Join(filepath.Dir(file), "..", "..")
		built = filepath.Join(buildDir, "certrescue")
		cmd := exec.Command("go", "build", "-o", built, "./cmd/certrescue")
		cmd.Dir = top
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// runCode runs certrescue and returns its combined output and exit code.
func runCode(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CERTRESCUE_OPERATOR=test")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("certrescue %s: %v\n%s", strings.Join(args, " "), err, out)
	return "", -1
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, code := runCode(t, bin, args...)
	if code != 0 {
		t.Fatalf("certrescue %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}
