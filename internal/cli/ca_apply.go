package cli

import (
	"fmt"

	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/spf13/cobra"
)

// newCAApplyCmd is `ca apply ARCHIVE`: another node's CA renewal on this one.
func newCAApplyCmd(env *Env) *cobra.Command {
	var f rescueFlags
	c := &cobra.Command{
		Use:   "apply ARCHIVE",
		Short: "Apply the CA archive ca renew wrote on another node: every trust consumer here gets the renewed CA certificates",
		Long: `Read the archive ca renew (or a rescue that renewed a CA) wrote on the node
where the CA keys are (certificates only, with SHA256SUMS), check every
checksum, and for each CA in it: find this node's certificate of the same CA
(the same subject and key), prove every certificate of this node the CA
signed verifies against the renewed one, and replace the old certificate in
every trust consumer of this node: the CA files and the flags that name them,
certificate-authority-data of every kubeconfig (kubelet.conf,
bootstrap-kubelet.conf, admin.conf on other control-plane nodes). The same
transaction as rescue: backup, journaled atomic deploy, ordered restarts
behind health gates, rollback, audit. A rerun after it finished changes
nothing. A worker (no CA key) and a control-plane node alike.`,
		Args: exactArgs(1, "the archive"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(env, "CA archive", args[0])
			if err != nil {
				return err
			}
			m, err := catrust.ReadArchive(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if m.Kind == catrust.ArchiveKindRotate {
				return runRotateApply(cmd, env, &f, args[0], m) // ca_rotate_apply.go
			}
			f.verb, f.imported = "ca apply", true
			for _, ca := range m.CAs {
				f.importCAs = append(f.importCAs, ca.Cert)
				fmt.Fprintf(env.Stdout, "%s: %s %s, valid until %s (sha256 %s)\n", args[0], ca.Name, ca.Subject, ca.NotAfter.Format("2006-01-02"), ca.NewSHA256[:16])
			}
			if len(f.importCAs) == 0 {
				return fmt.Errorf("%s: no CA in the archive", args[0])
			}
			return runRescue(cmd, env, &f)
		},
	}
	addCATxnFlags(c, &f)
	return audited(withHelp(c, `  certrescue ca apply ca-renew-20260301T110000.000Z.tar.gz --dry-run
  certrescue ca apply ca-renew-20260301T110000.000Z.tar.gz
  certrescue ca apply ca-renew.tar.gz --restart systemd`, `  0  applied (or already in place), restarted and healthy
  1  refused, nothing changed: a checksum does not match, the archive's CA is not a renewal of
     this node's (another key), a certificate of this node would not verify against it; or
     failed and rolled back
  3  usage error
  4  applied and restarted, but a restarted component had no health gate (named)`))
}
