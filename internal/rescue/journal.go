package rescue

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/certrescue/certrescue/internal/deploy"
)

// Journal steps, in the order a rescue writes them.
const (
	stepBegin    = "begin"
	stepBackup   = "backup"
	stepDeploy   = "deploy"
	stepRestart  = "restart"
	stepGate     = "gate"
	stepRollback = "rollback"
	stepEnd      = "end"
	// stepCheck follows the end of a run that renewed and restarted but left
	// something critical (the end record says how the restarts went).
	stepCheck = "check"
)

// Statuses of a journal record.
const (
	statusStart = "start"
	statusDone  = "done"
	statusFail  = "fail"
)

// record is one line of the journal. It holds names, paths and hashes only:
// never file contents.
type record struct {
	Time       time.Time         `json:"time"`
	Run        string            `json:"run"`
	Step       string            `json:"step"`
	Status     string            `json:"status,omitempty"`
	Component  string            `json:"component,omitempty"`
	Backup     string            `json:"backup,omitempty"`     // archive path
	Files      []deploy.Written  `json:"files,omitempty"`      // deploy start: new contents' hashes
	Components []string          `json:"components,omitempty"` // deploy start: what must restart
	Error      string            `json:"error,omitempty"`
	Result     string            `json:"result,omitempty"` // end: ok, rolled-back, failed, abandoned
	Extra      map[string]string `json:"extra,omitempty"`
}

// journal appends fsynced JSON lines to a file.
type journal struct {
	path string
	f    *os.File
	run  string
	now  func() time.Time
	mu   sync.Mutex // steps of one dependency level write in parallel
}

// maxJournal is when an old journal is rotated to .1 at the start of a run.
const maxJournal = 1 << 20

func openJournal(path, run string, now func() time.Time) (*journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxJournal {
		_ = os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	return &journal{path: path, f: f, run: run, now: now}, nil
}

// write appends one record and fsyncs it before returning: a step is only
// taken after the journal says it is about to be.
func (j *journal) write(r record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	r.Time, r.Run = j.now().UTC(), j.run
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// lastRun reads the journal and returns the records of its last run (nil when
// the journal is empty or missing). A torn last line (a crash mid-write) is
// ignored; any other unreadable line is an error naming it.
func lastRun(path string) ([]record, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if len(data) > maxJournal*2 {
		data = data[len(data)-maxJournal*2:] // the last run is near the end; a torn first line is skipped below
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return parseJournal(path, data)
}

// parseJournal reads journal lines and returns the last run's records.
func parseJournal(path string, data []byte) ([]record, error) {
	var recs []record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			if !bytes.HasSuffix(data, []byte("\n")) && !sc.Scan() {
				break // the last line was torn by a crash: it never happened
			}
			return nil, fmt.Errorf("journal %s line %d: %w (move the file away to start afresh)", path, line, err)
		}
		if r.Step == stepBegin {
			recs = recs[:0]
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	return recs, nil
}

// runState summarises a run's records.
type runState struct {
	run         string
	ended       bool
	backup      string
	deployStart *record
	deployDone  bool
	rollback    bool // a rollback started
	restarted   []string
}

func summarise(recs []record) runState {
	var s runState
	for i := range recs {
		r := &recs[i]
		s.run = r.Run
		switch r.Step {
		case stepEnd:
			s.ended = true
		case stepBackup:
			if r.Status == statusDone {
				s.backup = r.Backup
			}
		case stepDeploy:
			switch r.Status {
			case statusStart:
				s.deployStart = r
			case statusDone:
				s.deployDone = true
			}
		case stepRestart:
			if r.Status == statusStart && !contains(s.restarted, r.Component) {
				s.restarted = append(s.restarted, r.Component)
			}
		case stepRollback:
			if r.Status == statusStart {
				s.rollback = true
			}
		}
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
