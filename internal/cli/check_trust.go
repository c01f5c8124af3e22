package cli

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// trustCA is check --trust's view of one CA of the node: every file (with
// the flags that name it) and kubeconfig that trusts it, and what each holds
// now. A consumer still holding an expired copy of a renewed CA shows here.
// It is the TRUST CONSUMERS table and, with -o json or yaml, the report's
// "trust" list.
type trustCA struct {
	Name      string          `json:"name"`
	Path      string          `json:"path"`
	Cert      trustCert       `json:"certificate"`
	Consumers []trustConsumer `json:"consumers"`
}

type trustConsumer struct {
	catrust.Consumer
	Holds []trustCert `json:"holds"`
}

// trustCert is a certificate as the trust view names it.
type trustCert struct {
	Subject  string    `json:"subject"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"notAfter"`
	Expired  bool      `json:"expired"`
	// ThisCA: the consumer holds the CA's certificate itself (not an older
	// or newer one of the same CA).
	ThisCA bool `json:"thisCA,omitempty"`
}

func viewCert(c, ca *x509.Certificate, now time.Time) trustCert {
	return trustCert{Subject: c.Subject.CommonName, Serial: facts.SerialHex(c), NotAfter: c.NotAfter.UTC(),
		Expired: now.After(c.NotAfter), ThisCA: ca != nil && c.Equal(ca)}
}

// trustView builds the view of every CA of the node (items: its inventory).
func trustView(env *Env, items []inventory.Item) []trustCA {
	now := env.Clock.Now()
	var out []trustCA
	for _, ca := range catrust.Build(env.FS(), items) {
		v := trustCA{Name: ca.Name, Path: ca.Path, Cert: viewCert(ca.Cert, nil, now), Consumers: []trustConsumer{}}
		for _, c := range ca.Consumers {
			tc := trustConsumer{Consumer: c, Holds: []trustCert{}}
			for _, h := range c.Holds {
				tc.Holds = append(tc.Holds, viewCert(h, ca.Cert, now))
			}
			v.Consumers = append(v.Consumers, tc)
		}
		out = append(out, v)
	}
	return out
}

// printTrust is check's TRUST CONSUMERS table.
func printTrust(env *Env, cas []trustCA) {
	w := env.Stdout
	fmt.Fprintf(w, "\nTRUST CONSUMERS\n")
	for _, ca := range cas {
		fmt.Fprintf(w, "%s (%s): %s, serial %s, %s\n", ca.Name, ca.Path, ca.Cert.Subject, ca.Cert.Serial, validity(ca.Cert))
		for _, c := range ca.Consumers {
			what := c.Path
			if c.Field != "" {
				what += " " + c.Field
			}
			fmt.Fprintf(w, "  %-10s %s\n", c.Kind, what)
			var holds []string
			for _, h := range c.Holds {
				mark := ""
				if h.ThisCA {
					mark = " (this certificate)"
				}
				holds = append(holds, fmt.Sprintf("%s serial %s, %s%s", h.Subject, h.Serial, validity(h), mark))
			}
			fmt.Fprintf(w, "  %-10s holds %s\n", "", strings.Join(holds, "; "))
			for _, r := range c.Refs {
				fmt.Fprintf(w, "  %-10s read by %s\n", "", r)
			}
		}
	}
}

func validity(c trustCert) string {
	if c.Expired {
		return "EXPIRED " + c.NotAfter.Format(time.DateOnly)
	}
	return "until " + c.NotAfter.Format(time.DateOnly)
}
