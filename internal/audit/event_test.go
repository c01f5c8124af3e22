package audit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
)

func TestRecordIsDocumented(t *testing.T) {
	// The record doc.go describes, for a small event, and its hash.
	e := Event{Seq: 1, PrevHash: GenesisHash, Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Action: facts.ActionCreate, CertName: "ca <root>", Result: ResultSuccess}
	want := `{"id":1,"prev_hash":"` + GenesisHash + `","created_at":"2026-01-02T03:04:05.000006Z",` +
		`"action_type":"CREATE","cert_name":"ca \u003croot\u003e","cert_path":"","serial":"","fingerprint_sha256":"",` +
		`"not_before":"","expire_date":"","issuer":"","prev_fingerprint":"","operator":"","os_user":"",` +
		`"host":"","command":"","result":"success","error":"","detail":""}`
	if got := string(e.Record()); got != want {
		t.Fatalf("record:\n got %s\nwant %s", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if got := e.ComputeHash(); got != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %s, want %x", got, sum)
	}
	back, err := ParseRecord([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Record()) != want {
		t.Errorf("parse and re-encode changed the record: %s", back.Record())
	}
}

func TestParseRecordRefusesBadInput(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[]`, `{"id":"x"}`, `{"id":1} trailing`,
		`{"id":1,"created_at":"yesterday"}`,
		`{"id":1,"detail":"` + strings.Repeat("a", MaxRecord) + `"}`,
	} {
		if _, err := ParseRecord([]byte(in)); err == nil {
			t.Errorf("%.40q: parsed", in)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	e := sampleEvent(3)
	e.Seq, e.PrevHash = 3, GenesisHash
	if err := e.normalize(); err != nil {
		f.Fatal(err)
	}
	f.Add(e.Record())
	f.Add([]byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseRecord(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to something that parses to the same event.
		again, err := ParseRecord(ev.Record())
		if err != nil || again != ev {
			t.Fatalf("%q: re-encoded record differs: %v", b, err)
		}
	})
}

func TestExportColumnsInOrder(t *testing.T) {
	e := sampleEvent(1)
	e.Hash = strings.Repeat("f", 64)
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, FormatJSONLines)
	if err != nil {
		t.Fatal(err)
	}
	enc.Encode(e)
	enc.Close()
	b := buf.Bytes()
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip any
		dec.Decode(&skip)
	}
	if strings.Join(keys, ",") != strings.Join(Columns, ",") {
		t.Errorf("JSON keys %v\nwant Columns %v", keys, Columns)
	}
}

func TestNormalize(t *testing.T) {
	base := func() Event { return Event{Time: t0, Action: facts.ActionHarden} }
	tests := []struct {
		name    string
		edit    func(*Event)
		check   func(*Event) bool
		wantErr string
	}{
		{"an unknown action is refused", func(e *Event) { e.Action = "DELETE" }, nil, "unknown action"},
		{"a missing time is refused", func(e *Event) { e.Time = time.Time{} }, nil, "no time"},
		{"a bad result is refused", func(e *Event) { e.Result = "maybe" }, nil, "result"},
		{"an error makes a failure", func(e *Event) { e.Error = "boom" }, func(e *Event) bool { return e.Result == ResultFailure }, ""},
		{"a long name is cut on a character boundary", func(e *Event) { e.CertName = strings.Repeat("é", 200) },
			func(e *Event) bool { return len(e.CertName) == 254 && strings.Count(e.CertName, "é") == 127 }, ""},
		{"invalid UTF-8 and NUL are cleaned", func(e *Event) { e.CertPath = "/a\xff\x00b" },
			func(e *Event) bool { return e.CertPath == "/a\uFFFDb" }, ""},
		{"a PEM key in any field is redacted", func(e *Event) { e.Error = "bad: -----BEGIN EC PRIVATE KEY-----\nMHc..." },
			func(e *Event) bool { return e.Error == redacted }, ""},
		{"times are UTC microseconds", func(e *Event) { e.NotAfter = time.Date(2030, 1, 1, 0, 0, 0, 999, time.FixedZone("x", 3600)) },
			func(e *Event) bool { return e.NotAfter.Location() == time.UTC && e.NotAfter.Nanosecond() == 0 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			tc.edit(&e)
			err := e.normalize()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(&e) {
				t.Fatalf("err = %v, event %+v", err, e)
			}
		})
	}
}

func TestPostgresCommitsAreSynchronous(t *testing.T) {
	s := mustOpen(t, freshDSN(t, BackendPostgres))
	var v string
	if err := s.db.QueryRow("SHOW synchronous_commit").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "on" {
		t.Errorf("synchronous_commit = %s, want on", v)
	}
}

func TestSQLiteIsDurable(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "audit.db"))
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mode string
	var sync int
	if err := conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 {
		t.Errorf("journal_mode=%s synchronous=%d, want wal and 2 (FULL: fsync at every commit)", mode, sync)
	}
}

// TestNoKeyMaterialStoredOrExported feeds a real private key into every text
// field an operator or a failing command could fill, then greps the database
// file and every export for the key's bytes.
func TestNoKeyMaterialStoredOrExported(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	b64 := base64.StdEncoding.EncodeToString(der)
	needles := [][]byte{[]byte(b64[:40]), []byte(b64[len(b64)-40:]), der[8:40], []byte("PRIVATE KEY-----")}

	forEachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn)
		ev := sampleEvent(1)
		ev.Error = "parse key: " + keyPEM
		ev.Detail = keyPEM
		ev.CertPath = keyPEM
		ev.Command = "certrescue sign --key " + keyPEM
		if _, err := s.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		var dumps [][]byte
		for _, f := range Formats {
			var buf bytes.Buffer
			enc, err := NewEncoder(&buf, f)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Events(context.Background(), Filter{}, enc.Encode); err != nil {
				t.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			dumps = append(dumps, buf.Bytes())
		}
		if strings.HasSuffix(dsn, ".db") {
			s.Close()
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if b, err := os.ReadFile(dsn + suffix); err == nil {
					dumps = append(dumps, b)
				}
			}
		}
		for i, d := range dumps {
			for _, n := range needles {
				if bytes.Contains(d, n) {
					t.Errorf("dump %d contains key bytes %q", i, n)
				}
			}
		}
	})
}
