package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/cli"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/testpki"
	"github.com/rogpeppe/go-internal/testscript"
)

// update rewrites the golden sections of the scripts (cmp's second file, when
// it is in the archive) with what the commands print now:
//
//	go test ./cmd/certrescue/ -run TestScripts -update
var update = flag.Bool("update", false, "rewrite the scripts' golden output with what the commands print")

// scriptNow is the instant every script runs at: the certificates kubeadm-node
// makes are valid around it and the binary's clock is stopped at it, so dates
// and residual times in golden output are the same every run.
var scriptNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// nowEnv names the variable that stops the binary's clock (RFC 3339). Only
// this test binary reads it; certrescue itself always reads the wall clock.
const nowEnv = "CERTRESCUE_TEST_NOW"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"certrescue": func() {
			ctx := context.Background()
			if v := os.Getenv(nowEnv); v != "" {
				now, err := time.Parse(time.RFC3339, v)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", nowEnv, err)
					os.Exit(3)
				}
				ctx = cli.WithClock(ctx, clock.Fixed(now))
			}
			os.Exit(cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// scriptTB lets testpki's helpers fail the script that called them.
type scriptTB struct {
	testing.TB
	ts *testscript.TestScript
}

func (s scriptTB) Helper()                           {}
func (s scriptTB) Fatalf(format string, args ...any) { s.ts.Fatalf(format, args...) }
func (s scriptTB) Fatal(args ...any)                 { s.ts.Fatalf("%s", fmt.Sprint(args...)) }

// TestScripts runs the command lines a user types (testdata/script/*.txtar)
// against the real binary and checks what it prints and its exit codes.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			// Audited commands without --root would write this machine's own
			// /var/lib/certrescue/audit.db: each script gets a store of its own.
			e.Setenv("CERTRESCUE_AUDIT_DSN", e.WorkDir+"/audit.db")
			e.Setenv("CERTRESCUE_OPERATOR", "tester")
			e.Setenv(nowEnv, scriptNow.Format(time.RFC3339))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"kubeadm-node": func(ts *testscript.TestScript, neg bool, args []string) {
				kubeadmNode(t, ts, neg, args)
			},
			"age": func(ts *testscript.TestScript, neg bool, args []string) {
				age(t, ts, neg, args)
			},
			"normalize": normalize,
		},
	})
}

// kubeadm-node DIR: a kubeadm node (testpki's pure-Go stand-in) with static
// pod manifests; leaves valid for a year from scriptNow, CAs for ten.
func kubeadmNode(t *testing.T, ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: kubeadm-node DIR")
	}
	testpki.KubeadmTree(scriptTB{t, ts}, ts.MkAbs(args[0]), testpki.TreeOptions{Manifests: true,
		NotBefore: scriptNow.Add(-time.Hour), NotAfter: scriptNow.AddDate(1, 0, 0),
		CANotBefore: scriptNow.Add(-time.Hour), CANotAfter: scriptNow.AddDate(10, 0, 0)})
}

// age DIR DURATION ROLE...: re-sign ROLEs to end DURATION after scriptNow
// (negative: before it).
func age(t *testing.T, ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: age DIR DURATION ROLE...")
	}
	d, err := time.ParseDuration(args[1])
	if err != nil {
		ts.Fatalf("age: %v", err)
	}
	testpki.AgeKubeadmTree(scriptTB{t, ts}, ts.MkAbs(args[0]), scriptNow.AddDate(-1, 0, 0), scriptNow.Add(d), testpki.AgeOnly(args[2:]...))
}

// normalizers replace what differs between runs with the same output: keys,
// serials and fingerprints are random, hashes chain over them, transaction
// names end in a random suffix, and elapsed times are the wall clock's.
var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\b[0-9a-f]{2}(:[0-9a-f]{2}){7,}\b`), "<hex>"},
	{regexp.MustCompile(`(?i)\b[0-9a-f]{16,}\b`), "<hex>"},
	{regexp.MustCompile(`(\b[a-z]+-\d{8}T\d{6}(\.\d+)?Z-)[0-9a-f]{8}\b`), "${1}<hex>"},
	{regexp.MustCompile(`\b\d+\.\d\ds\b`), "0.00s"},
	{regexp.MustCompile(`"os_user":"[^"]*"`), `"os_user":"<user>"`},
}

// columnGap is the space between a table's columns, whose widths follow what
// normalize replaces (this machine's name, a serial's length).
var columnGap = regexp.MustCompile(` {2,}`)

// normalize [-columns] FILE...: rewrite each file as golden output is
// compared: the script's work directory becomes $WORK, random hex <hex>, this
// machine's name <host>; with -columns, a table's column gaps two spaces.
func normalize(ts *testscript.TestScript, neg bool, args []string) {
	columns := len(args) > 0 && args[0] == "-columns"
	if columns {
		args = args[1:]
	}
	if neg || len(args) == 0 {
		ts.Fatalf("usage: normalize [-columns] FILE...")
	}
	work := ts.Getenv("WORK")
	host := hostPattern()
	for _, name := range args {
		s := ts.ReadFile(name)
		s = strings.ReplaceAll(s, work, "$WORK")
		if host != nil {
			s = host.ReplaceAllString(s, "<host>")
		}
		for _, n := range normalizers {
			s = n.re.ReplaceAllString(s, n.with)
		}
		if columns {
			s = columnGap.ReplaceAllString(s, "  ")
		}
		ts.Check(os.WriteFile(ts.MkAbs(name), []byte(s), 0o600))
	}
}

// hostPattern matches this machine's name as a word: audit events record it.
func hostPattern() *regexp.Regexp {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return nil
	}
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(h) + `\b`)
}
