package testbed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// CFSSLServeOptions shape a `cfssl serve`'s signing configuration.
type CFSSLServeOptions struct {
	// Profile, when set, is a profile besides the default; with AuthKey
	// (hex) it has that auth_key, so it signs only through authsign.
	Profile string
	AuthKey string
	Expiry  string   // every profile's expiry; default 8760h
	Usages  []string // every profile's usages; default signing, key encipherment, server auth, client auth
	// NetNS runs it inside a network namespace the test made (ip netns
	// exec), on Port of that namespace's loopback; readiness is then its
	// own "Now listening" line, since the test's loopback is another.
	NetNS string
	Port  int
}

// CFSSLServe is a real cfssl serve (testbed set cfssl) on a free loopback
// port, signing with a CA whose certificate and key are in its own
// directory, never on the node under test.
type CFSSLServe struct {
	URL string
	Dir string
}

// StartCFSSLServe writes ca's certificate, key and a signing configuration
// to a directory of the test's, starts cfssl serve on 127.0.0.1 and waits
// until its info endpoint answers. The process is killed by its PID when the
// test ends.
func StartCFSSLServe(t testing.TB, ca *pki.CA, o CFSSLServeOptions) *CFSSLServe {
	t.Helper()
	bin := Bin(t, "cfssl", "cfssl")
	dir := t.TempDir()
	testpki.WriteCert(t, filepath.Join(dir, "ca.pem"), ca.Cert)
	testpki.WriteKey(t, filepath.Join(dir, "ca-key.pem"), ca.Signer)
	if o.Expiry == "" {
		o.Expiry = "8760h"
	}
	if o.Usages == nil {
		o.Usages = []string{"signing", "key encipherment", "server auth", "client auth"}
	}
	profile := map[string]any{"expiry": o.Expiry, "usages": o.Usages}
	cfg := map[string]any{"signing": map[string]any{"default": profile}}
	if o.Profile != "" {
		p := map[string]any{"expiry": o.Expiry, "usages": o.Usages}
		if o.AuthKey != "" {
			p["auth_key"] = "k1"
			cfg["auth_keys"] = map[string]any{"k1": map[string]string{"type": "standard", "key": o.AuthKey}}
		}
		cfg["signing"].(map[string]any)["profiles"] = map[string]any{o.Profile: p}
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testpki.WriteFile(t, filepath.Join(dir, "ca-config.json"), data, 0o600)
	port := o.Port
	if port == 0 {
		port = freePorts(t, 1)[0]
	}
	args := []string{"serve", "-address", "127.0.0.1", "-port", fmt.Sprint(port),
		"-ca", filepath.Join(dir, "ca.pem"), "-ca-key", filepath.Join(dir, "ca-key.pem"), "-config", filepath.Join(dir, "ca-config.json")}
	s := &CFSSLServe{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir}
	deadline := time.Now().Add(90 * time.Second) // a loaded machine: generous
	if o.NetNS != "" {
		start(t, dir, "cfssl-serve", "ip", append([]string{"netns", "exec", o.NetNS, bin}, args...)...) // ip execs cfssl: the PID is cfssl's
		for {
			if log, _ := os.ReadFile(filepath.Join(dir, "cfssl-serve.log")); bytes.Contains(log, []byte("Now listening on")) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("testbed: cfssl serve in %s did not listen within 90s (log in %s)", o.NetNS, dir)
			}
			time.Sleep(100 * time.Millisecond) // polling a starting process
		}
	}
	start(t, dir, "cfssl-serve", bin, args...)
	for {
		resp, err := http.Post(s.URL+"/api/v1/cfssl/info", "application/json", bytes.NewReader([]byte(`{}`)))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testbed: cfssl serve on %s did not answer within 90s: %v (log in %s)", s.URL, err, dir)
		}
		time.Sleep(100 * time.Millisecond) // polling a starting process, not waiting for time to pass
	}
}
