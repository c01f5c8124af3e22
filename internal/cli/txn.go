package cli

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/spf13/cobra"
)

// TxnDir is the node directory where state-changing commands journal their
// writes (nodefs.Txn): the next command finishes or abandons what a crash left.
const TxnDir = rescue.StateDir + "/txn"

// newTxn names a transaction of cmd, journaled in dir.
func (e *Env) newTxn(cmd *cobra.Command, dir string) *nodefs.Txn {
	var b [4]byte
	_, _ = rand.Read(b[:])
	now := e.Clock.Now()
	return &nodefs.Txn{
		ID:      cmd.Name() + "-" + now.UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(b[:]),
		Command: e.auditor().commandLine(e, cmd),
		Started: now,
		Dir:     dir,
	}
}

// recoverTxns finishes or abandons the transactions an interrupted command
// journaled in dir, says so, and records what it did. It runs before a
// state-changing command changes anything, so a certificate and its key are
// never left from different generations.
func (e *Env) recoverTxns(cmd *cobra.Command, fsys *nodefs.FS, dir string) error {
	var errs []error
	for _, r := range fsys.Recover(dir) {
		what := fmt.Sprintf("an interrupted %q (transaction %s, started %s)", r.Command, r.ID, r.Started.UTC().Format(time.RFC3339))
		if r.ID == "" {
			what = "an interrupted command's transaction"
		}
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s could not be finished: %w\nits journal %s is kept; restore the backup taken before it (list them with: %s) or fix the files it names, then run again", what, r.Err, r.Journal, backupListHint(e, cmd)))
			continue
		}
		var evs []CertEvent
		switch r.Outcome {
		case nodefs.TxnFinished:
			fmt.Fprintf(e.Stderr, "certrescue: recovered %s: it had begun replacing files; finished it (%d files now hold what it staged)\n", what, len(r.Files))
			for _, p := range r.Files {
				evs = append(evs, CertEvent{Action: facts.ActionDeploy, Name: path.Base(p), Path: p,
					Detail: fmt.Sprintf("finished by recovery of interrupted transaction %s (%s)", r.ID, r.Command)})
			}
		case nodefs.TxnAbandoned:
			fmt.Fprintf(e.Stderr, "certrescue: recovered %s: it had changed nothing; abandoned it (its staged files are removed)\n", what)
			evs = append(evs, CertEvent{Action: facts.ActionRollback, Name: r.ID, Path: r.Journal,
				Detail: fmt.Sprintf("interrupted transaction %s (%s) abandoned before any file was replaced; %d files left as they were", r.ID, r.Command, len(r.Files))})
		}
		if err := e.recordAll(cmd, evs); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && fsys == e.FS() {
		// Temporary files no journal lists are what a write without one
		// left (an older version, a crash before its journal): remove them
		// where credentials live, so no stray copy of a key stays behind.
		for _, d := range credentialDirs {
			for _, p := range fsys.CleanTemps(d) {
				fmt.Fprintf(e.Stderr, "certrescue: removed %s, a temporary file an interrupted write left\n", p)
			}
		}
	}
	return errors.Join(errs...)
}

// credentialDirs are the node directories whose stray temporary files every
// state-changing command removes (once the journals are recovered).
var credentialDirs = []string{
	layout.KubernetesDir, layout.PKIDir, layout.PKIDir + "/etcd", "/etc/kubernetes/ssl", layout.KubeletPKIDir,
	"/etc/etcd/ssl", "/etc/ssl/etcd/ssl", "/var/lib/kubernetes", "/var/lib/kubelet",
	"/var/lib/rancher/k3s/server/tls", "/var/lib/rancher/rke2/server/tls",
}

// pendingTxns says, without changing anything, what an interrupted command
// left for the next state-changing command to finish (dry runs and check).
func (e *Env) pendingTxns(fsys *nodefs.FS, dir string) []string {
	var out []string
	for _, r := range fsys.Pending(dir) {
		if r.Err != nil {
			out = append(out, fmt.Sprintf("unreadable transaction journal %s: %v", r.Journal, r.Err))
			continue
		}
		verb := "finishes"
		if r.State == nodefs.TxnStaging {
			verb = "abandons"
		}
		out = append(out, fmt.Sprintf("unfinished transaction %s: %q (started %s) was interrupted while %s %d files; the next state-changing command %s it",
			r.ID, r.Command, r.Started.UTC().Format(time.RFC3339), r.State, len(r.Files), verb))
	}
	return out
}

// planIntent records a renewal plan in the audit log before anything is
// replaced (the transaction's intent).
func planIntent(cmd *cobra.Command, env *Env, plan *renewal.Plan, action facts.Action, txn *nodefs.Txn) error {
	var evs []CertEvent
	for _, it := range plan.Items {
		if it.SharedWith != "" {
			continue
		}
		evs = append(evs, CertEvent{Action: action, Name: it.Role.Name, Path: it.Path, Cert: it.New, Previous: it.Old,
			Detail: joinDetail("transaction "+txn.ID, signedBy(it))})
	}
	return env.recordAll(cmd, evs)
}
