// Package timer tests the scheduled renewal against the real things that run
// here: the units `certrescue timer install` writes pass Debian's
// `systemd-analyze verify` (systemd 252; systemd itself cannot run as PID 1
// here, so the timer is never started: `systemd-analyze calendar` shows
// when it would run), `renew --auto` on a node the real kubeadm made renews
// the one certificate that is due and nothing else, and its Lease is taken on
// the testbed's real kube-apiserver.
package timer
