package rescue

import (
	"crypto/x509"
	"errors"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
)

// isDue is the check step's rule for one certificate: Options.Due when set,
// else expired, not yet valid, or expiring within Options.Within.
func (r *runner) isDue(c *x509.Certificate) bool {
	if r.o.Due != nil {
		return r.o.Due(c, r.now())
	}
	return !c.NotAfter.After(r.now().Add(r.o.Within)) || r.now().Before(c.NotBefore)
}

// Check is Run's check step alone: what a run with o would renew (due by
// o's rule, a kubeconfig holding another credential's certificate, a
// certificate beside a key of another generation). It reads the node and
// changes nothing: no lock, no journal. renew --auto asks it first, so a
// node with nothing due is not touched at all. With o.All it still returns
// only what is due.
func Check(o Options) ([]renewal.Current, error) {
	if o.Roles == nil {
		o.Roles = layout.Kubeadm
	}
	if o.Within == 0 {
		o.Within = DefaultWithin
	}
	o.All = false
	if o.Clock == nil {
		return nil, errors.New("rescue: Options.Clock is nil (the certificates' clock)")
	}
	r := &runner{o: o, rep: &Report{}}
	if _, err := r.check(); err != nil {
		return nil, err
	}
	return r.rep.Due, nil
}
