// Package fleet is what certrescue knows about a node's peers: the gate
// before a control-plane node is touched (Pregate) and the merge of many
// nodes' check reports into one (Merge).
//
// Pregate asks every etcd member, over its client URL with TLS, for its
// /health, its member list (POST /v3/cluster/member/list) and its status
// (POST /v3/maintenance/status): etcd's own grpc-gateway JSON API, so no
// etcd client library is needed. It decides whether one member may be
// restarted now (quorum with Spare members to spare, one leader that every
// healthy member agrees on, one membership) and whether the load balancer
// answers /readyz. Pregate itself reads nothing from disk: the command
// layer builds its HTTP clients with ClientTLS and KubeconfigTLS, which read
// the node's credentials through nodefs (under --root). Its reasons
// (Reason*) and verdicts are a stable contract of `fleet pregate -o json`.
//
// ParseCheck reads one node's `certrescue check -o json` (bounded, never
// panics); Merge makes the fleet's report from many: per node its worst
// status and counts, and every item that is not OK, with its node. It does
// no IO.
//
// What it does not do: no SSH, no fan-out to nodes (Ansible does that), no
// restarts.
package fleet
