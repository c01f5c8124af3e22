// Package lease keeps two control-plane nodes from renewing (and so
// restarting their API servers) at the same time: before renew --auto
// changes anything it takes a coordination.k8s.io/v1 Lease (kube-system/
// certrescue-renew by default) with the node's name as holder, and gives it
// back when it is done. A Lease another node holds and has renewed within its
// duration means "not now": the caller skips the run, and the timer tries
// again at its next run.
//
// It is a lock, not leader election: there is no keep-alive loop. The Lease's
// duration must outlast the whole renewal (backup, deploy, ordered restarts
// behind their health gates); an expired Lease is anyone's, so a node that
// died holding it blocks the others for one duration at most.
//
// Only when the API answers: a renewal is most needed when the API server is
// down (its certificates expired), so an API that cannot be reached or
// refuses the credentials (Unreachable) is reported to the caller, which
// decides (renew --auto goes ahead with a warning unless --lease required).
//
// Inputs: a typed Leases client (Client builds one on client-go's REST client from
// credentials the caller read through nodefs), the Lease's namespace and name, the
// holder, the duration and a clock.Clock (renewTime and expiry are the
// clock's, tests move a fake one). Outputs: a Held lease to Release, or
// *HeldError (another holder, until when) or *UnreachableError. It prints
// nothing and reads no file.
package lease
