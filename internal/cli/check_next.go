package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"sigs.k8s.io/yaml"
)

// printCheckNext ends check's table with the commands that fix what is due,
// ready to paste (the same --root and --inventory files): renew for the
// kubeadm credentials the findings name, and the dry run of a rescue.
func printCheckNext(env *Env, f *checkFlags, rep *evaluation.Report) error {
	var names, keyDirs, caNames []string
	due := false
	for i := range rep.Results {
		r := &rep.Results[i]
		for _, fd := range r.Findings {
			if p := cmp.Or(fd.Path, r.KeyPath); fd.Reason == facts.ReasonKeyPermissions && p != "" && !slices.Contains(keyDirs, path.Dir(p)) {
				keyDirs = append(keyDirs, path.Dir(p))
			}
		}
		if r.Has(facts.ReasonForeignClientCertificate) {
			// renew gives it its own client certificate (the field guide's sed).
			name := cmp.Or(r.Name, r.Path)
			if kubeadmRenewable(r) {
				name = r.Role
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		if r.IsCA && hasExpiry(r) && !slices.Contains(caNames, cmp.Or(r.Name, r.Path)) {
			caNames = append(caNames, cmp.Or(r.Name, r.Path))
		}
		if r.IsCA || r.Kind == inventory.KindServed || !hasExpiry(r) {
			continue
		}
		due = true
		if kubeadmRenewable(r) && !slices.Contains(names, r.Role) {
			names = append(names, r.Role)
		}
	}
	if !due && len(keyDirs) == 0 && len(names) == 0 && len(caNames) == 0 {
		return nil
	}
	w := env.Stdout
	fmt.Fprintf(w, "\nNEXT\n")
	if len(caNames) > 0 {
		fmt.Fprintf(w, "  %s   # on their own keys: every leaf they signed keeps verifying\n", env.command("ca", "renew").args(caNames...).each("--inventory", f.inventories))
		due = true
	}
	if len(names) > 0 {
		fmt.Fprintf(w, "  %s\n", env.command("renew").args(names...).each("--inventory", f.inventories))
	}
	if due {
		fmt.Fprintf(w, "  %s   # what a rescue renews and restarts\n", env.command("rescue", "--dry-run").each("--inventory", f.inventories))
	}
	if len(keyDirs) > 0 {
		fmt.Fprintf(w, "  %s   # keys 0600, CA keys 0400, directories 0700\n", env.command("harden").args(keyDirs...))
	}
	return nil
}

// hasExpiry says whether a result is due for renewal: expired, expiring or
// not yet valid.
func hasExpiry(r *evaluation.Result) bool {
	return r.Has(facts.ReasonExpired) || r.Has(facts.ReasonExpiring) || r.Has(facts.ReasonNotYetValid)
}

// kubeadmRenewable says whether 'renew NAME' takes the result by its role
// name: a kubeadm leaf or kubeconfig at its kubeadm path.
func kubeadmRenewable(r *evaluation.Result) bool {
	role, ok := layout.KubeadmRole(r.Role)
	return ok && role.CertPath == r.Path && renewal.Renewable(role)
}

// checkError prints, when check was asked for JSON or YAML and ends without
// a report, the error as {"error": MESSAGE, "exitCode": CODE} on stdout, so
// a program reading stdout always gets one document (the message also goes
// to stderr, as for every command). It returns err unchanged.
func checkError(env *Env, f *checkFlags, err error) error {
	var ee *ExitError
	if err == nil || f.printed || f.quiet || (errors.As(err, &ee) && ee.Err == nil) {
		return err
	}
	if f.output != "json" && f.output != "yaml" {
		return err
	}
	code := exitCode(err)
	if isCobraUsage(err) {
		code = ExitUsage
	}
	obj := struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exitCode"`
	}{err.Error(), code}
	b, merr := json.MarshalIndent(obj, "", "  ")
	if merr == nil && f.output == "yaml" {
		b, merr = yaml.JSONToYAML(b)
	} else if merr == nil {
		b = append(b, '\n')
	}
	if merr == nil {
		_, _ = env.Stdout.Write(b)
	}
	return err
}

// requestedOutput is the -o/--output value on the command line, for errors
// that stop flag parsing before it is read; parsed is the value read so far.
func requestedOutput(args []string, parsed string) string {
	out := parsed
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return out
		case (a == "-o" || a == "--output") && i+1 < len(args):
			out = args[i+1]
			i++
		case strings.HasPrefix(a, "--output="):
			out = strings.TrimPrefix(a, "--output=")
		case strings.HasPrefix(a, "-o") && !strings.HasPrefix(a, "--"):
			out = strings.TrimPrefix(strings.TrimPrefix(a, "-o"), "=")
		}
	}
	return out
}
