package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time: -ldflags "-X github.com/certrescue/certrescue/internal/cli.Version=v1.2.3".
var Version = ""

// version reports the ldflags version, else the module version from the build
// info, else "devel".
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func init() {
	register(1000, func(env *Env) *cobra.Command {
		return withHelp(&cobra.Command{
			Use:   "version",
			Short: "Print certrescue's version",
			Args:  exactArgs(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprintf(env.Stdout, "certrescue %s (%s, %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			},
		}, "  certrescue version", "  0  always")
	})
}

func newCompletionCmd(root *cobra.Command) *cobra.Command {
	return withHelp(&cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "Print a shell completion script",
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      exactArgs(1, "one shell name: bash, zsh, fish or powershell"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return usagef("unknown shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}, `  certrescue completion bash > /etc/bash_completion.d/certrescue
  source <(certrescue completion zsh)`, `  0  the script was printed
  3  unknown shell`)
}
