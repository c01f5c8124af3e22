// Package ha tests the whole-cluster rescue of an HA control plane with the
// Ansible collection (deploy/ansible, run from the kit with Debian's
// ansible-playbook over ssh into each node's namespace) against the HA
// testbed (internal/testbed/ha): three kubeadm control-plane nodes with a
// three-member etcd, haproxy on a virtual address, every component real, and
// 10 workers (CERTRESCUE_HA_WORKERS sets the count; 50 for the field
// guide's incident): kubemark's hollow
// kubelets registered through the VIP, each with its own root, address and
// sshd, and no CA key.
//
// It shows: a whole cluster expired (every control-plane certificate and
// every worker's kubelet client certificate), rescued by one
// ansible-playbook site.yml run (the pre-gate finds etcd without quorum
// everywhere and the control-plane nodes are rescued together; then the
// expired workers together, each the worker's way: kubelet csr, the
// batch's requests signed in one run on cp1, kubelet install), every Node
// Ready through the VIP and kubectl through the VIP working after; a planned
// renewal rolled node by node while a client sends a request through the VIP
// every 100 ms (the failed requests are counted) and etcd never loses quorum
// (member status sampled over time, and the supervisors' logs show no two
// etcd members down at once); a node whose gate fails mid-roll: the play
// stops, that node's files are byte-identical to before, the next node is
// untouched, the cluster serves; every node's audit events in PostgreSQL
// with its hostname; the cluster CA renewed across the fleet (ca.yml: ca
// renew on cp1, ca apply on cp2 and cp3 one at a time, then on the workers
// in batches), every node and worker trusting the renewed CA, the Nodes
// Ready; the CA rotated to new keys across the fleet (ca-rotate.yml).
// Figures (wall time per play, the testbed's peak memory) are logged as
// FIGURE lines.
//
// TestTheKitPlay runs kit.yml on its own against one node reached through
// Ansible's local connection, no cluster: the push, a rerun that pushes
// nothing, and the refusals (a file changed on the node, a tarball whose
// files do not match its SHA256SUMS, a file that is not a kit).
//
// Nothing here fakes a peer: the only stand-in is the testbed's supervisor
// for systemd (see internal/testbed), and no kubelet runs on the
// control-plane nodes.
package ha
