package rescue

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

var epoch = testpki.Epoch

// node is a kubeadm tree for a rescue test: expired (every leaf a month past
// its end) or healthy (every leaf valid for a year).
func node(t testing.TB, expired bool) string {
	t.Helper()
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	if expired {
		testpki.AgeKubeadmTree(t, root, epoch.Add(-400*24*time.Hour), epoch.Add(-30*24*time.Hour),
			testpki.AgeOnly(renewal.RenewableNames(layout.Kubeadm)...))
	}
	return root
}

// recorder is a Restarter for unit tests, which run no control plane (test/e2e
// restarts the real one with the command strategy). It records the order and
// fails the components told to.
type recorder struct {
	mu       sync.Mutex
	calls    []string
	fail     map[string]error
	failOnce bool // fail only the first restart of each component in fail
}

func (r *recorder) Restart(_ context.Context, c string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	err := r.fail[c]
	if r.failOnce {
		delete(r.fail, c)
	}
	return err
}

func (r *recorder) Describe(c string) string { return "record " + c }

// certProbe stands in for a restarted component in unit tests: it passes when
// the certificate the component would load verifies against its CA at the
// clock's now and carries wantIP. The real probes run in test/e2e.
type certProbe struct {
	root, cert, ca string
	now            func() time.Time
	wantIP         string
}

func (p certProbe) Check(context.Context) error {
	read := func(nodePath string) (*x509.Certificate, error) {
		data, err := os.ReadFile(filepath.Join(p.root, nodePath))
		if err != nil {
			return nil, err
		}
		cs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return nil, err
		}
		return cs[0], nil
	}
	leaf, err := read(p.cert)
	if err != nil {
		return err
	}
	ca, err := read(p.ca)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: p.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%s: %w", p.cert, err)
	}
	if p.wantIP != "" && !slices.ContainsFunc(leaf.IPAddresses, func(ip net.IP) bool { return ip.String() == p.wantIP }) {
		// As the real probe: the file on disk, served, fails verification.
		return &health.PermanentError{Err: fmt.Errorf("%s: x509: certificate is not valid for %s", p.cert, p.wantIP)}
	}
	return nil
}

func gates(root string, now func() time.Time) map[string][]health.Gate {
	g := func(c, cert, ca, ip string) []health.Gate {
		return []health.Gate{{Component: c, Name: c + " certificate", Timeout: 10 * time.Second,
			Probe: certProbe{root: root, cert: cert, ca: ca, now: now, wantIP: ip}}}
	}
	pkiDir := layout.PKIDir
	return map[string][]health.Gate{
		layout.Etcd:                  g(layout.Etcd, pkiDir+"/etcd/server.crt", pkiDir+"/etcd/ca.crt", "127.0.0.1"),
		layout.KubeAPIServer:         g(layout.KubeAPIServer, pkiDir+"/apiserver.crt", pkiDir+"/ca.crt", "10.0.0.1"),
		layout.KubeControllerManager: g(layout.KubeControllerManager, pkiDir+"/apiserver-kubelet-client.crt", pkiDir+"/ca.crt", ""),
		layout.KubeScheduler:         g(layout.KubeScheduler, pkiDir+"/front-proxy-client.crt", pkiDir+"/front-proxy-ca.crt", ""),
		layout.Kubelet:               {{Component: layout.Kubelet, Name: "kubelet healthz", Timeout: 10 * time.Second, Probe: up{}}},
	}
}

// up stands in for the kubelet's plain-HTTP healthz, which checks no
// certificate.
type up struct{}

func (up) Check(context.Context) error { return nil }

// options is a rescue of root with fakes for what cannot run in a unit test.
func options(root string, rec *recorder, events *[]Event) Options {
	o := Options{
		Root:      root,
		BackupDir: filepath.Join(root, backup.DefaultDir),
		StateDir:  filepath.Join(root, StateDir),
		Restarter: rec,
		Clock:     clock.NewFake(epoch), // advances only when something sleeps
	}
	o.Gates = gates(root, o.Clock.Now)
	if events != nil {
		o.Events = func(e Event) { *events = append(*events, e) }
	}
	return o
}

// breakAPIServerSANs re-signs the planned apiserver certificate without its
// IP SANs: the API server gate must then fail.
func breakAPIServerSANs(t testing.TB, root string) func(*renewal.Plan) {
	return func(p *renewal.Plan) {
		ca, err := pki.LoadCA(filepath.Join(root, layout.PKIDir, "ca.crt"), filepath.Join(root, layout.PKIDir, "ca.key"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.Items {
			it := &p.Items[i]
			if it.Role.Name != "apiserver" {
				continue
			}
			tmpl := renewal.TemplateFrom(it.New)
			tmpl.IPAddresses = nil
			tmpl.NotBefore, tmpl.NotAfter = it.New.NotBefore, it.New.NotAfter
			c, err := pki.Sign(ca, tmpl, it.New.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			it.Files[0].Data = pki.EncodeCertificatePEM(c.Raw)
		}
	}
}

// files hashes every regular file and link under root except certrescue's own
// state.
func files(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "var/lib/certrescue") {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			s := sha256.Sum256(b)
			out["/"+rel] = fmt.Sprintf("%v %s", fi.Mode().Perm(), hex.EncodeToString(s[:]))
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out["/"+rel] = "-> " + l
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// identicalToBackup checks every file of the backup is on disk byte for byte
// (sha256), with its mode.
func identicalToBackup(t testing.TB, root, archive string) {
	t.Helper()
	info, err := backup.Verify(archive)
	if err != nil {
		t.Fatal(err)
	}
	disk := files(t, root)
	for _, e := range info.Manifest.Entries {
		switch e.Type {
		case backup.TypeFile:
			if want := fmt.Sprintf("%v %s", e.Mode.Perm(), e.SHA256); disk[e.Path] != want {
				t.Errorf("%s: %q on disk, %q in the backup", e.Path, disk[e.Path], want)
			}
		case backup.TypeSymlink:
			if disk[e.Path] != "-> "+e.Target {
				t.Errorf("%s: %q on disk, -> %s in the backup", e.Path, disk[e.Path], e.Target)
			}
		}
	}
}

// allRenewed reports whether every renewable certificate is valid a year on.
func allRenewed(root string) error {
	var errs []error
	for _, c := range renewal.Inspect(root, layout.Kubeadm) {
		if c.Err != nil {
			errs = append(errs, c.Err)
		} else if c.Cert.NotAfter.Before(epoch.Add(300 * 24 * time.Hour)) {
			errs = append(errs, fmt.Errorf("%s valid only until %s", c.Role.Name, c.Cert.NotAfter))
		}
	}
	return errors.Join(errs...)
}
