package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// printTrust is check's trust-consumer section: for each CA of the node,
// every file (with the flags that name it) and kubeconfig that trusts it, and
// what each holds now, by serial and validity: a consumer still holding an
// expired copy of a renewed CA shows here.
func printTrust(env *Env, format string, items []inventory.Item) {
	if format != "table" {
		return // -o json and yaml carry check's report only
	}
	now := env.Clock.Now()
	w := env.Stdout
	fmt.Fprintf(w, "\nTRUST CONSUMERS\n")
	for _, ca := range catrust.Build(env.FS(), items) {
		fmt.Fprintf(w, "%s (%s): %s, serial %s, %s\n", ca.Name, ca.Path, ca.Cert.Subject.CommonName, facts.SerialHex(ca.Cert), validity(ca.Cert.NotAfter, now))
		for _, c := range ca.Consumers {
			what := c.Path
			if c.Field != "" {
				what += " " + c.Field
			}
			fmt.Fprintf(w, "  %-10s %s\n", c.Kind, what)
			var holds []string
			for _, h := range c.Holds {
				mark := ""
				if h.Equal(ca.Cert) {
					mark = " (this certificate)"
				}
				holds = append(holds, fmt.Sprintf("%s serial %s, %s%s", h.Subject.CommonName, facts.SerialHex(h), validity(h.NotAfter, now), mark))
			}
			fmt.Fprintf(w, "  %-10s holds %s\n", "", strings.Join(holds, "; "))
			for _, r := range c.Refs {
				fmt.Fprintf(w, "  %-10s read by %s\n", "", r)
			}
		}
	}
}

func validity(na, now time.Time) string {
	if now.After(na) {
		return "EXPIRED " + na.UTC().Format(time.DateOnly)
	}
	return "until " + na.UTC().Format(time.DateOnly)
}
