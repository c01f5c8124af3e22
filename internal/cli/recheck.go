package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ExitStillCritical is rescue's and renew's exit code when the renewal went
// through but check still finds something critical in the renewed
// certificates (with --dry-run: would still find). 4 is rescue's "restarted,
// not verified".
const ExitStillCritical = 5

// reasonForeignClient is the reason check gives a kubeconfig whose client
// certificate is a serving certificate or another identity's.
const reasonForeignClient facts.Reason = "foreign_client_certificate"

// scanner finds the node's credentials as check does, with the --inventory
// files: what rescue and renew check the renewed set against.
// (Builds its sources as renewFlags.roles does; both go to the one shared
// source function when it lands.)
func (f *renewFlags) scanner(env *Env) rescue.Scanner {
	return func(ctx context.Context) ([]inventory.Item, error) {
		if ctx == nil {
			ctx = context.Background()
		}
		sources := inventory.Sources()
		for _, p := range f.inventories {
			inv, err := inventory.LoadInventoryFile(env.NodePath(p))
			if err != nil {
				return nil, usagef("inventory file %s: %w", p, err)
			}
			inv.Path = p
			sources = append(sources, inv)
		}
		return inventory.Scan(ctx, inventory.NewReader(env.Root), sources...)
	}
}

// fixOf is the flags that fix a finding left on a renewed certificate, or
// why no flag does.
func fixOf(l rescue.Left) (flags []string, note string) {
	switch l.Reason {
	case facts.ReasonSANMissing:
		for _, v := range l.Values {
			if renewal.CheckSAN(v) == nil {
				flags = append(flags, "--add-san", v)
			}
		}
		if len(flags) == 0 {
			return nil, "the missing names are not DNS names or IP addresses --add-san accepts; reissue it by hand"
		}
		return flags, ""
	case facts.ReasonKeyMismatch:
		return []string{"--rotate-keys"}, ""
	case facts.ReasonExpiring:
		return []string{"--validity", "365d"}, ""
	case reasonForeignClient:
		return nil, "give the kubeconfig its own client certificate: --client-name CN[:O] names the identity"
	case facts.ReasonUntrustedChain, facts.ReasonKubeconfigCAMismatch:
		return nil, "the renewed certificate is signed by its role's CA, which is not the one it must chain to: name the right CA with ca: in an --inventory file"
	}
	return nil, "no flag fixes this: see the message"
}

// fixFlags is every flag fixing the findings, each once.
func fixFlags(left []rescue.Left) []string {
	var out []string
	for _, l := range left {
		flags, _ := fixOf(l)
		for i := 0; i < len(flags); i++ {
			pair := flags[i : i+1]
			if i+1 < len(flags) && !strings.HasPrefix(flags[i+1], "--") {
				pair = flags[i : i+2]
				i++
			}
			if !containsRun(out, pair) {
				out = append(out, pair...)
			}
		}
	}
	return out
}

func containsRun(list, run []string) bool {
	for i := 0; i+len(run) <= len(list); i++ {
		if slices.Equal(list[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// printCritical lists what check still finds critical in the renewed set,
// each with the flag that fixes it, under a heading (none when "").
func printCritical(w io.Writer, left []rescue.Left, heading string) {
	if len(left) == 0 {
		return
	}
	if heading != "" {
		fmt.Fprintln(w, heading)
	}
	for _, l := range left {
		fmt.Fprintf(w, "  %s %s: %s: %s\n", l.Name, l.Path, l.Reason, l.Message)
		flags, note := fixOf(l)
		if len(flags) > 0 {
			fmt.Fprintf(w, "    fix: %s\n", shellJoin(flags))
		} else {
			fmt.Fprintf(w, "    fix: %s\n", note)
		}
	}
}

// criticalHeading introduces the findings left on the renewed set.
func criticalHeading(left []rescue.Left, would bool) string {
	if would {
		return fmt.Sprintf("CRITICAL after this renewal: check on the renewed certificates would still find %d critical problem(s):", len(left))
	}
	return fmt.Sprintf("renewed, still critical: check on the renewed certificates still finds %d critical problem(s):", len(left))
}

// criticalJSON is a finding left on the renewed set, as -o json shows it.
type criticalJSON struct {
	Name     string         `json:"name"`
	Path     string         `json:"path"`
	Reason   facts.Reason   `json:"reason"`
	Severity facts.Severity `json:"severity"`
	Message  string         `json:"message"`
	Fix      []string       `json:"fix,omitempty"`
	FixNote  string         `json:"fixNote,omitempty"`
}

func criticalsJSON(left []rescue.Left) []criticalJSON {
	var out []criticalJSON
	for _, l := range left {
		flags, note := fixOf(l)
		out = append(out, criticalJSON{Name: l.Name, Path: l.Path, Reason: l.Reason, Severity: l.Severity, Message: l.Message, Fix: flags, FixNote: note})
	}
	return out
}

// rerun is cmd's command line as given (the flags set, args), less the flags
// named in drop, with extra appended: a hint the operator can paste, built by
// env.command (the program, --root and the audit flags, quoted for sh).
// Flags that may hold secrets are left out.
func rerun(cmd *cobra.Command, env *Env, args, drop []string, extra ...string) string {
	c := env.command(strings.Fields(cmd.CommandPath())[1:]...).args(args...)
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch {
		case globalHintFlag(f.Name) || slices.Contains(drop, f.Name) || secretFlag(f.Name):
		case f.Value.Type() == "bool":
			if f.Value.String() == "true" {
				c.args("--" + f.Name)
			} else {
				c.args("--" + f.Name + "=false")
			}
		default:
			vals := []string{f.Value.String()}
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				vals = sv.GetSlice()
			}
			for _, v := range vals {
				c.args("--"+f.Name, v)
			}
		}
	})
	return c.args(extra...).String()
}

func quoteAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = shellQuote(w)
	}
	return out
}

func shellJoin(words []string) string { return strings.Join(quoteAll(words), " ") }

// stillCritical is the error of a run that left critical findings: exit
// ExitStillCritical. err is the run's own error, if any.
func stillCritical(err error, left []rescue.Left, would bool) error {
	if len(left) == 0 {
		return err
	}
	if err == nil {
		what := "renewed"
		if would {
			what = "dry run: the renewal would leave it"
		}
		err = fmt.Errorf("%s: %w: %d critical finding(s) on the renewed certificates (the plan names the flags that fix them)", what, rescue.ErrStillCritical, len(left))
	}
	return &ExitError{Code: ExitStillCritical, Err: err}
}

// leftNames are the renew names of the credentials left critical, for a
// rerun that renews only them; args when one is not a renew name.
func leftNames(left []rescue.Left, roles []layout.Role, args []string) []string {
	var out []string
	for _, l := range left {
		if !slices.ContainsFunc(roles, func(r layout.Role) bool { return r.Name == l.Name && renewal.Renewable(r) }) {
			return args
		}
		if !slices.Contains(out, l.Name) {
			out = append(out, l.Name)
		}
	}
	return out
}
