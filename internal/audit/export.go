package audit

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
)

// Export formats.
const (
	FormatJSON      = "json"      // one JSON array of events
	FormatJSONLines = "jsonl"     // one JSON object per line
	FormatCSV       = "csv"       // a header row of Columns, then one row per event
	FormatCanonical = "canonical" // the exact bytes Verify hashes, event after event
)

// Formats lists the export formats.
var Formats = []string{FormatJSON, FormatJSONLines, FormatCSV, FormatCanonical}

// Encoder writes events in one export format. Call Close after the last event.
type Encoder struct {
	w      *bufio.Writer
	format string
	csv    *csv.Writer
	n      int
	buf    []byte
}

// NewEncoder starts an export in format to w.
func NewEncoder(w io.Writer, format string) (*Encoder, error) {
	e := &Encoder{w: bufio.NewWriterSize(w, 64<<10), format: format}
	switch format {
	case FormatJSON:
		if _, err := e.w.WriteString("["); err != nil {
			return nil, err
		}
	case FormatJSONLines, FormatCanonical:
	case FormatCSV:
		e.csv = csv.NewWriter(e.w)
		if err := e.csv.Write(Columns); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown export format %q (use json, jsonl, csv or canonical)", format)
	}
	return e, nil
}

// Encode writes one event.
func (e *Encoder) Encode(ev Event) error {
	defer func() { e.n++ }()
	switch e.format {
	case FormatJSON, FormatJSONLines:
		b, err := json.Marshal(exportRecord(ev))
		if err != nil {
			return err
		}
		if e.format == FormatJSON {
			sep := ",\n"
			if e.n == 0 {
				sep = "\n"
			}
			if _, err := e.w.WriteString(sep); err != nil {
				return err
			}
		}
		if _, err := e.w.Write(b); err != nil {
			return err
		}
		if e.format == FormatJSONLines {
			return e.w.WriteByte('\n')
		}
		return nil
	case FormatCSV:
		f := ev.fields()
		row := append(f[:], ev.Hash)
		return e.csv.Write(row)
	default:
		e.buf = ev.Encode(e.buf[:0])
		_, err := e.w.Write(e.buf)
		return err
	}
}

// Close ends the export and flushes it.
func (e *Encoder) Close() error {
	switch e.format {
	case FormatJSON:
		end := "]\n"
		if e.n > 0 {
			end = "\n]\n"
		}
		if _, err := e.w.WriteString(end); err != nil {
			return err
		}
	case FormatCSV:
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return err
		}
	}
	return e.w.Flush()
}

// exportRow is an event as exported: every column as stored (text, in Columns
// order), the id as a number, so anyone can re-hash an exported event.
type exportRow struct {
	ID              int64  `json:"id"`
	CreatedAt       string `json:"created_at"`
	Action          string `json:"action_type"`
	CertName        string `json:"cert_name"`
	CertPath        string `json:"cert_path"`
	Serial          string `json:"serial"`
	Fingerprint     string `json:"fingerprint_sha256"`
	NotBefore       string `json:"not_before"`
	NotAfter        string `json:"expire_date"`
	Issuer          string `json:"issuer"`
	PrevFingerprint string `json:"prev_fingerprint"`
	Operator        string `json:"operator"`
	OSUser          string `json:"os_user"`
	Host            string `json:"host"`
	Command         string `json:"command"`
	Result          string `json:"result"`
	Error           string `json:"error"`
	Detail          string `json:"detail"`
	PrevHash        string `json:"prev_hash"`
	Hash            string `json:"hash"`
}

func exportRecord(ev Event) exportRow {
	f := ev.fields()
	return exportRow{ev.Seq, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10],
		f[11], f[12], f[13], f[14], f[15], f[16], f[17], f[18], ev.Hash}
}

// WriteCanonical streams the whole log's hashed encoding (the bytes Verify
// hashes, in order) to w. scripts/bench-audit.sh runs sha256sum over it.
func (s *Store) WriteCanonical(ctx context.Context, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var n int64
	var hdr [4]byte
	err := s.scanRaw(ctx, func(raw []sql.RawBytes) error {
		k, _ := bw.WriteString(hashDomain)
		n += int64(k)
		for _, f := range raw[:nHashed] {
			l := len(f)
			hdr[0], hdr[1], hdr[2], hdr[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
			bw.Write(hdr[:])
			bw.Write(f)
			n += int64(4 + l)
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("audit store %s: export: %w", s.target.Display, err)
	}
	return n, bw.Flush()
}
