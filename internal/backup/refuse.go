package backup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrRefused is wrapped by a *RefusedError: a restore that would write
// something a backup is not made of. Nothing was written.
var ErrRefused = errors.New("restore refused")

// Why a restore refuses an entry. The strings are a stable contract (JSON
// output, the command layer's advice).
const (
	// RefuseOutside: the path is not a credential of this node (not under
	// DefaultPaths, not named by its inventory). Allow says what
	// --allow-path confirms it.
	RefuseOutside = "outside_credentials"
	// RefuseState: the path is certrescue's own state (StateDir, the
	// backups directory, the audit store), never restored.
	RefuseState = "certrescue_state"
	// RefuseDatabase: the file is a database (SQLite), never restored.
	RefuseDatabase = "database"
	// RefuseSymlink: a symlink that would lead outside the credentials,
	// into certrescue's state, from one credential to another's file, or
	// into its own directory: a later renew would follow it elsewhere.
	RefuseSymlink = "unsafe_symlink"
	// RefuseType: the node has another kind of file there (a directory, a
	// symlink where the backup has a file, a FIFO): the restore would
	// write through it or cannot replace it atomically.
	RefuseType = "type_conflict"
)

// Refusal is one entry a restore refused.
type Refusal struct {
	Path   string // node path of the entry, as the manifest lists it
	Reason string // one of the Refuse constants
	Detail string // what is wrong, for the operator
	// Allow is the node path an operator may confirm (Credentials.Allow)
	// to restore this entry anyway ("" when nothing makes it restorable).
	Allow string
	// Target is where a refused symlink leads outside the credentials: it
	// is restored only if the operator confirms that target itself.
	Target string
}

// RefusedError lists every entry of an archive a restore refused, before
// anything was written.
type RefusedError struct {
	Archive  string
	Refusals []Refusal
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "restore %s: refused %d of its entries; nothing was written:", e.Archive, len(e.Refusals))
	for _, r := range e.Refusals {
		fmt.Fprintf(&b, "\n  %s: %s", r.Path, r.Detail)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Confirmable are the node paths --allow-path would confirm, in order.
func (e *RefusedError) Confirmable() []string {
	var out []string
	for _, r := range e.Refusals {
		if r.Allow != "" {
			out = appendNew(out, r.Allow)
		}
	}
	return out
}

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// SQLite write-ahead log magic numbers (big-endian, at offset 0).
const (
	walMagicLE = 0x377f0682
	walMagicBE = 0x377f0683
)

// databaseNames are name endings of SQLite databases and of the files
// SQLite keeps beside one: no credential is named so.
var databaseNames = []string{".db", ".sqlite", ".sqlite3", ".db3", "-wal", "-shm", "-journal"}

// isDatabase says why a file is a database ("" when it is not): its content
// is a SQLite database or write-ahead log, or its name is a database's.
func isDatabase(nodePath string, data []byte) string {
	switch {
	case bytes.HasPrefix(data, sqliteHeader):
		return "it is a SQLite database (its first bytes are \"SQLite format 3\")"
	case len(data) >= 32 && (binary.BigEndian.Uint32(data) == walMagicLE || binary.BigEndian.Uint32(data) == walMagicBE):
		return "it is a SQLite write-ahead log"
	}
	base := strings.ToLower(path.Base(nodePath))
	for _, suffix := range databaseNames {
		if strings.HasSuffix(base, suffix) {
			return fmt.Sprintf("its name says it is a database or a database's side file (%s)", suffix)
		}
	}
	return ""
}
