// Command checkonly is a measuring stick for scripts/bench-check.sh, not a
// product: the inventory scan and evaluation of `certrescue check` (same
// packages, same work, a one-line summary instead of the table) in a binary
// that links nothing else, so the benchmark can tell check's own cost from the
// start-up cost of everything else linked into certrescue.
//
//	go build -o /tmp/checkonly ./test/check/checkonly && /tmp/checkonly ROOT
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/inventory"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: checkonly ROOT")
		os.Exit(3)
	}
	items, err := inventory.ScanNode(context.Background(), inventory.NewReader(os.Args[1]), inventory.NodeOptions{Node: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkonly:", err)
		os.Exit(1)
	}
	rep := evaluation.Evaluate(items, time.Now(), evaluation.DefaultPolicy())
	fmt.Printf("%d checked, status %s\n", len(rep.Results), rep.Status)
	os.Exit(int(rep.Status))
}
