package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/pipe"
	"github.com/spf13/cobra"
)

// The field guide's step 3 is `cfssl gencert ... | cfssljson -bare apiserver`:
// cfssl prints JSON, cfssljson writes the files. certrescue gencert writes the
// files itself, so the same line with certrescue would write them twice, or
// hand cfssljson a summary it cannot read. When gencert (or ca init, or sign)
// sees its stdout read by a cfssljson, certrescue's or cfssl's, it does what
// cfssl does: prints the JSON and writes nothing, and cfssljson writes each
// file once. Anything else reading stdout (a terminal, tee, a log, Ansible)
// gets the files written and a summary without key material, as before.

// stdoutToCfssljson says whether this process's stdout is a pipe that a
// cfssljson reads. It looks the pipe's readers up in /proc; a reader still a
// shell (forked, not yet exec'd into the next command of the pipeline) is
// waited for, up to a second. Readers it cannot see count as "no".
func stdoutToCfssljson(env *Env) bool {
	f, ok := env.Stdout.(*os.File)
	if !ok {
		return false
	}
	self, _ := os.Executable()
	for wait := 0; ; wait++ {
		readers, err := pipe.Readers(f)
		if err != nil || len(readers) == 0 {
			return false
		}
		json, shells := 0, 0
		for _, p := range readers {
			switch {
			case isCfssljson(p, self):
				json++
			case isShell(p):
				shells++
			default:
				return false // tee, less, a logger: never print keys to it
			}
		}
		if json > 0 {
			return true
		}
		if wait == 50 {
			return false
		}
		_ = wall.Sleep(context.Background(), 20*time.Millisecond) // a real shell exec'ing into its next command
	}
}

// isCfssljson recognises cfssl's cfssljson (also as the field guide's kit
// names it, cfssljson_1.6.4_linux_amd64) and 'certrescue cfssljson'.
func isCfssljson(p pipe.Process, self string) bool {
	if strings.HasPrefix(p.Name(), "cfssljson") {
		return true
	}
	ours := strings.HasPrefix(p.Name(), "certrescue") || (self != "" && p.Exe == self)
	return ours && subcommand(p.Argv) == "cfssljson"
}

// subcommand is the first word of a certrescue command line that is neither
// a global flag nor a global flag's value.
func subcommand(argv []string) string {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case slices.Contains([]string{"--root", "-root", "--audit-dsn", "-audit-dsn", "--operator", "-operator"}, a):
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

func isShell(p pipe.Process) bool {
	switch p.Name() {
	case "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish", "csh", "tcsh":
		return true
	}
	return false
}

// pipeToCfssljson decides, for a command that can print cfssl's JSON, whether
// it prints it for a cfssljson reading stdout instead of writing files. It
// refuses, before anything is written, flags that ask for files (which would
// then be written by both) and more than one certificate (cfssljson writes
// one).
func (o *outputOptions) pipeToCfssljson(cmd *cobra.Command, env *Env, certs int) (bool, error) {
	if o.json || !o.pipeable || !stdoutToCfssljson(env) {
		return false, nil
	}
	var fileFlags []string
	for _, name := range []string{"bare", "out-dir", "layout", "force", "key-mode"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			fileFlags = append(fileFlags, "--"+name)
		}
	}
	if len(fileFlags) > 0 {
		return false, usagef("stdout is read by cfssljson, which writes the files, but %s asks %s to write them: drop %s, or drop '| cfssljson ...' and let %s write them",
			strings.Join(fileFlags, ", "), cmd.Name(), strings.Join(fileFlags, ", "), cmd.Name())
	}
	if certs > 1 {
		return false, usagef("stdout is read by cfssljson, which writes one certificate, but %d CSR files were given: run one per CSR file, or drop '| cfssljson ...' and let gencert write all %d (--out-dir DIR)", certs, certs)
	}
	fmt.Fprintf(env.Stderr, "%s: stdout is read by cfssljson: printing cfssl's JSON for it to write the files (as cfssl %s does); no files written here\n", cmd.CommandPath(), cmd.Name())
	return true, nil
}

// issuedSummary matches the line gencert, ca init and sign print after
// writing a certificate: "PATH: CN, serial HEX".
var issuedSummary = regexp.MustCompile(`^(\S+): .*, serial [0-9a-f]+`)

// errNotCfsslJSON explains input cfssljson cannot use that is what a
// certrescue command printed instead: its summary (it wrote the files
// itself), or nothing (it failed; its error is above).
func errNotCfsslJSON(env *Env, src, bare string, data []byte) error {
	first, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if strings.TrimSpace(string(data)) == "" {
		where := "stdin is empty: the command before '|' printed nothing (its error, if any, is above)"
		if src != "-" {
			where = src + " is empty"
		}
		return usageError(errors.New(where + "; cfssljson wrote nothing"))
	}
	m := issuedSummary.FindStringSubmatch(first)
	if m == nil {
		return nil
	}
	return usagef("%s is not cfssl's JSON but the summary certrescue prints after writing the files itself: %s is already written, with its key; cfssljson wrote nothing. "+
		"To have cfssljson write them, give the first command --json: certrescue gencert --json ... | %s",
		inputName(src), m[1], env.command("cfssljson", "-bare", bare))
}

func inputName(src string) string {
	if src == "-" {
		return "stdin"
	}
	return src
}
