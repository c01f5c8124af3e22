package facts

// Reason is the stable code of a finding about a certificate, key or kubeconfig.
type Reason string

// The finding reasons. They appear in check's JSON, in certrescue_finding metric
// labels and in audit records: add new ones, never rename.
const (
	ReasonExpired               Reason = "expired"
	ReasonNotYetValid           Reason = "not_yet_valid"
	ReasonExpiring              Reason = "expiring"
	ReasonCAExpiresBeforeLeaf   Reason = "ca_expires_before_leaf"
	ReasonUntrustedChain        Reason = "untrusted_chain"
	ReasonKeyMismatch           Reason = "key_mismatch"
	ReasonSANMissing            Reason = "san_missing"
	ReasonWrongUsage            Reason = "wrong_usage"
	ReasonWeakKey               Reason = "weak_key"
	ReasonKeyPermissions        Reason = "key_permissions"
	ReasonKubeconfigCAMismatch  Reason = "kubeconfig_ca_mismatch"
	ReasonServedDiffersFromDisk Reason = "served_differs_from_disk"
	ReasonMalformed             Reason = "malformed"
	ReasonUnreadable            Reason = "unreadable"
	// ReasonForeignClientCertificate is a kubeconfig whose client
	// certificate is not its own: a serving certificate (the field guide's
	// sed pointing admin.conf at apiserver.pem), another component's
	// credential, or an identity that does not fit the kubeconfig's role.
	ReasonForeignClientCertificate Reason = "foreign_client_certificate"
	// ReasonUnexpectedTrustAnchor is a CA file (or a kubeconfig's
	// certificate-authority) carrying certificates that are not CAs of the
	// node: more roots than the layout's CAs, or one with a CA's subject and
	// another key. Every certificate of a trust bundle is a trust anchor.
	ReasonUnexpectedTrustAnchor Reason = "unexpected_trust_anchor"
	// ReasonKubeletRotationStuck is a kubelet whose own rotation cannot
	// go on: kubelet-client-current.pem is a regular file (the kubelet
	// refuses to replace it), or it names an expired pair while a newer
	// valid one sits beside it in the store.
	ReasonKubeletRotationStuck Reason = "kubelet_rotation_stuck"
	// ReasonKubeletClientEmbedded is a kubelet.conf that embeds its client
	// certificate (kubeadm init's): the kubelet's rotation never replaces it.
	ReasonKubeletClientEmbedded Reason = "kubelet_client_embedded"
)

// Severity orders findings: a command's exit code is the worst severity found.
type Severity int

// Severities, least to most urgent.
const (
	SeverityOK Severity = iota
	SeverityWarning
	SeverityCritical
)

func (s Severity) String() string {
	switch s {
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	default:
		return "ok"
	}
}

// MarshalText makes severities print as words in JSON and YAML.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Action is what an audited operation did to a certificate or file.
type Action string

// Audit actions; the field guide's cert_audit table had CREATE, UPDATE and REVOKE.
const (
	ActionCreate   Action = "CREATE"
	ActionRenew    Action = "RENEW"
	ActionRevoke   Action = "REVOKE"
	ActionBackup   Action = "BACKUP"
	ActionRestore  Action = "RESTORE"
	ActionDeploy   Action = "DEPLOY"
	ActionRestart  Action = "RESTART"
	ActionRollback Action = "ROLLBACK"
	ActionHarden   Action = "HARDEN"
	// ActionApprove and ActionDeny are decisions on a certificate signing
	// request in the cluster (certrescue csr approve).
	ActionApprove Action = "APPROVE"
	ActionDeny    Action = "DENY"
)
