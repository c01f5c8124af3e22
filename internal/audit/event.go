package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	Seq             int64
	PrevHash        string
	Time            time.Time
	Action          facts.Action
	CertName        string
	CertPath        string
	Serial          string
	Fingerprint     string
	NotBefore       time.Time
	NotAfter        time.Time
	Issuer          string
	PrevFingerprint string
	Operator        string
	OSUser          string
	Host            string
	Command         string
	Result          Result
	Error           string
	Detail          string
	Hash            string // SHA-256 of the event's record, lower-case hex

	stored string // the record as read from or written to the store
}

// record is an event as stored: the JSON object whose exact bytes are hashed.
// Its key order is fixed (id and prev_hash first, so Verify can check the chain
// without parsing JSON), every value but id is a string, times are TimeFormat.
// The field guide's cert_audit columns (id, cert_name, action_type,
// expire_date, operator, created_at) keep their names.
type record struct {
	ID              int64  `json:"id"`
	PrevHash        string `json:"prev_hash"`
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
}

// Columns are the fields of an event in export order: the record's keys, then
// hash. The store has a column of each name.
var Columns = []string{
	"id", "prev_hash", "created_at", "action_type", "cert_name", "cert_path", "serial",
	"fingerprint_sha256", "not_before", "expire_date", "issuer", "prev_fingerprint",
	"operator", "os_user", "host", "command", "result", "error", "detail", "hash",
}

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

func (e *Event) record() record {
	return record{
		ID: e.Seq, PrevHash: e.PrevHash, CreatedAt: FormatTime(e.Time), Action: string(e.Action),
		CertName: e.CertName, CertPath: e.CertPath, Serial: e.Serial, Fingerprint: e.Fingerprint,
		NotBefore: FormatTime(e.NotBefore), NotAfter: FormatTime(e.NotAfter), Issuer: e.Issuer,
		PrevFingerprint: e.PrevFingerprint, Operator: e.Operator, OSUser: e.OSUser, Host: e.Host,
		Command: e.Command, Result: string(e.Result), Error: e.Error, Detail: e.Detail,
	}
}

// Fields returns the event's values as text, in Columns order.
func (e *Event) Fields() []string {
	r := e.record()
	return []string{strconv.FormatInt(r.ID, 10), r.PrevHash, r.CreatedAt, r.Action, r.CertName,
		r.CertPath, r.Serial, r.Fingerprint, r.NotBefore, r.NotAfter, r.Issuer, r.PrevFingerprint,
		r.Operator, r.OSUser, r.Host, r.Command, r.Result, r.Error, r.Detail, e.Hash}
}

// Record returns the event's stored record: the bytes its Hash is the SHA-256 of.
func (e *Event) Record() []byte {
	b, err := json.Marshal(e.record())
	if err != nil { // strings and an int64 always marshal
		panic(err)
	}
	return b
}

// storedRecord is the record as stored when the event came from the store (so
// an export shows exactly what was hashed), else Record().
func (e *Event) storedRecord() []byte {
	if e.stored != "" {
		return []byte(e.stored)
	}
	return e.Record()
}

// ComputeHash returns hex(SHA-256(Record())).
func (e *Event) ComputeHash() string { return hashRecord(e.Record()) }

func hashRecord(rec []byte) string {
	sum := sha256.Sum256(rec)
	return hex.EncodeToString(sum[:])
}

// MaxRecord caps a record's size; Append keeps every event far below it.
const MaxRecord = 256 << 10

// ParseRecord reads a stored record back into an Event (Hash is left empty).
// Keys it does not know are ignored, so a log written by a later version stays
// readable; the hash covers them all the same.
func ParseRecord(b []byte) (Event, error) {
	if len(b) > MaxRecord {
		return Event{}, fmt.Errorf("audit record: %d bytes, larger than the %d-byte limit", len(b), MaxRecord)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return Event{}, fmt.Errorf("audit record: %w", err)
	}
	e := Event{
		Seq: r.ID, PrevHash: r.PrevHash, Action: facts.Action(r.Action), CertName: r.CertName,
		CertPath: r.CertPath, Serial: r.Serial, Fingerprint: r.Fingerprint, Issuer: r.Issuer,
		PrevFingerprint: r.PrevFingerprint, Operator: r.Operator, OSUser: r.OSUser, Host: r.Host,
		Command: r.Command, Result: Result(r.Result), Error: r.Error, Detail: r.Detail,
	}
	var errs []error
	for _, t := range []struct {
		dst  *time.Time
		name string
		v    string
	}{{&e.Time, "created_at", r.CreatedAt}, {&e.NotBefore, "not_before", r.NotBefore}, {&e.NotAfter, "expire_date", r.NotAfter}} {
		var err error
		if *t.dst, err = ParseTime(t.v); err != nil {
			errs = append(errs, fmt.Errorf("audit record %d: %s %q is not a %s time", r.ID, t.name, t.v, TimeFormat))
		}
	}
	return e, errors.Join(errs...)
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
	facts.ActionApprove: true, facts.ActionDeny: true,
}

// normalize makes e storable identically on every backend: valid UTF-8 without
// NUL or other control characters but tab and newline, capped lengths,
// microsecond UTC times, no key material.
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

// clean returns s as valid UTF-8 without NUL or control characters (but tab and
// newline), cut to at most max bytes on a character boundary, with anything
// that looks like PEM key material removed.
func clean(s string, max int) string {
	if strings.Contains(s, "PRIVATE KEY") && strings.Contains(s, "-----") {
		return redacted
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
