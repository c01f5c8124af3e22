// Package rescue is certrescue's one-command repair of a node whose
// certificates expired: check what is due, take a lock (a second concurrent
// rescue is refused), plan the renewal and run check's evaluation on the
// renewed set (Recheck: the node's credentials with the plan's bytes in place;
// a dry run stops there and changes nothing), back up every file the plan
// replaces or relies on whatever the layout (TakeBackup, also used by renew;
// a backup that could not bring a replaced file back stops the run), deploy
// atomically, then restart in dependency order (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet) with a health gate after
// each. With Options.ReloadGate, only what cannot take its renewed
// credentials up by itself restarts (internal/reload's table, decided from
// the components' flags); the rest is gated on the component using them (a
// component still on its old credential after the table's time is restarted
// after all). The levels of the dependency order run in order, the
// controller-manager, scheduler and kubelet of the last one in parallel. A
// component that cannot work anyway (its certificates, or those of one it
// needs, expired) is stopped with a short grace (Options.ExpiredGrace, 1s),
// the others with their normal period, unless Options.StopGrace says;
// the plan says which. A failed restart or gate restores the backup,
// restarts again only what was restarted (what reloaded takes the restored
// files up by itself, proved by the same gates) and reports exactly what
// failed. A run that renewed and restarted but left a
// critical finding (a SAN missing for the service IP, a key mismatch, an
// untrusted chain) ends ResultStillCritical, never ok.
//
// Every step is written to a journal (JSON lines, fsynced, 0600, under
// /var/lib/certrescue) before it is taken, so a rerun after a crash resumes
// (every renewed file in place: redo the restarts) or rolls back (a mix of
// old and new files: restore the backup, then renew afresh); it never leaves a
// mix. The lock is an flock, released by the kernel when a process dies.
// The deploy itself is also a nodefs transaction (Options.Txn), with the audit
// intent (Options.Intent) recorded once every file is staged and before the
// first is replaced, so a crash inside it is finished or abandoned by the
// next certrescue command, whatever it is.
//
// Options.Planner replaces the renewal with a plan of the caller's (ca
// rotate's phases, package carotation), computed after the lock and the
// recovery of a previous run; the rest of the transaction is the same.
//
// Inputs: Options (root, roles, restarter, gates, the certificates' clock and
// the wall clock that times steps and gates, an event callback, the audit
// intent). Outputs: a Report and Events; the command layer prints the events
// and turns those with an Action into audit records. Errors are sentinels and
// types the command layer branches on (ErrLocked, ErrUnreadable,
// ErrStillCritical, ErrUnverified, ErrInterrupted, *GateError, *RollbackError);
// they name files and components, never flags. It never prints, never reads the
// wall clock itself and never puts file contents (keys) in events or the
// journal: only names, paths and hashes.
package rescue
