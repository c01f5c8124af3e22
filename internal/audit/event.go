package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/certrescue/certrescue/internal/facts"
)

// Result says whether the operation an event records succeeded.
type Result string

// Results.
const (
	ResultSuccess Result = "success"
	ResultFailure Result = "failure"
)

// Event is one entry of the audit log. Seq, PrevHash and Hash are set by
// Store.Append; everything else by the caller. It never holds key material:
// Append redacts any field that looks like a PEM private key.
type Event struct {
	Seq             int64        `json:"id"`
	Time            time.Time    `json:"created_at"`
	Action          facts.Action `json:"action_type"`
	CertName        string       `json:"cert_name"`
	CertPath        string       `json:"cert_path"`
	Serial          string       `json:"serial"`
	Fingerprint     string       `json:"fingerprint_sha256"`
	NotBefore       time.Time    `json:"not_before"`
	NotAfter        time.Time    `json:"expire_date"`
	Issuer          string       `json:"issuer"`
	PrevFingerprint string       `json:"prev_fingerprint"`
	Operator        string       `json:"operator"`
	OSUser          string       `json:"os_user"`
	Host            string       `json:"host"`
	Command         string       `json:"command"`
	Result          Result       `json:"result"`
	Error           string       `json:"error"`
	Detail          string       `json:"detail"`
	PrevHash        string       `json:"prev_hash"`
	Hash            string       `json:"hash"`
}

// Columns are the cert_audit columns in canonical order: the order of the hashed
// fields (all but the last, hash) and of every export. The field guide's
// cert_audit columns (id, cert_name, action_type, expire_date, operator,
// created_at) keep their names.
var Columns = []string{
	"id", "created_at", "action_type", "cert_name", "cert_path", "serial",
	"fingerprint_sha256", "not_before", "expire_date", "issuer", "prev_fingerprint",
	"operator", "os_user", "host", "command", "result", "error", "detail",
	"prev_hash", "hash",
}

// nHashed is the number of leading Columns covered by an event's hash.
const nHashed = 19

// hashDomain starts every hashed encoding, so the hash of an event can never be
// confused with the hash of anything else, and a later format can change it.
const hashDomain = "certrescue-audit-v1\n"

// GenesisHash is the prev_hash of the first event.
var GenesisHash = strings.Repeat("0", 64)

// TimeFormat is how times are stored and hashed: UTC, microseconds, fixed
// width, so the text sorts in time order and survives every database unchanged.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// FormatTime renders t in TimeFormat; the zero time is the empty string.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Microsecond).Format(TimeFormat)
}

// ParseTime reads a TimeFormat time; the empty string is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(TimeFormat, s)
}

// fields returns the event's stored text, in Columns order (without hash).
func (e *Event) fields() [nHashed]string {
	return [nHashed]string{
		strconv.FormatInt(e.Seq, 10), FormatTime(e.Time), string(e.Action), e.CertName,
		e.CertPath, e.Serial, e.Fingerprint, FormatTime(e.NotBefore), FormatTime(e.NotAfter),
		e.Issuer, e.PrevFingerprint, e.Operator, e.OSUser, e.Host, e.Command,
		string(e.Result), e.Error, e.Detail, e.PrevHash,
	}
}

// chainHasher computes event hashes, reusing its buffers.
type chainHasher struct {
	h   hash.Hash
	sum [sha256.Size]byte
	hex [2 * sha256.Size]byte
	n   [4]byte
}

func newChainHasher() *chainHasher { return &chainHasher{h: sha256.New()} }

// hashFields returns hex(SHA-256(hashDomain || for each field: uint32be(len) || bytes)).
// The returned slice is reused by the next call.
func (c *chainHasher) hashFields(fields [][]byte) []byte {
	c.h.Reset()
	c.h.Write([]byte(hashDomain))
	for _, f := range fields {
		binary.BigEndian.PutUint32(c.n[:], uint32(len(f)))
		c.h.Write(c.n[:])
		c.h.Write(f)
	}
	c.h.Sum(c.sum[:0])
	hex.Encode(c.hex[:], c.sum[:])
	return c.hex[:]
}

// Encode writes the canonical hashed encoding of e (the bytes whose SHA-256 is
// e.Hash) to dst and returns it. Exposed so the encoding can be checked by other
// tools and benchmarked against sha256sum.
func (e *Event) Encode(dst []byte) []byte {
	dst = append(dst, hashDomain...)
	for _, f := range e.fields() {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// ComputeHash returns the hash e should carry given its fields and PrevHash.
func (e *Event) ComputeHash() string {
	f := e.fields()
	b := make([][]byte, len(f))
	for i := range f {
		b[i] = []byte(f[i])
	}
	return string(newChainHasher().hashFields(b))
}

// Limits on stored text, in bytes; they fit every backend's column type.
const (
	maxShort = 255  // VARCHAR(255) columns, counted in bytes so any charset fits
	maxLong  = 8192 // TEXT columns
)

var knownActions = map[facts.Action]bool{
	facts.ActionCreate: true, facts.ActionRenew: true, facts.ActionRevoke: true,
	facts.ActionBackup: true, facts.ActionRestore: true, facts.ActionDeploy: true,
	facts.ActionRestart: true, facts.ActionRollback: true, facts.ActionHarden: true,
}

// normalize makes e storable and hashable identically on every backend: valid
// UTF-8 without NUL, capped lengths, microsecond UTC times, no key material.
func (e *Event) normalize() error {
	if !knownActions[e.Action] {
		return fmt.Errorf("audit event: unknown action %q", e.Action)
	}
	if e.Time.IsZero() {
		return fmt.Errorf("audit event: no time")
	}
	if e.Result == "" {
		e.Result = ResultSuccess
		if e.Error != "" {
			e.Result = ResultFailure
		}
	}
	if e.Result != ResultSuccess && e.Result != ResultFailure {
		return fmt.Errorf("audit event: result %q: must be %q or %q", e.Result, ResultSuccess, ResultFailure)
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.NotBefore = e.NotBefore.UTC().Truncate(time.Microsecond)
	e.NotAfter = e.NotAfter.UTC().Truncate(time.Microsecond)
	for _, f := range []struct {
		p   *string
		max int
	}{
		{&e.CertName, maxShort}, {&e.CertPath, maxLong}, {&e.Serial, maxShort},
		{&e.Fingerprint, maxShort}, {&e.Issuer, maxLong}, {&e.PrevFingerprint, maxShort},
		{&e.Operator, maxShort}, {&e.OSUser, maxShort}, {&e.Host, maxShort},
		{&e.Command, maxLong}, {&e.Error, maxLong}, {&e.Detail, maxLong},
	} {
		*f.p = clean(*f.p, f.max)
	}
	return nil
}

// redacted replaces a field that carries a PEM private key.
const redacted = "[redacted: looked like private key material]"

// clean returns s as valid UTF-8 without NUL bytes, cut to at most max bytes on a
// character boundary, with anything that looks like PEM key material removed.
func clean(s string, max int) string {
	if strings.Contains(s, "PRIVATE KEY") && strings.Contains(s, "-----") {
		return redacted
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
