package main

import (
	"context"
	"os"
	"testing"

	"github.com/certrescue/certrescue/internal/cli"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"certrescue": func() {
			os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs the command lines a user types (testdata/script/*.txtar)
// against the real binary and checks what it prints and its exit codes.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script", Setup: func(e *testscript.Env) error {
		// Audited commands without --root would write this machine's own
		// /var/lib/certrescue/audit.db: each script gets a store of its own.
		e.Setenv("CERTRESCUE_AUDIT_DSN", e.WorkDir+"/audit.db")
		return nil
	}})
}
