package timer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveBuilt()
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
