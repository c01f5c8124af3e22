package rescue

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/certrescue/certrescue/internal/deploy"
)

// recoverPrevious finishes a previous run the journal shows unfinished (the
// process was killed, the node lost power). Afterwards the node holds either
// every renewed file or every file of the backup, never a mix:
//
//   - stopped before deploying: nothing had changed; the run is closed;
//   - stopped after every renewed file was in place: the restarts and gates
//     are done now (resume), with rollback on failure;
//   - stopped part-way through deploying: the backup is restored, then this
//     run renews afresh;
//   - stopped while rolling back: the rollback is finished and reported.
//
// done is true when the recovery is the whole of this run's work.
func (r *runner) recoverPrevious() (done bool, err error) {
	recs, err := lastRun(r.j.path)
	if err != nil {
		return true, err
	}
	st := summarise(recs)
	if st.run == "" || st.ended {
		return false, nil
	}
	own := r.j.run
	r.j.run = st.run // recovery records belong to the run they finish
	defer func() { r.j.run = own }()
	note := func(detail string) {
		r.rep.Recovered = detail
		r.emit(Event{Step: "recover", Status: EventOK, Detail: detail})
	}
	switch {
	case st.deployStart == nil:
		note(fmt.Sprintf("previous run %s stopped before changing anything; starting afresh", st.run))
		return false, r.j.write(record{Step: stepEnd, Result: "abandoned"})
	case st.rollback:
		note(fmt.Sprintf("previous run %s stopped while rolling back; finishing the rollback", st.run))
		return true, r.rollback(st.backup, st.restarted, st.deployStart.Components, fmt.Errorf("previous rescue %s failed and was being rolled back", st.run))
	}
	var paths []string
	for _, f := range st.deployStart.Files {
		paths = append(paths, f.Path)
	}
	deploy.CleanStale(r.o.Root, paths)
	_, differ := deploy.Matches(r.o.Root, st.deployStart.Files)
	if len(differ) == 0 {
		note(fmt.Sprintf("previous run %s stopped after deploying every file; resuming its restarts", st.run))
		if !st.deployDone {
			if err := r.j.write(record{Step: stepDeploy, Status: statusDone}); err != nil {
				return true, err
			}
		}
		return true, r.restartAll(st.deployStart.Components, st.backup)
	}
	note(fmt.Sprintf("previous run %s stopped part-way through deploying (%d of %d files not new); rolling back to its backup",
		st.run, len(differ), len(st.deployStart.Files)))
	// Nothing had been restarted on a half-deployed node: restore the files,
	// restart only what a rescue before the crash did restart.
	err = r.rollback(st.backup, st.restarted, nil, fmt.Errorf("previous rescue %s was interrupted while deploying", st.run))
	if r.rep.Result != ResultRolledBack {
		return true, err
	}
	// The node is back to the backup: this run renews afresh.
	r.rep.Result, r.rep.Failure = "", nil
	return false, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
