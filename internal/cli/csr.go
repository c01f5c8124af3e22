package cli

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/kubelet"
	"github.com/spf13/cobra"
)

func init() {
	register(65, func(env *Env) *cobra.Command {
		c := &cobra.Command{
			Use:   "csr",
			Short: "Decide the cluster's kubelet-serving certificate signing requests",
		}
		c.AddCommand(csrApproveCmd(env))
		return withHelp(c, `  certrescue csr approve --kubeconfig /etc/kubernetes/admin.conf`, exitCodesSimple)
	})
}

func csrApproveCmd(env *Env) *cobra.Command {
	var kubeconfigPath, server string
	var dry bool
	c := &cobra.Command{
		Use:   "approve [NAME...]",
		Short: "Approve pending kubelet-serving CSRs that are the node's own; deny the others, saying why",
		Long: `With serverTLSBootstrap: true a kubelet asks the cluster for its serving
certificate with a CertificateSigningRequest for the signer
kubernetes.io/kubelet-serving, which nothing in Kubernetes approves. This
approves one only when its requestor is system:node:NAME (in system:nodes),
the request's subject is that same identity, its usages are a server's
(server auth, digital signature, key encipherment), and every DNS name and IP
it asks for is an address of Node NAME in the API (status.addresses). Every
other pending kubelet-serving CSR is denied, with the reason as its message.
Without NAMEs every pending kubelet-serving CSR is decided. Each approval and
denial is an audit event (APPROVE, DENY) before it is made.`,
		RunE: func(cmd *cobra.Command, names []string) error {
			conf, err := kubelet.LoadConf(env.FS(), kubeconfigPath)
			if err != nil {
				return usageError(err)
			}
			cfg, err := kubelet.RESTConfig(conf.KC, server)
			if err != nil {
				return usageError(err)
			}
			api, err := kubelet.NewAPI(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			csrs, err := api.CSRs(ctx)
			if err != nil {
				return err
			}
			decided, denied := 0, 0
			for i := range csrs {
				csr := &csrs[i]
				if len(names) > 0 && !slices.Contains(names, csr.Name) {
					continue
				}
				if csr.Spec.SignerName != kubelet.ServingSigner || !kubelet.Pending(csr) {
					if len(names) > 0 {
						fmt.Fprintf(env.Stdout, "skip     %s: not a pending %s request\n", csr.Name, kubelet.ServingSigner)
					}
					continue
				}
				var node *corev1.Node
				if n := kubelet.RequestedNode(csr); n != "" {
					node, err = api.Node(ctx, n)
					if err != nil && !apierrors.IsNotFound(err) {
						return err
					}
				}
				d := kubelet.DecideServing(csr, node)
				decided++
				verb, action, reason := "approved", facts.ActionApprove, "CertrescueNodeAddresses"
				if !d.Approve {
					verb, action, reason = "denied", facts.ActionDeny, "CertrescueNotTheNodes"
					denied++
				}
				if dry {
					fmt.Fprintf(env.Stdout, "would be %s %s: %s\n", verb, csr.Name, d.Why)
					continue
				}
				if err := env.record(cmd, CertEvent{Action: action, Name: csr.Name, Path: "certificatesigningrequests/" + csr.Name,
					Detail: fmt.Sprintf("%s, node %q, names [%s]: %s", kubelet.ServingSigner, d.Node, strings.Join(d.Names, " "), d.Why)}); err != nil {
					return err
				}
				if err := api.Decide(ctx, csr, d.Approve, reason, d.Why, env.Clock.Now()); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "%-8s %s: %s\n", verb, csr.Name, d.Why)
			}
			if decided == 0 {
				fmt.Fprintf(env.Stdout, "no pending %s certificate signing requests\n", kubelet.ServingSigner)
			}
			return nil
		},
	}
	c.Flags().StringVar(&kubeconfigPath, "kubeconfig", "/etc/kubernetes/admin.conf", "kubeconfig of a user who may approve CSRs (node path)")
	c.Flags().StringVar(&server, "server", "", "API server URL (default: the kubeconfig's)")
	c.Flags().BoolVar(&dry, "dry-run", false, "say what would be approved and denied; change nothing")
	return audited(withHelp(c, `  certrescue csr approve
  certrescue csr approve --dry-run
  certrescue csr approve --kubeconfig /etc/kubernetes/admin.conf --server https://10.0.0.1:6443 csr-7x2kq`, exitCodesSimple))
}
