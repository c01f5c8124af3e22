package cli

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testpki"
)

// found is what one command found on a node: each credential (by the node
// path of its certificate's file) with the node path of the CA certificate
// that signs it ("" for none on the node), and the trust files.
type found struct {
	signer map[string]string
	trust  map[string]bool
}

type checkJSON struct {
	Results []struct {
		Name       string `json:"name"`
		Kind       string `json:"kind"`
		Path       string `json:"path"`
		Resolved   string `json:"resolved"`
		CAPath     string `json:"caPath"`
		IsCA       bool   `json:"isCA"`
		Kubeconfig *struct {
			CertPath     string `json:"certPath"`
			CertEmbedded bool   `json:"certEmbedded"`
		} `json:"kubeconfig"`
		Certificate *struct {
			CommonName string `json:"commonName"`
		} `json:"certificate"`
		Findings []struct {
			Reason string `json:"reason"`
		} `json:"findings"`
	} `json:"results"`
}

func runJSON(t *testing.T, v any, want int, args ...string) string {
	t.Helper()
	r := runAt(t, testpki.Epoch, "", args...)
	if want >= 0 && r.code != want {
		t.Fatalf("certrescue %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("certrescue %s: %v\n%s", strings.Join(args, " "), err, r.stdout)
		}
	}
	return r.stdout
}

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// TestEveryCommandFindsTheSameCredentialsOnEveryLayout runs check, renew
// --dry-run, rescue --dry-run and the exporter's textfile on each layout
// users bring and compares what they found: the same credentials, the same
// signer for each, the same trust files.
func TestEveryCommandFindsTheSameCredentialsOnEveryLayout(t *testing.T) {
	for _, l := range nodeLayouts {
		t.Run(l.name, func(t *testing.T) {
			root := t.TempDir()
			extra := l.build(t, root)
			base := []string{"--root", root}

			// check
			var chk checkJSON
			runJSON(t, &chk, -1, append(append(base, "check", "--no-endpoints", "-o", "json"), extra...)...)
			check := found{signer: map[string]string{}, trust: map[string]bool{}}
			cn := map[string]string{}   // CA path -> CN
			real := map[string]string{} // CA path -> the node path it resolves to
			loc := map[string]string{}  // credential -> exporter location of its certificate
			for _, r := range chk.Results {
				for _, f := range r.Findings {
					if f.Reason == "untrusted_chain" || f.Reason == "foreign_client_certificate" || f.Reason == "malformed" || f.Reason == "unreadable" {
						t.Errorf("check: %s %s on a healthy %s node", f.Reason, r.Path, l.name)
					}
				}
				if r.Certificate == nil || (r.Kind != "certificate" && r.Kind != "kubeconfig") {
					continue
				}
				if r.IsCA {
					check.trust[r.Path] = true
					cn[r.Path] = r.Certificate.CommonName
					real[r.Path] = r.Path
					if r.Resolved != "" {
						real[r.Path] = r.Resolved
						check.trust[r.Resolved] = true
					}
					continue
				}
				key := r.Path
				if r.Resolved != "" {
					key = r.Resolved
				}
				check.signer[key] = r.CAPath
				loc[key] = r.Path
				if r.Kubeconfig != nil {
					if r.Kubeconfig.CertEmbedded {
						loc[key] = r.Path + "#user"
					} else {
						loc[key] = r.Kubeconfig.CertPath
					}
				}
			}
			if len(check.signer) == 0 || len(check.trust) == 0 {
				t.Fatalf("check found no credentials or no CA: %+v", check)
			}

			// renew all --dry-run
			var plan planJSON
			runJSON(t, &plan, 0, append(append(base, "renew", "all", "--dry-run", "-o", "json"), extra...)...)
			renew := found{signer: map[string]string{}, trust: map[string]bool{}}
			names := map[string]string{} // renew name -> signer name
			for _, it := range plan.Items {
				renew.signer[it.Path] = it.CAPath
				renew.trust[it.CAPath] = true
				names[it.Name] = it.SignedBy
			}
			skipped := map[string]bool{}
			for _, s := range plan.Skipped {
				skipped[s.Name] = true
			}
			for key, ca := range check.signer {
				got, ok := renew.signer[key]
				switch {
				case !ok && ca == "":
					// No CA of the node signs it: renew must say it skips it.
					if !skipped[key] && !skipped[loc[key]] && !skippedByName(chk, key, skipped) {
						t.Errorf("%s: check found it (no CA on the node signs it), renew neither renews nor skips it", key)
					}
				case !ok:
					t.Errorf("%s: check found it signed by %s, renew does not renew it (skipped: %v)", key, ca, plan.Skipped)
				case got != real[ca]:
					t.Errorf("%s: check says %s signs it, renew signs it with %s", key, ca, got)
				}
			}
			for p := range renew.signer {
				if _, ok := check.signer[p]; !ok {
					t.Errorf("renew renews %s, which check did not find", p)
				}
			}
			for p := range renew.trust {
				if !check.trust[p] {
					t.Errorf("renew signs with %s, which check does not list as a CA", p)
				}
			}

			// rescue --dry-run --all: the plan it prints is renew's.
			out := runJSON(t, nil, 0, append(append(base, "rescue", "--dry-run", "--all", "--restart", "none"), extra...)...)
			rescued := map[string]string{}
			inTable := false
			for _, line := range strings.Split(out, "\n") {
				fields := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
				switch {
				case strings.HasPrefix(line, "NAME") && strings.Contains(line, "SIGNED BY"):
					inTable = true
				case inTable && strings.TrimSpace(line) == "":
					inTable = false
				case inTable && strings.Contains(line, "(renewed with"):
					rescued[fields[0]] = names[fields[0]]
				case inTable && len(fields) >= 6:
					rescued[fields[0]] = fields[4]
				}
			}
			if !maps.Equal(rescued, names) {
				t.Errorf("rescue's plan (name: signer) differs from renew's:\nrescue %v\nrenew  %v", rescued, names)
			}

			// exporter --textfile
			dir := filepath.Join(root, "var/lib/node_exporter")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			runJSON(t, nil, 0, append(append(base, "exporter", "--no-endpoints", "--textfile", "/var/lib/node_exporter"), extra...)...)
			b, err := os.ReadFile(filepath.Join(dir, "certrescue.prom"))
			if err != nil {
				t.Fatal(err)
			}
			issuers := map[string][]string{} // location -> issuer CNs of its series
			for _, line := range strings.Split(string(b), "\n") {
				if !strings.HasPrefix(line, "x509_cert_not_after{") {
					continue
				}
				lab := map[string]string{}
				for _, m := range labelRE.FindAllStringSubmatch(line, -1) {
					lab[m[1]] = m[2]
				}
				where := lab["filepath"]
				if lab["embedded_kind"] == "user" {
					where += "#user"
				}
				issuers[where] = append(issuers[where], lab["issuer_CN"])
			}
			for key, ca := range check.signer {
				got, ok := issuers[loc[key]]
				if !ok {
					t.Errorf("%s: check found it, the exporter has no x509_cert_not_after series at %s", key, loc[key])
					continue
				}
				if ca != "" && !slices.Contains(got, cn[ca]) {
					t.Errorf("%s: check says %s (CN=%q) signs it, the exporter says issuer %v", key, ca, cn[ca], got)
				}
			}
			for p := range real {
				if _, ok := issuers[p]; !ok {
					t.Errorf("trust file %s: check lists it, the exporter does not", p)
				}
			}
			if testing.Verbose() {
				keys := slices.Collect(maps.Keys(check.signer))
				sort.Strings(keys)
				for _, k := range keys {
					t.Logf("%s <- %s", k, check.signer[k])
				}
			}
		})
	}
}

// skippedByName: renew names skipped kubeadm files by their role.
func skippedByName(chk checkJSON, key string, skipped map[string]bool) bool {
	for _, r := range chk.Results {
		if (r.Path == key || r.Resolved == key) && skipped[r.Name] {
			return true
		}
	}
	return false
}
