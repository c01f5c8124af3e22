package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
)

// result is what one in-process certrescue run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runAt runs certrescue in-process with a fixed clock and returns its output.
func runAt(t *testing.T, now time.Time, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Clock: clock.Fixed(now), Root: "/",
		Getenv: func(string) string { return "" }}
	code := run(context.Background(), env, args)
	return result{out.String(), errb.String(), code}
}

func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	return runAt(t, time.Now(), "", args...)
}

func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runCLI(t, args...)
	if r.code != 0 {
		t.Fatalf("certrescue %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func nowish() time.Time { return time.Now() }
