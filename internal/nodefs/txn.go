package nodefs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// Txn makes a WriteSet a journaled transaction: before anything is staged a
// journal in Dir lists every target and the temporary file that will replace
// it; once every file is staged and durable (and BeforeCommit, the audit
// intent, has passed) the journal says "committing"; then the renames; then
// the journal is removed. A crash at any point leaves a state Recover
// finishes or abandons: while staging, nothing has changed and the staged
// files are removed; once committing, every staged file is durable and the
// rest of the renames are done. A certificate and its key written in one set
// are therefore never left from different generations.
type Txn struct {
	ID      string    // unique, also the journal's name: [A-Za-z0-9._-]
	Command string    // what the operator ran, for messages and the audit log
	Started time.Time // from the caller's clock
	Dir     string    // node directory of the journal (created 0700 when missing)
}

// Journal states.
const (
	TxnStaging    = "staging"
	TxnCommitting = "committing"
)

// Recover's outcomes.
const (
	TxnFinished  = "finished"  // it had begun replacing files: the rest were replaced
	TxnAbandoned = "abandoned" // it had changed nothing: its staged files were removed
)

const (
	journalPrefix  = ".certrescue-txn-"
	journalSuffix  = ".json"
	maxJournalSize = 4 << 20
)

type journal struct {
	Version int           `json:"version"`
	ID      string        `json:"id"`
	Command string        `json:"command"`
	Started time.Time     `json:"started"`
	State   string        `json:"state"`
	Files   []journalFile `json:"files"`
}

type journalFile struct {
	Path   string `json:"path"`   // node path as asked
	Target string `json:"target"` // node path written (symlinks resolved)
	Temp   string `json:"temp"`   // node path of the staged file
	SHA256 string `json:"sha256"` // of the new content
}

// ErrBadTxnID is returned for a transaction ID that cannot name a file.
var ErrBadTxnID = errors.New("transaction ID must be letters, digits, '.', '_' or '-'")

func (t *Txn) journalPath() (string, error) {
	if t.ID == "" || strings.Trim(t.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || strings.HasPrefix(t.ID, ".") {
		return "", fmt.Errorf("%q: %w", t.ID, ErrBadTxnID)
	}
	return path.Join(path.Clean("/"+t.Dir), journalPrefix+t.ID+journalSuffix), nil
}

func (f *FS) writeJournal(p string, j *journal) error {
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return f.WriteSet([]Put{{Path: p, Data: append(data, '\n'), Mode: 0o600}}, WriteOptions{Force: true})
}

// beginTxn writes the staging journal for targets whose temporary names are
// already chosen.
func (f *FS) beginTxn(t *Txn, ts []target) (string, *journal, error) {
	p, err := t.journalPath()
	if err != nil {
		return "", nil, err
	}
	if err := f.MkdirAll(t.Dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("transaction journal: %w", err)
	}
	j := &journal{Version: 1, ID: t.ID, Command: t.Command, Started: t.Started.UTC(), State: TxnStaging}
	for _, tg := range ts {
		sum := sha256.Sum256(tg.put.Data)
		j.Files = append(j.Files, journalFile{Path: tg.put.Path, Target: tg.resolved, Temp: tg.tmp, SHA256: hex.EncodeToString(sum[:])})
	}
	if err := f.writeJournal(p, j); err != nil {
		return "", nil, fmt.Errorf("transaction journal %s: %w", p, err)
	}
	return p, j, nil
}

// Recovered is what Recover did about one unfinished transaction.
type Recovered struct {
	ID      string
	Command string
	Started time.Time
	State   string   // the journal's state: staging or committing
	Outcome string   // TxnFinished or TxnAbandoned; "" when it could not be recovered (Err)
	Files   []string // node paths: replaced (finished) or left as they were (abandoned)
	Journal string   // node path of the journal
	Err     error
}

// Pending lists the unfinished transactions journaled in dir, changing
// nothing (check reports them). A journal that cannot be read is returned
// with Err set.
func (f *FS) Pending(dir string) []Recovered {
	entries, err := f.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []Recovered
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, journalPrefix) || !strings.HasSuffix(name, journalSuffix) || !e.Type().IsRegular() {
			continue
		}
		p := path.Join(f.clean(dir), name)
		r := Recovered{Journal: p}
		j, err := f.readJournal(p)
		if err != nil {
			r.Err = err
		} else {
			r.ID, r.Command, r.Started, r.State = j.ID, j.Command, j.Started, j.State
			for _, jf := range j.Files {
				r.Files = append(r.Files, jf.Path)
			}
		}
		out = append(out, r)
	}
	return out
}

func (f *FS) readJournal(p string) (*journal, error) {
	file, err := f.ReadFile(p, maxJournalSize)
	if err != nil {
		return nil, fmt.Errorf("transaction journal %s: %w", p, err)
	}
	var j journal
	if err := json.Unmarshal(file.Data, &j); err != nil {
		return nil, fmt.Errorf("transaction journal %s: not a journal: %w", p, err)
	}
	if j.State != TxnStaging && j.State != TxnCommitting {
		return nil, fmt.Errorf("transaction journal %s: state %q: want %s or %s", p, j.State, TxnStaging, TxnCommitting)
	}
	for i, jf := range j.Files {
		for _, v := range []struct{ field, p string }{{"target", jf.Target}, {"temp", jf.Temp}} {
			if !path.IsAbs(v.p) || path.Clean(v.p) != v.p {
				return nil, fmt.Errorf("transaction journal %s: files[%d].%s: %q is not a clean node path", p, i, v.field, v.p)
			}
		}
		if path.Dir(jf.Temp) != path.Dir(jf.Target) || !IsTemp(path.Base(jf.Temp)) {
			return nil, fmt.Errorf("transaction journal %s: files[%d].temp: %q is not a temporary file beside %s", p, i, jf.Temp, jf.Target)
		}
	}
	return &j, nil
}

// Recover finishes or abandons every unfinished transaction journaled in
// dir, and returns what it did. A transaction that was still staging changed
// nothing: its staged files are removed. One that was committing is
// finished: each staged file still present (and holding what the journal
// says) is renamed over its target; a target whose staged file is gone must
// already hold the new content. A journal that cannot be recovered is left in
// place and returned with Err.
func (f *FS) Recover(dir string) []Recovered {
	pending := f.Pending(dir)
	for i := range pending {
		r := &pending[i]
		if r.Err != nil {
			continue
		}
		j, err := f.readJournal(r.Journal)
		if err != nil {
			r.Err = err
			continue
		}
		switch j.State {
		case TxnStaging:
			for _, jf := range j.Files {
				if err := f.Remove(jf.Temp); err != nil && !errors.Is(err, fs.ErrNotExist) {
					r.Err = errors.Join(r.Err, fmt.Errorf("remove %s: %w", jf.Temp, err))
				}
			}
			if r.Err == nil {
				r.Outcome = TxnAbandoned
			}
		case TxnCommitting:
			r.Err = f.rollForward(j)
			if r.Err == nil {
				r.Outcome = TxnFinished
			}
		}
		if r.Err == nil {
			if err := f.Remove(r.Journal); err != nil {
				r.Err = fmt.Errorf("remove %s: %w", r.Journal, err)
			}
		}
	}
	return pending
}

func (f *FS) rollForward(j *journal) error {
	dirs := map[string]bool{}
	var errs []error
	for _, jf := range j.Files {
		if file, err := f.ReadFile(jf.Temp, maxFileForHash); err == nil {
			if sum := sha256.Sum256(file.Data); hex.EncodeToString(sum[:]) != jf.SHA256 {
				errs = append(errs, fmt.Errorf("%s: the staged file %s does not hold what the journal says", jf.Path, jf.Temp))
				continue
			}
			if err := f.Rename(jf.Temp, jf.Target); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", jf.Path, err))
				continue
			}
			dirs[path.Dir(jf.Target)] = true
			continue
		}
		file, err := f.ReadFile(jf.Target, maxFileForHash)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: neither the staged file nor the new content is there: %w", jf.Path, err))
			continue
		}
		if sum := sha256.Sum256(file.Data); hex.EncodeToString(sum[:]) != jf.SHA256 {
			errs = append(errs, fmt.Errorf("%s: its staged file is gone and it does not hold the new content (changed by someone else?)", jf.Path))
		}
	}
	for d := range dirs {
		if err := f.SyncDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maxFileForHash caps what Recover reads to compare with a journal.
const maxFileForHash = 64 << 20

// commitPoint runs between staging and the first rename: the journal says
// committing only once BeforeCommit passed and the context is not done.
func (f *FS) commitPoint(ctx context.Context, o WriteOptions, jp string, j *journal) error {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted before any file was replaced: %w", err)
		}
	}
	if o.BeforeCommit != nil {
		if err := o.BeforeCommit(); err != nil {
			return err
		}
	}
	if j == nil {
		return nil
	}
	j.State = TxnCommitting
	if err := f.writeJournal(jp, j); err != nil {
		return fmt.Errorf("transaction journal %s: %w", jp, err)
	}
	return nil
}
