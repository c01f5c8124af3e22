package cli

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// listTree returns every file under dir, so a test can prove nothing was written.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func writeFile(t *testing.T, p, content string) string {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInputIsRefusedWithFileAndFieldAndNothingWritten feeds every kind of bad
// input the issue names and checks the message names the file and the field,
// the exit code is the usage code (or failure for an expired CA), and the
// output directory is untouched.
func TestBadInputIsRefusedWithFileAndFieldAndNothingWritten(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	conf := writeKitConf(t, dir)
	good := filepath.Join(dir, "good")
	if err := os.Mkdir(good, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ca", "init", "--out-dir", good, filepath.Join(conf, "ca-csr.json"))
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ca", "init", "--out-dir", other, filepath.Join(conf, "ca-csr.json"))
	// An expired CA: issued two years ago with a one-year lifetime.
	expired := filepath.Join(dir, "expired")
	if err := os.Mkdir(expired, 0o755); err != nil {
		t.Fatal(err)
	}
	oneYearCA := writeFile(t, filepath.Join(dir, "short-ca.json"), `{"CN":"old-ca","key":{"algo":"ecdsa","size":256},"ca":{"expiry":"8760h"}}`)
	if r := runAt(t, now.AddDate(-2, 0, 0), "", "ca", "init", "--out-dir", expired, oneYearCA); r.code != 0 {
		t.Fatalf("expired CA setup: %s", r.stderr)
	}

	ca, caKey := filepath.Join(good, "ca.pem"), filepath.Join(good, "ca-key.pem")
	cfg := filepath.Join(conf, "ca-config.json")
	req := filepath.Join(conf, "apiserver-csr.json")
	bad := func(name, content string) string { return writeFile(t, filepath.Join(dir, name), content) }

	cases := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"malformed JSON names the file, line and column",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, bad("broken-csr.json", "{\"CN\": \"x\",\n  \"hosts\": [}")},
			ExitUsage, []string{"broken-csr.json:2:", "malformed JSON"}},
		{"a wrong type names the field",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, bad("type-csr.json", `{"CN":"x","key":{"algo":"rsa","size":"big"}}`)},
			ExitUsage, []string{"type-csr.json", `"key.size"`}},
		{"an unknown profile lists the valid ones",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, "-config", cfg, "-profile", "kubernets", req},
			ExitUsage, []string{"ca-config.json", `"kubernets"`, "valid profiles are kubernetes"}},
		{"an unknown usage lists the valid ones",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, "-config", bad("usage-config.json",
				`{"signing":{"profiles":{"k":{"usages":["server auth","sever auth"],"expiry":"1h"}}}}`), "-profile", "k", req},
			ExitUsage, []string{"usage-config.json", `signing.profiles.k.usages[1]`, `"sever auth"`, "server auth, signing"}},
		{"a bad RSA key size",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, bad("size-csr.json", `{"CN":"x","key":{"algo":"rsa","size":1024}}`)},
			ExitUsage, []string{"size-csr.json", `field "key"`, "rsa size 1024"}},
		{"a bad ECDSA curve size",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, bad("curve-csr.json", `{"CN":"x","key":{"algo":"ecdsa","size":2048}}`)},
			ExitUsage, []string{"curve-csr.json", "valid sizes are 256, 384, 521"}},
		{"an unknown key algorithm",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, bad("algo-csr.json", `{"CN":"x","key":{"algo":"dsa"}}`)},
			ExitUsage, []string{"algo-csr.json", "valid algorithms are rsa, ecdsa, ed25519"}},
		{"a CA key that does not match the CA certificate",
			[]string{"gencert", "-ca", ca, "-ca-key", filepath.Join(other, "ca-key.pem"), req},
			ExitUsage, []string{"does not match the CA certificate", filepath.Join(other, "ca-key.pem")}},
		{"an expired CA is refused with the reason",
			[]string{"gencert", "-ca", filepath.Join(expired, "ca.pem"), "-ca-key", filepath.Join(expired, "ca-key.pem"), req},
			ExitFailure, []string{"expired", "old-ca", "--allow-expired-ca"}},
		{"a missing CSR file",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, filepath.Join(dir, "nope-csr.json")},
			ExitUsage, []string{"nope-csr.json", "no such file"}},
		{"a missing CA file",
			[]string{"gencert", "-ca", filepath.Join(dir, "nope.pem"), "-ca-key", caKey, req},
			ExitUsage, []string{"nope.pem", "no such file"}},
		{"a CA file that is not PEM",
			[]string{"gencert", "-ca", bad("garbage.pem", "hello"), "-ca-key", caKey, req},
			ExitUsage, []string{"garbage.pem", "no PEM CERTIFICATE"}},
		{"a CSR with neither CN nor names",
			[]string{"ca", "init", bad("empty-csr.json", `{"hosts":["a"]}`)},
			ExitUsage, []string{"empty-csr.json", `field "CN"`}},
		{"an empty CSR file",
			[]string{"ca", "init", bad("zero-csr.json", "")},
			ExitUsage, []string{"zero-csr.json", "empty file"}},
		{"a bad expiry",
			[]string{"gencert", "-ca", ca, "-ca-key", caKey, "-config", bad("exp-config.json",
				`{"signing":{"default":{"expiry":"forever"}}}`), req},
			ExitUsage, []string{"exp-config.json", "signing.default.expiry", `"forever"`}},
		{"a key mode looser than 0600",
			[]string{"ca", "init", "--key-mode", "0644", filepath.Join(conf, "ca-csr.json")},
			ExitUsage, []string{"--key-mode"}},
		{"an unknown flag",
			[]string{"gencert", "--nope"}, ExitUsage, []string{"unknown flag"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			r := runAt(t, now, "", append(tc.args, "--out-dir", out)...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, tc.code, r.stderr)
			}
			for _, s := range tc.contains {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("message lacks %q:\n%s", s, r.stderr)
				}
			}
			if files := listTree(t, out); len(files) != 0 {
				t.Errorf("files written despite the error: %v", files)
			}
		})
	}
}

// TestExistingFilesAreNotOverwrittenWithoutForce checks the refusal is whole: if
// any target exists, nothing of the set is written.
func TestExistingFilesAreNotOverwrittenWithoutForce(t *testing.T) {
	dir := t.TempDir()
	conf := writeKitConf(t, dir)
	mustRun(t, "ca", "init", "--out-dir", dir, filepath.Join(conf, "ca-csr.json"))
	before, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "ca.csr")); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "ca", "init", "--out-dir", dir, filepath.Join(conf, "ca-csr.json"))
	if r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("second ca init: exit %d, %s; want a refusal mentioning --force", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.csr")); !os.IsNotExist(err) {
		t.Errorf("ca.csr was written although ca.pem existed")
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if string(before) != string(after) {
		t.Fatal("the CA key was overwritten without --force")
	}
	mustRun(t, "ca", "init", "--force", "--out-dir", dir, filepath.Join(conf, "ca-csr.json"))
	after, _ = os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if string(before) == string(after) {
		t.Fatal("--force did not replace the CA key")
	}
}
