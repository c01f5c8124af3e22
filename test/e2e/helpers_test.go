package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/restart"
)

// TestHelperPoller is not a test: startPoller runs the test binary with it
// inside the namespace. It probes the API server's /readyz with admin.conf
// (read afresh for each probe) every 50ms until SIGTERM, then writes what it
// saw as JSON.
func TestHelperPoller(t *testing.T) {
	root, out := os.Getenv("E2E_POLL_ROOT"), os.Getenv("E2E_POLL_OUT")
	if root == "" {
		t.Skip("run by TestRescueARealControlPlane")
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	var a availability
	var downSince time.Time
	finish := func() {
		if !downSince.IsZero() {
			a.LongestGap = max(a.LongestGap, time.Since(downSince))
		}
		data, _ := json.Marshal(a)
		os.WriteFile(out, data, 0o600)
		os.Exit(0)
	}
	for {
		select {
		case <-stop:
			finish()
		default:
		}
		t0 := time.Now()
		err := probeReadyz(root)
		a.Probes++
		switch {
		case err == nil:
			if a.FirstOK.IsZero() {
				a.FirstOK = t0
			}
			if !downSince.IsZero() {
				a.LongestGap = max(a.LongestGap, t0.Sub(downSince))
				downSince = time.Time{}
			}
		default:
			a.Failed++
			if downSince.IsZero() && !a.FirstOK.IsZero() { // gaps once it has been up
				downSince = t0
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func probeReadyz(root string) error {
	kc, err := kubeconfig.Load(filepath.Join(root, layout.KubernetesDir, "admin.conf"))
	if err != nil {
		return err
	}
	cas, err := kc.CACertificates()
	if err != nil {
		return err
	}
	certs, err := kc.ClientCertificates()
	if err != nil {
		return err
	}
	key, err := kc.ClientPrivateKey()
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{certs[0].Raw}, PrivateKey: key}}},
		DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	resp, err := client.Get("https://" + net.JoinHostPort(advertise, "6443") + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %d", resp.StatusCode)
	}
	return nil
}

// TestHelperBrokenRescue is not a test: brokenRescue runs the test binary
// with it inside the namespace. It runs the rescue library with the real
// restart commands and the real kubeadm gates, and removes the advertise
// address from the renewed API server certificate's SANs before deploying it:
// the API server gate must fail and everything be rolled back.
func TestHelperBrokenRescue(t *testing.T) {
	root := os.Getenv("E2E_BROKEN_ROOT")
	if root == "" {
		t.Skip("run by TestRescueARealControlPlane")
	}
	var cmds map[string]string
	if err := json.Unmarshal([]byte(os.Getenv("E2E_BROKEN_COMMANDS")), &cmds); err != nil {
		t.Fatal(err)
	}
	wallClock := clock.Real{} // a real control plane: its certificates, restarts and gates run on real time
	o := rescue.Options{
		Root:      root,
		All:       true,
		BackupDir: filepath.Join(root, backup.DefaultDir),
		StateDir:  filepath.Join(root, rescue.StateDir),
		Restarter: restart.CommandRestarter{Commands: cmds},
		Gates: health.Kubeadm(health.Options{Root: root, Timeout: 20 * time.Second, Clock: wallClock,
			Endpoints: map[string]string{layout.Kubelet: health.Off}}),
		Clock: wallClock,
		Events: func(e rescue.Event) {
			if e.Action == "" && e.Status != rescue.EventStart {
				t.Logf("%-8s %-24s %-5s %6.2fs %s %v", e.Step, e.Component, e.Status, e.Took.Seconds(), e.Detail, e.Err)
			}
		},
		BeforeDeploy: func(p *renewal.Plan) {
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
				tmpl.NotBefore, tmpl.NotAfter = it.New.NotBefore, it.New.NotAfter
				tmpl.IPAddresses = nil
				for _, ip := range it.New.IPAddresses {
					if ip.String() != advertise {
						tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
					}
				}
				c, err := pki.Sign(ca, tmpl, it.New.PublicKey)
				if err != nil {
					t.Fatal(err)
				}
				it.Files[0].Data = pki.EncodeCertificatePEM(c.Raw)
			}
		},
	}
	rep, err := rescue.Run(context.Background(), o)
	out := brokenReport{Result: rep.Result, Seconds: rep.Took.Seconds()}
	if err != nil {
		out.Failure = err.Error()
	}
	if rep.Backup != nil {
		out.Backup = rep.Backup.Path
	}
	data, _ := json.Marshal(out)
	fmt.Printf("REPORT %s\n", data)
}

// identicalToBackup checks every file of the archive is on disk byte for byte.
func (c *cluster) identicalToBackup(t *testing.T, archive string) {
	t.Helper()
	info, err := backup.Verify(archive)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range info.Manifest.Entries {
		if e.Type != backup.TypeFile {
			continue
		}
		n++
		p := c.path(e.Path)
		if got := sha(t, p); got != e.SHA256 {
			t.Errorf("%s: sha256 %s, the backup has %s", e.Path, got, e.SHA256)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != e.Mode.Perm() {
			t.Errorf("%s: mode differs from the backup", e.Path)
		}
	}
	t.Logf("%d files byte-identical to %s", n, filepath.Base(archive))
}

func sha(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
