package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// Installed says what Install did.
type Installed struct {
	Dated    string // the new dated pair file
	Previous string // what the current link named before ("" when none)
	// Preserved is the dated file a regular current file's content was
	// kept in before the link replaced it ("" when it was a link).
	Preserved string
	// Already is true when the current link already named this pair: a
	// rerun after a crash has nothing left to switch.
	Already bool
}

// InstallOptions are Install's hooks.
type InstallOptions struct {
	// BeforeSwitch runs after the dated file is durable and the -updated link
	// made, before the rename that switches the current link: the audit log's
	// intent. An error leaves the current link as it was.
	BeforeSwitch func(dated string) error
}

// Install stores pair as the kubelet does and makes it current:
//
//  1. the pair is written to PREFIX-<now>.pem (0600), atomically (nodefs
//     WriteSet: temporary file, fsync, rename, directory fsync);
//  2. a leftover PREFIX-updated.pem link is removed, and it is made again
//     naming the dated file (an absolute node path, as the kubelet writes it);
//  3. PREFIX-updated.pem is renamed over PREFIX-current.pem, one rename(2),
//     and the directory is fsynced.
//
// Until the rename the current link names the old pair, from it the new one:
// a crash anywhere leaves a complete pair current and at most a stray
// -updated link or temporary file. A current file that is a regular file (a
// store the kubelet cannot rotate) is first kept as a dated file of its own
// issue time, then replaced by the link. Installing the pair already current
// changes nothing.
func (s Store) Install(pair *Pair, now time.Time, o InstallOptions) (*Installed, error) {
	st, err := s.Inspect()
	if err != nil {
		return nil, err
	}
	res := &Installed{}
	if st.Exists {
		res.Previous = st.Resolved
	}
	if st.Link && st.Pair != nil && st.Pair.Leaf().Equal(pair.Leaf()) {
		res.Already = true
		s.cleanLeftover()
		return res, nil
	}
	if st.Exists && !st.Link {
		kept, err := s.preserve(st, now)
		if err != nil {
			return nil, err
		}
		res.Preserved = kept
	}
	dated, err := s.writeDated(pair, now)
	if err != nil {
		return nil, err
	}
	res.Dated = dated
	if err := s.switchTo(dated, o); err != nil {
		return res, err
	}
	return res, nil
}

// writeDated writes the pair to a new dated file, a second later when the
// name is taken (two installs within one second).
func (s Store) writeDated(pair *Pair, now time.Time) (string, error) {
	for i := range 5 {
		p := s.DatedPath(now.Add(time.Duration(i) * time.Second))
		err := s.FS.WriteSet([]nodefs.Put{{Path: p, Data: pair.PEM(), Mode: 0o600}}, nodefs.WriteOptions{})
		if errors.Is(err, nodefs.ErrExists) {
			continue
		}
		if err != nil {
			return "", err
		}
		return p, nil
	}
	return "", fmt.Errorf("%s: five dated files from %s on already exist", s.Dir, now.UTC().Format(time.RFC3339))
}

// preserve keeps a regular current file's pair as a dated file.
func (s Store) preserve(st *State, now time.Time) (string, error) {
	data, err := s.FS.Read(st.Current, MaxPairSize)
	if err != nil {
		return "", err
	}
	at := now
	if st.Pair != nil {
		at = st.Pair.Leaf().NotBefore
	}
	for i := range 5 {
		p := s.DatedPath(at.Add(time.Duration(i) * time.Second))
		err := s.FS.WriteSet([]nodefs.Put{{Path: p, Data: data, Mode: 0o600}}, nodefs.WriteOptions{})
		if errors.Is(err, nodefs.ErrExists) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("keep %s before replacing it: %w", st.Current, err)
		}
		return p, nil
	}
	return "", fmt.Errorf("keep %s: dated files from %s on already exist", st.Current, at.UTC().Format(time.RFC3339))
}

// switchTo points the current link at dated with the kubelet's
// updated-then-rename protocol.
func (s Store) switchTo(dated string, o InstallOptions) error {
	updated := s.UpdatedPath()
	if fi, err := s.FS.Lstat(updated); err == nil {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return fmt.Errorf("%s %w; move it away", updated, ErrNotSymlink)
		}
		if err := s.FS.Remove(updated); err != nil {
			return fmt.Errorf("remove the stale %s: %w", updated, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", updated, err)
	}
	if err := s.FS.Symlink(dated, updated); err != nil {
		return fmt.Errorf("link %s to %s: %w", updated, dated, err)
	}
	if got, err := s.ReadPair(updated); err != nil || got == nil {
		_ = s.FS.Remove(updated)
		return fmt.Errorf("the new link %s does not read back: %w", updated, err)
	}
	if o.BeforeSwitch != nil {
		if err := o.BeforeSwitch(dated); err != nil {
			_ = s.FS.Remove(updated)
			return err
		}
	}
	if err := s.FS.Rename(updated, s.CurrentPath()); err != nil {
		return fmt.Errorf("rename %s over %s: %w", updated, s.CurrentPath(), err)
	}
	if err := s.FS.SyncDir(s.Dir); err != nil {
		return err
	}
	return nil
}

// cleanLeftover removes an -updated link an interrupted switch left.
func (s Store) cleanLeftover() {
	if fi, err := s.FS.Lstat(s.UpdatedPath()); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		_ = s.FS.Remove(s.UpdatedPath())
	}
	s.FS.CleanTemps(s.Dir)
}
