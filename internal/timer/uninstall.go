package timer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// WantsLink is the link `systemctl enable` makes for the timer; Uninstall
// removes it too, so a node's disk mounted under --root is left as
// `systemctl disable` leaves it.
const WantsLink = UnitDir + "/timers.target.wants/" + TimerName

// header starts every unit Install writes.
var header = []byte("# Written by certrescue timer install.")

// ErrNotOurs: a unit of the same name that timer install did not write.
var ErrNotOurs = errors.New("not written by certrescue timer install")

// Uninstall removes what Install wrote (and the link `systemctl enable`
// made), the timer before its service: a crash between the two leaves a
// service nothing starts, and a rerun finishes. It first checks every unit:
// one that is not a regular file starting with Install's header is refused
// (unless force), and then nothing is removed. It returns the node paths it
// removed; none when nothing was installed.
func Uninstall(fsys nodeFS, force bool) ([]string, error) {
	units := []string{UnitDir + "/" + TimerName, UnitDir + "/" + ServiceName}
	var present []string
	for _, p := range units {
		fi, err := fsys.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w; nothing was removed", p, err)
		}
		if !force {
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%s: %w (a %s, not a regular file); nothing was removed (--force removes it anyway)", p, ErrNotOurs, fi.Mode().Type())
			}
			data, err := fsys.Read(p, 1<<20)
			if err != nil {
				return nil, fmt.Errorf("%w; nothing was removed", err)
			}
			if !bytes.HasPrefix(data, header) {
				return nil, fmt.Errorf("%s: %w (its first line is not %q); nothing was removed (--force removes it anyway)", p, ErrNotOurs, header)
			}
		}
		present = append(present, p)
	}
	var removed []string
	if fi, err := fsys.Lstat(WantsLink); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if err := fsys.Remove(WantsLink); err != nil {
			return removed, fmt.Errorf("remove %s: %w", WantsLink, err)
		}
		removed = append(removed, WantsLink)
	}
	for _, p := range present {
		if err := fsys.Remove(p); err != nil {
			return removed, fmt.Errorf("remove %s: %w", p, err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// nodeFS is what Uninstall needs of the node's disk (a *nodefs.FS).
type nodeFS interface {
	Lstat(nodePath string) (fs.FileInfo, error)
	Read(nodePath string, limit int64) ([]byte, error)
	Remove(nodePath string) error
}
