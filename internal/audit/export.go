package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
)

// Export formats.
const (
	FormatJSON      = "json"    // a JSON array of events
	FormatJSONLines = "jsonl"   // one JSON object per line
	FormatCSV       = "csv"     // a header row of Columns, then one row per event
	FormatRecords   = "records" // each stored record, as hashed, one per line
)

// Formats lists the export formats.
var Formats = []string{FormatJSON, FormatJSONLines, FormatCSV, FormatRecords}

// Encoder writes events in one export format. Call Close after the last event.
//
// A JSON or JSON-lines event is the event's record with its hash added as a
// last key: `{"id":1,"prev_hash":"…",…,"detail":"","hash":"…"}`. Removing
// `,"hash":"…"` gives back the record byte for byte, so anyone can re-check an
// export with sha256sum.
type Encoder struct {
	w      *bufio.Writer
	format string
	csv    *csv.Writer
	n      int
}

// NewEncoder starts an export in format to w.
func NewEncoder(w io.Writer, format string) (*Encoder, error) {
	e := &Encoder{w: bufio.NewWriterSize(w, 64<<10), format: format}
	switch format {
	case FormatJSON:
		if _, err := e.w.WriteString("["); err != nil {
			return nil, err
		}
	case FormatJSONLines, FormatRecords:
	case FormatCSV:
		e.csv = csv.NewWriter(e.w)
		if err := e.csv.Write(Columns); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown export format %q (use json, jsonl, csv or records)", format)
	}
	return e, nil
}

// Encode writes one event.
func (e *Encoder) Encode(ev Event) error {
	defer func() { e.n++ }()
	switch e.format {
	case FormatCSV:
		return e.csv.Write(ev.Fields())
	case FormatRecords:
		if _, err := e.w.Write(ev.storedRecord()); err != nil {
			return err
		}
		return e.w.WriteByte('\n')
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
	rec := ev.storedRecord()
	e.w.Write(rec[:len(rec)-1])
	e.w.WriteString(`,"hash":"`)
	e.w.WriteString(ev.Hash)
	_, err := e.w.WriteString(`"}`)
	if e.format == FormatJSONLines {
		err = e.w.WriteByte('\n')
	}
	return err
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

// WriteRecords streams every stored record, as stored, one per line: the bytes
// Verify hashes (plus a newline each). scripts/bench-audit.sh runs sha256sum
// over them.
func (s *Store) WriteRecords(ctx context.Context, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var n int64
	var werr error
	err := s.eachRecord(ctx, func(_ int64, rec, _ []byte) bool {
		k, _ := bw.Write(rec)
		n += int64(k) + 1
		werr = bw.WriteByte('\n')
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return n, fmt.Errorf("audit store %s: export: %w", s.target.Display, err)
	}
	return n, bw.Flush()
}
