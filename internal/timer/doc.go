// Package timer makes the systemd service and timer that run certrescue's
// scheduled renewal (renew --auto) on a node, and installs them through the
// node's view of the disk (nodefs, so --root writes only under the root).
//
// The units avoid the failures of kubespray's k8s-certs-renew timer:
//   - its script computed the renewal margin from the timer's next elapse
//     (systemctl show NextElapseUSecRealtime), which systemd reports empty
//     while the unit runs, and then renewed everything: every month. Here the
//     service decides from each certificate alone (renew --auto --before, a
//     share of its own lifetime), so the timer's schedule never changes what
//     is due, and the timer runs daily: a run that renews nothing exits 0
//     having touched nothing;
//   - its script removed the etcd, API server, controller-manager and
//     scheduler pods at once, and the controller-manager and scheduler,
//     started against an API server that was not back yet, lost their leader
//     election and crashed. renew --auto restarts in order (etcd, API server,
//     controller-manager, scheduler, kubelet), each behind its health gate,
//     and rolls back when one fails;
//   - its calendar used ranges older systemd could not parse; the default
//     here is a plain daily "*-*-* 03:00:00".
//
// The timer is Persistent (a run missed while the node was off happens at
// boot), has a RandomizedDelaySec with FixedRandomDelay (each node keeps its
// own offset, so control-plane nodes do not start together), and the service
// holds a coordination.k8s.io Lease while it renews (package lease).
//
// Inputs: Options (binary path, schedule, delay, renew --auto's arguments).
// Outputs: the two unit files' bytes (Units), written by Install and removed
// by Uninstall (only when they are Install's own). It runs no
// systemctl (the command layer does, on this machine only) and prints nothing.
package timer
