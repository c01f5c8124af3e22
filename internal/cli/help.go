package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// annExitCodes is the cobra annotation holding a command's EXIT CODES text.
const annExitCodes = "exit-codes"

// Standard exit-code texts.
const (
	exitCodesSimple = `  0  success
  1  the operation failed or was refused (the message says why; nothing was changed)
  3  usage error: bad flag, argument or input file`
)

// withHelp sets a command's EXAMPLES and EXIT CODES sections.
func withHelp(c *cobra.Command, examples, exitCodes string) *cobra.Command {
	c.Example = strings.Trim(examples, "\n")
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annExitCodes] = strings.Trim(exitCodes, "\n")
	return c
}

const usageTemplate = `USAGE
  {{.UseLine}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} COMMAND{{end}}{{if gt (len .Aliases) 0}}

ALIASES
  {{.NameAndAliases}}{{end}}{{if .HasAvailableSubCommands}}

COMMANDS{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

FLAGS
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

GLOBAL FLAGS
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasExample}}

EXAMPLES
{{.Example}}{{end}}{{with index .Annotations "exit-codes"}}

EXIT CODES
{{.}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} COMMAND --help" for more about a command.{{end}}
`
