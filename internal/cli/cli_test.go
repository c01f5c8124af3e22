package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
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
	// Runs without --root would audit into this machine's own
	// /var/lib/certrescue/audit.db: give them a store of their own.
	vars := map[string]string{}
	if !slices.Contains(args, "--root") {
		vars["CERTRESCUE_AUDIT_DSN"] = filepath.Join(t.TempDir(), "audit.db")
	}
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Clock: clock.Fixed(now), Root: "/",
		Getenv: func(k string) string { return vars[k] }}
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
