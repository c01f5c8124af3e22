package cli

import (
	"crypto/x509"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/spf13/cobra"
)

// CertEvent is what a state-changing command reports for the audit log: one
// certificate (or file) created, renewed, deployed, backed up, ... Never key
// material.
type CertEvent struct {
	Action   facts.Action
	Name     string            // certificate name: "apiserver", "ca", the -bare NAME
	Path     string            // file written or changed
	Cert     *x509.Certificate // the certificate now in place, if any
	Previous *x509.Certificate // the certificate it replaced, on a renewal
	Err      error             // nil on success
}

// annAudited marks a command as state-changing: it must be able to write its
// audit events before it changes anything.
const annAudited = "audited"

func audited(c *cobra.Command) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annAudited] = "true"
	return c
}

// record appends an audit event for a state-changing command.
// The audit store itself (package audit) plugs in here.
func (e *Env) record(cmd *cobra.Command, ev CertEvent) error {
	_ = cmd
	_ = ev
	return nil
}
