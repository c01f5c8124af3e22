// Package ha is the HA control-plane testbed, for tests only: three
// kubeadm-style control-plane nodes behind a load balancer, each in a network
// namespace of its own, joined by a bridge the test makes.
//
// What Start builds:
//
//   - a controller namespace holding the bridge, the controller's address
//     (Controller, 10.77.0.1: where ansible-playbook and the tests' clients
//     run) and the virtual address (VIP, 10.77.0.100) on which haproxy
//     (Debian's) forwards :6443 to the three API servers, health-checked with
//     GET /readyz;
//   - per node a namespace with its own address on the bridge (10.77.0.11,
//     .12, .13), its own root directory laid out by the real kubeadm
//     (`kubeadm init phase certs all` on the first node; the second and third
//     get a copy of the CA set and run the same phase, as `kubeadm join
//     --control-plane` does, so the etcd peer and server certificates carry
//     each node's own address), kubeconfigs for admin, super-admin,
//     controller-manager and scheduler, and kubeadm's static pod manifests;
//   - per node the components under testbed.Supervisor (the project's
//     systemd stand-in), started from units whose ExecStart is the static
//     pod's command: an etcd member of one three-member cluster with peer
//     TLS, a kube-apiserver, a kube-controller-manager and a kube-scheduler
//     with leader election, and an sshd (Debian's openssh-server) that lets
//     ansible in as root with a key the test makes. Each node's supervisor
//     has its own mount and UTS namespace: the node's /etc/kubernetes,
//     /var/lib/etcd and /var/lib/certrescue are its root's, and its hostname
//     is its name, so a command run over ssh sees the node as on a real
//     machine (certrescue runs there without --root);
//   - with Options.Workers, N worker nodes (see Worker): kubemark's hollow
//     kubelets (testbed.StartHollowKubelets), registered through the VIP
//     under their own system:node certificates, each with its own root,
//     hostname and sshd. They share one namespace (one veth port of the
//     bridge) with an address each (WorkerAddr: 10.77.1.1, ...; the bridge's
//     network is a /16), so hundreds fit: each worker costs a supervisor, a
//     hollow kubelet and an sshd. Their Node objects are created before
//     the kubelets start (as a rejoining node finds its own), and the
//     kubelets run in one cgroup v1 cpu group (WorkerCPUShares) so that,
//     expired and retrying, they yield the two cores to the controller and
//     the control plane; their sshd and what runs through it stay outside;
//   - Forward, a TCP port of the controller namespace forwarded to a
//     loopback port of the host (the PostgreSQL audit store).
//
// What it does not do: no kubelet runs on the control-plane nodes (they have
// no kubelet.conf), so no Node objects exist for them; the workers' Nodes
// are the only ones. Every process is killed by its PID when the test ends,
// also on failure, and every namespace deleted. It reads the wall clock: it
// waits for real processes.
package ha
