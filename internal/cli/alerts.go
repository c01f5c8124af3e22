package cli

import (
	"github.com/spf13/cobra"

	"github.com/certrescue/certrescue/internal/alerts"
	"github.com/certrescue/certrescue/internal/atomicfile"
)

func init() {
	register(61, func(env *Env) *cobra.Command {
		o := alerts.Defaults()
		var format, out string
		var labels, manifestLabels map[string]string
		var force bool
		c := &cobra.Command{
			Use:   "alerts",
			Short: "Write Prometheus alert rules for the exporter's metrics (rules file or PrometheusRule)",
			Long: `Alerts writes alerting rules for certrescue exporter's metrics, which are also
x509-certificate-exporter's: a certificate expiring within --warning-days
(warning) and --critical-days (critical), expired, not yet valid; any other
finding of certrescue check (certrescue_finding: untrusted chain, key mismatch,
missing SAN, served certificate differing from disk, ...); a source down or
failing; and the kubelet's own certificate lifetimes, the field guide's kubelet
rule done right (the metric it names does not exist, so it never fired).

-o rules writes a file for Prometheus's rule_files; -o prometheusrule a
PrometheusRule manifest for the Prometheus Operator. Check either with
promtool check rules.`,
			Args: exactArgs(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error {
				o.Labels, o.ManifestLabels = labels, manifestLabels
				if err := o.Validate(); err != nil {
					return usageError(err)
				}
				var data []byte
				var err error
				switch format {
				case "rules":
					data, err = alerts.RulesYAML(o)
				case "prometheusrule":
					data, err = alerts.ManifestYAML(o)
				default:
					return usagef("-o %q: use rules or prometheusrule", format)
				}
				if err != nil {
					return usageError(err)
				}
				if out == "" || out == "-" {
					_, err = env.Stdout.Write(data)
					return err
				}
				return atomicfile.Write(out, data, atomicfile.CertMode, force)
			},
		}
		fl := c.Flags()
		fl.IntVar(&o.WarningDays, "warning-days", o.WarningDays, "warn when a certificate expires within this many days")
		fl.IntVar(&o.CriticalDays, "critical-days", o.CriticalDays, "page when a certificate expires within this many days")
		fl.DurationVar(&o.For, "for", o.For, "how long a condition holds before an alert fires")
		fl.DurationVar(&o.SourceFor, "source-for", o.SourceFor, "how long a source stays down or failing before its alert fires")
		fl.BoolVar(&o.Kubelet, "kubelet", o.Kubelet, "add the kubelet certificate TTL rules (kubelet_certificate_manager_*_ttl_seconds)")
		fl.StringToStringVar(&labels, "label", nil, "extra label on every alert (team=platform; repeatable)")
		fl.StringVarP(&format, "output", "o", "rules", "rules (a rules file) or prometheusrule (a manifest)")
		fl.StringVar(&o.Name, "name", o.Name, "PrometheusRule name")
		fl.StringVar(&o.Namespace, "namespace", o.Namespace, "PrometheusRule namespace")
		fl.StringToStringVar(&manifestLabels, "manifest-label", nil, "label on the PrometheusRule itself, for the operator's ruleSelector (release=kube-prometheus-stack)")
		fl.StringVar(&out, "out", "", "write to this file (atomically) instead of standard output")
		fl.BoolVar(&force, "force", false, "overwrite --out if it exists")
		return withHelp(c, `  certrescue alerts > /etc/prometheus/rules/certrescue.yaml
  certrescue alerts --warning-days 45 --critical-days 10 --label team=platform
  certrescue alerts -o prometheusrule --namespace monitoring --manifest-label release=kube-prometheus-stack | kubectl apply -f -`, exitCodesSimple)
	})
}
