package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// hashSuffix is what the JSON-lines export adds to a record: ,"hash":"<64 hex>"}.
const (
	hashKey       = `,"hash":"`
	hashSuffixLen = len(hashKey) + 64 + len(`"}`)
)

// VerifyExport checks a whole-log JSON-lines export (certrescue audit export
// -o jsonl, no filter) the way Verify checks the store, so an auditor can
// verify a copy taken off the node. Each line must be a record with its hash
// added as the last key. A line that is not is reported as the first bad
// event; the error is for failures to read r.
func VerifyExport(r io.Reader, cp *Checkpoint) (Report, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	v := newVerifier(cp)
	var rec []byte
	for line := 1; ; line++ {
		b, err := readLine(br, MaxRecord+hashSuffixLen+1)
		if errors.Is(err, io.EOF) && len(b) == 0 {
			break
		}
		if errors.Is(err, errLineTooLong) {
			n := v.rep.Head.Count
			v.fail(n+1, n, n+1, ProblemEdited, fmt.Sprintf("%s: line %d is longer than any event can be", breaks(n, n+1), line))
			return v.rep, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			v.rep.Head.Hash = string(v.prev)
			return v.rep, fmt.Errorf("read export: line %d: %w", line, err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			continue
		}
		id, hash, ok := splitExportLine(b)
		if !ok {
			n := v.rep.Head.Count
			v.fail(n+1, n, n+1, ProblemEdited, fmt.Sprintf("%s: line %d is not an exported event (expected {\"id\":N,…,\"hash\":\"…\"})", breaks(n, n+1), line))
			return v.rep, nil
		}
		rec = append(append(rec[:0], b[:len(b)-hashSuffixLen]...), '}')
		if v.step(id, rec, hash) {
			return v.rep, nil
		}
	}
	v.finish()
	return v.rep, nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		out = append(out, chunk...)
		if len(out) > max {
			return nil, errLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return out, err
	}
}

// splitExportLine finds an exported line's id and hash.
func splitExportLine(b []byte) (id int64, hash []byte, ok bool) {
	if len(b) < hashSuffixLen+len(`{"id":1}`) || !bytes.HasPrefix(b, []byte(`{"id":`)) {
		return 0, nil, false
	}
	tail := b[len(b)-hashSuffixLen:]
	if !bytes.HasPrefix(tail, []byte(hashKey)) || !bytes.HasSuffix(tail, []byte(`"}`)) {
		return 0, nil, false
	}
	hash = tail[len(hashKey) : len(hashKey)+64]
	rest := b[len(`{"id":`):]
	end := bytes.IndexByte(rest, ',')
	if end <= 0 {
		return 0, nil, false
	}
	id, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	return id, hash, true
}
