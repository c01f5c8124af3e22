package kit

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name, body string
	typ        byte
	link       string
}

func sumLine(name, body string) string {
	s := sha256.Sum256([]byte(body))
	return fmt.Sprintf("%s  %s\n", hex.EncodeToString(s[:]), name)
}

func writeTarball(t *testing.T, entries []entry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kit.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: typ, Linkname: e.link}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyTarball(t *testing.T) {
	bin, conf := "ELF binary", `{"signing":{}}`
	sums := sumLine("bin/certrescue-linux-amd64", bin) + sumLine("conf/ca-config.json", conf)
	good := []entry{
		{name: "certrescue-kit-v1/", typ: tar.TypeDir},
		{name: "certrescue-kit-v1/bin/certrescue-linux-amd64", body: bin},
		{name: "certrescue-kit-v1/conf/ca-config.json", body: conf},
		{name: "certrescue-kit-v1/SHA256SUMS", body: sums},
	}
	cases := []struct {
		name    string
		entries []entry
		problem string
	}{
		{"an untouched kit verifies", good, ""},
		{"a changed binary is caught", replace(good, 1, entry{name: good[1].name, body: "ELF binarY"}), "checksum mismatch"},
		{"a missing file is caught", append(append([]entry{}, good[:1]...), good[2:]...), "missing"},
		{"an unlisted file is caught", append(append([]entry{}, good...), entry{name: "certrescue-kit-v1/bin/extra", body: "x"}), "not listed"},
		{"a path leaving the kit is caught", append(append([]entry{}, good...), entry{name: "../../etc/cron.d/evil", body: "x"}), "leaves the kit"},
		{"a symlink is caught", append(append([]entry{}, good...), entry{name: "certrescue-kit-v1/bin/link", typ: tar.TypeSymlink, link: "/etc/shadow"}), "not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Verify(writeTarball(t, tc.entries))
			if err != nil {
				t.Fatal(err)
			}
			if tc.problem == "" {
				if !r.OK() || len(r.Verified) != 2 {
					t.Fatalf("report %+v, want OK with 2 files", r)
				}
				return
			}
			if r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), tc.problem) {
				t.Fatalf("problems %v, want one containing %q", r.Problems, tc.problem)
			}
		})
	}
}

func replace(es []entry, i int, e entry) []entry {
	out := append([]entry{}, es...)
	out[i] = e
	return out
}

func TestVerifyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "a.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SumsFile), []byte(sumLine("conf/a.json", "{}")), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(dir); err != nil || !r.OK() {
		t.Fatalf("%+v %v", r, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "a.json"), []byte("{ }"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, _ := Verify(dir); r.OK() {
		t.Fatal("a changed file verified")
	}
}

func FuzzParseSums(f *testing.F) {
	f.Add([]byte(sumLine("bin/x", "x") + sumLine("conf/y", "y")))
	f.Add([]byte("zz  ../x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sums, err := ParseSums("SHA256SUMS", data)
		if err != nil {
			return
		}
		for p := range sums {
			if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") {
				t.Fatalf("unsafe path accepted: %q", p)
			}
		}
	})
}
