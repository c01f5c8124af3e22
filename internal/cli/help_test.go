package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/spf13/cobra"
)

// TestEveryCommandHasExamplesAndExitCodes walks the whole command tree: an
// operator at 3 a.m. reads --help, and every page must show how to use the
// command and what its exit code means.
func TestEveryCommandHasExamplesAndExitCodes(t *testing.T) {
	var buf bytes.Buffer
	root := NewRootCommand(&Env{Stdout: &buf, Stderr: &buf, Clock: clock.Real{}, Root: "/"})
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		n++
		buf.Reset()
		c.SetOut(&buf)
		if err := c.Help(); err != nil {
			t.Fatal(err)
		}
		help := buf.String()
		for _, section := range []string{"EXAMPLES", "EXIT CODES"} {
			if !strings.Contains(help, "\n"+section+"\n") {
				t.Errorf("'%s --help' has no %s section", c.CommandPath(), section)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 10 {
		t.Fatalf("walked only %d commands", n)
	}
}

func TestSingleDashLongFlagsAreAccepted(t *testing.T) {
	root := NewRootCommand(&Env{Clock: clock.Real{}, Root: "/"})
	got := normalizeDashes(root, []string{"gencert", "-ca=ca.pem", "-ca-key", "k.pem", "-profile=kubernetes", "-initca", "-o", "x", "--", "-config"})
	want := []string{"gencert", "--ca=ca.pem", "--ca-key", "k.pem", "--profile=kubernetes", "--initca", "-o", "x", "--", "-config"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}
