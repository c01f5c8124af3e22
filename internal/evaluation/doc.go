// Package evaluation turns inventory items into findings: the stable reason
// codes of package facts (expired, expiring, untrusted_chain, key_mismatch,
// san_missing, ...), each with a severity and a message that says what is
// wrong, where, and what to do.
//
// Evaluate is a pure function of (items, now, policy): no IO, no clock, no
// network, so check, a Prometheus exporter and tests all call it the same way
// and get the same answer for the same input. Chains are checked with the
// signature of the CA the item's role names (not a system trust store), SANs
// against what the manifests, the kubeconfigs and the policy expect; a CA
// file's every certificate is a trust anchor, and one that is not a CA of
// the node is unexpected_trust_anchor (trust.go).
//
// Inputs: []inventory.Item (files and, as KindServed items, live endpoints),
// the time to judge at and a Policy. Output: a Report with one Result per item,
// most urgent first, and the worst severity. It never prints; docs/reasons.md
// documents every reason code and its severity.
package evaluation
