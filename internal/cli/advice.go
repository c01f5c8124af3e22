package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/certrescue/certrescue/internal/audit"
	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/revocation"
	"github.com/spf13/cobra"
)

// advice is what the command layer adds to a library error so the operator
// knows which flag to reach for. The library's errors are sentinels and types
// that name files and fields, never flags; only the command that ran knows
// which of its flags would help, so a flag is named only when cmd has it.
func advice(env *Env, cmd *cobra.Command, err error) string {
	var b strings.Builder
	if errors.Is(err, audit.ErrBadEvent) {
		b.WriteString("\nverify the whole store with: " + env.command("audit", "verify").String())
	}
	if errors.Is(err, nodefs.ErrExists) {
		b.WriteString(" (use --force to overwrite)")
	}
	if errors.Is(err, nodefs.ErrRoot) {
		b.WriteString("\ncheck --root: the directory where the node's filesystem is mounted")
	}
	var ve *pki.ValidityError
	if errors.As(err, &ve) {
		renewCA := env.command("ca", "renew", "all").String()
		switch {
		case hasFlag(cmd, "allow-expired-ca") && ve.NotYetValid():
			b.WriteString(", or pass --allow-expired-ca")
		case hasFlag(cmd, "allow-expired-ca"):
			b.WriteString(". Renew the CA on its own key (every leaf it signed keeps verifying): " + renewCA +
				"; or pass --allow-expired-ca to sign anyway (for example to rebuild leaves before a new CA is trusted)")
		case !ve.NotYetValid():
			b.WriteString(". Renew the CA on its own key (every leaf it signed keeps verifying): " + renewCA +
				", or " + env.command("rescue").String() + ", which renews an expired CA first, then the leaves")
		}
	}
	var ke *renewal.KeyError
	if errors.As(err, &ke) && hasFlag(cmd, "rotate-keys") {
		if ke.Err != nil {
			b.WriteString("; pass --rotate-keys to replace the key")
		} else {
			b.WriteString("; pass --rotate-keys to issue a new key")
		}
	}
	if errors.Is(err, backup.ErrTooLarge) && hasFlag(cmd, "path") {
		b.WriteString("; narrow --path")
	}
	if errors.Is(err, backup.ErrDiskFull) && hasFlag(cmd, "backup-dir") {
		b.WriteString(" or choose another --backup-dir")
	}
	if errors.Is(err, revocation.ErrOtherCA) && hasFlag(cmd, "revocations") {
		b.WriteString("; pass --revocations for this CA's file")
	}
	if hasFlag(cmd, "gate") {
		for _, ge := range allAs[*rescue.GateError](err) {
			fmt.Fprintf(&b, "\n%s: fix the file, or pass --gate %s=URL or --gate %s=off", ge.Gate, ge.Component, ge.Component)
		}
		if errors.Is(err, rescue.ErrUnverified) {
			b.WriteString(" (or name their health URLs with --gate NAME=URL)")
		}
	}
	return b.String()
}

// hasFlag says whether cmd takes the flag name (its own or inherited).
func hasFlag(cmd *cobra.Command, name string) bool {
	return cmd != nil && cmd.Flag(name) != nil
}

// allAs returns every error of type T in err's tree (errors.As stops at the
// first; a preflight joins one error per component).
func allAs[T error](err error) []T {
	var out []T
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if t, ok := e.(T); ok { //nolint:errorlint // this is the tree walk errors.As would stop short of
			out = append(out, t)
			return
		}
		switch u := e.(type) { //nolint:errorlint // unwrapping by hand, one level at a time
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}
