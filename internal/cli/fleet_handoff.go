package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/certrescue/certrescue/internal/fleet"
	"github.com/spf13/cobra"
)

func newFleetHandoffCmd(env *Env) *cobra.Command {
	var f pregateFlags
	var limit time.Duration
	c := &cobra.Command{
		Use:   "handoff",
		Short: "Move etcd's leadership away from this node's member before it restarts (when it is the leader)",
		Long: `Run on a control-plane node just before it is rescued. When the local etcd
member (--etcd-endpoint) is the leader, leadership moves to a healthy voting
member (as etcdctl move-leader does, over etcd's JSON API) and the command
waits until the local member reports the new leader. A leader restarted
without this costs the cluster an election: no leader for an election
timeout or more, and every API server's requests to etcd fail meanwhile. A
follower has nothing to hand off.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "table" && f.output != "json" {
				return usagef("-o %q: use table or json", f.output)
			}
			etcdTLS, err := fleet.ClientTLS(env.FS(), f.etcdCA, f.etcdCert, f.etcdKey)
			if err != nil {
				return fmt.Errorf("etcd credentials (--etcd-cacert, --etcd-cert, --etcd-key): %w", err)
			}
			ec := &fleet.EtcdClient{HTTP: httpClient(etcdTLS, f.timeout)}
			r, err := fleet.Handoff(cmd.Context(), ec, f.endpoints[0], wall, limit)
			if r != nil && f.output == "json" {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(r); jerr != nil {
					return jerr
				}
			} else if r != nil && r.Detail != "" {
				fmt.Fprintln(env.Stdout, r.Detail)
			}
			return err
		},
	}
	c.Flags().StringArrayVar(&f.endpoints, "etcd-endpoint", []string{fleet.DefaultEtcdEndpoint}, "the local member's client URL")
	c.Flags().StringVar(&f.etcdCA, "etcd-cacert", fleet.DefaultEtcdCA, "CA bundle etcd's serving certificates chain to (node path)")
	c.Flags().StringVar(&f.etcdCert, "etcd-cert", fleet.DefaultEtcdCert, "client certificate etcd trusts (node path)")
	c.Flags().StringVar(&f.etcdKey, "etcd-key", fleet.DefaultEtcdKey, "its private key (node path)")
	c.Flags().DurationVar(&f.timeout, "timeout", 5*time.Second, "bound of each request")
	c.Flags().DurationVar(&limit, "wait", 30*time.Second, "how long the new leader may take to be reported")
	c.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return withHelp(c, `  certrescue fleet handoff
  certrescue fleet handoff -o json --etcd-endpoint https://127.0.0.1:2379`, `  0  the leadership moved, or the local member is not the leader
  1  it could not move: no other healthy member, the move failed or was not seen in time,
     the local member or its credentials cannot be read
  3  usage error`)
}
