package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/certrescue/certrescue/internal/audit"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// CertEvent is what a state-changing command reports for the audit log: one
// certificate (or file) created, renewed, deployed, backed up, ... Never key
// material.
type CertEvent struct {
	Action   facts.Action
	Name     string            // certificate name: "apiserver", "ca", the -bare NAME
	Path     string            // file written or changed
	Cert     *x509.Certificate // the certificate now in place, if any
	Previous *x509.Certificate // the certificate it replaced, on a renewal
	Err      error             // nil on success

	// Used when there is no Cert (revoke --serial, a CRL, a mode change).
	Serial string // hex serial
	Issuer string // issuer DN
	Detail string // what else an auditor needs: a reason, old and new mode
}

// annAudited marks a command as state-changing: it must be able to write its
// audit events before it changes anything.
const annAudited = "audited"

func audited(c *cobra.Command) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annAudited] = "true"
	return c
}

// annAuditWhenFlag names a bool flag that, when set, lets the command open
// its store only once it knows it will change something (auditor().require):
// `renew --auto` with nothing due changes nothing, and a central audit
// database that is down must not fail the daily no-op of every node. An
// unfinished transaction to recover still needs the store first.
const annAuditWhenFlag = "audit-when-flag"

// auditedLater is audited, with the store opened by the command itself
// (require) before its first change whenever flag is set.
func auditedLater(c *cobra.Command, flag string) *cobra.Command {
	audited(c).Annotations[annAuditWhenFlag] = flag
	return c
}

// DefaultAuditDB is the node path of the SQLite audit store.
const DefaultAuditDB = "/var/lib/certrescue/audit.db"

// auditRecorder is one command tree's audit settings (global flags) and open
// store. The command environment owns it: NewRootCommand creates it with the
// root command (Env.audit) and run closes it after the command.
type auditRecorder struct {
	dsn      string // --audit-dsn
	optional bool   // --audit-optional
	operator string // --operator

	mu      sync.Mutex
	store   *audit.Store
	openErr error    // the store could not be opened (not retried under --audit-optional)
	args    []string // the audited command's arguments, for the event's command field
	warned  bool     // an --audit-optional warning was printed
}

// Time limits for reaching the store: a central database that does not answer
// must not hang a rescue.
const (
	auditOpenTimeout   = 30 * time.Second
	auditAppendTimeout = 90 * time.Second
)

// auditor returns the environment's audit recorder: the root command's, or,
// for an Env that never built one (a test calling a command's code directly),
// a recorder with the defaults.
func (e *Env) auditor() *auditRecorder {
	if e.audit == nil {
		e.audit = &auditRecorder{}
	}
	return e.audit
}

func init() {
	rootHooks = append(rootHooks, installAudit)
}

// installAudit adds the audit flags to the root and makes every audited command
// check its store before it runs.
func installAudit(root *cobra.Command, env *Env) {
	st := &auditRecorder{}
	env.audit = st
	pf := root.PersistentFlags()
	pf.StringVar(&st.dsn, "audit-dsn", "", "audit store: a SQLite file (default "+DefaultAuditDB+" under --root), mysql://USER:PASS@HOST:PORT/DB or postgres://USER:PASS@HOST:PORT/DB (env CERTRESCUE_AUDIT_DSN)")
	pf.BoolVar(&st.optional, "audit-optional", false, "go ahead when the audit store cannot be written (a warning instead of a refusal)")
	pf.StringVar(&st.operator, "operator", "", "who is making the change, for the audit log (env CERTRESCUE_OPERATOR; default the OS user)")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Annotations[annAudited] == "true" {
			wrapAudited(c, env, st)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// wrapAudited makes c probe the audit store before it runs (and refuse when it
// cannot be written) and close it after.
func wrapAudited(c *cobra.Command, env *Env, st *auditRecorder) {
	pre, preE, run, runE := c.PreRun, c.PreRunE, c.Run, c.RunE
	c.PreRun = nil
	c.PreRunE = func(cmd *cobra.Command, args []string) error {
		if later(cmd) && len(env.pendingTxns(env.FS(), TxnDir)) == 0 {
			if err := st.deferOpen(env, args); err != nil {
				return err
			}
		} else if err := st.preflight(cmd, env, args); err != nil {
			return err
		}
		if dryRun(cmd) {
			for _, p := range env.pendingTxns(env.FS(), TxnDir) {
				env.warnf("%s", p)
			}
		} else if err := env.recoverTxns(cmd, env.FS(), TxnDir); err != nil {
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%w\nnothing else was changed", err)}
		}
		if preE != nil {
			return preE(cmd, args)
		}
		if pre != nil {
			pre(cmd, args)
		}
		return nil
	}
	if runE != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			defer st.close()
			return runE(cmd, args)
		}
	} else if run != nil {
		c.Run = func(cmd *cobra.Command, args []string) {
			defer st.close()
			run(cmd, args)
		}
	}
}

// later says whether cmd opens its store itself, when it knows it will
// change something (auditedLater).
func later(cmd *cobra.Command) bool {
	name := cmd.Annotations[annAuditWhenFlag]
	if name == "" {
		return false
	}
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Value.String() == "true"
}

// dryRun says whether cmd was asked to change nothing.
func dryRun(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("dry-run")
	return f != nil && f.Value.String() == "true"
}

func getenv(env *Env, key string) string {
	if env.Getenv == nil {
		return ""
	}
	return env.Getenv(key)
}

// auditDSN is where the store is: --audit-dsn, CERTRESCUE_AUDIT_DSN, or the
// SQLite file under --root.
func (st *auditRecorder) auditDSN(env *Env) string {
	if st.dsn != "" {
		return st.dsn
	}
	if v := getenv(env, "CERTRESCUE_AUDIT_DSN"); v != "" {
		return v
	}
	return env.NodePath(DefaultAuditDB)
}

// preflight opens and probes the store before an audited command changes
// anything. A dry run changes nothing and needs no store.
func (st *auditRecorder) preflight(cmd *cobra.Command, env *Env, args []string) error {
	st.mu.Lock()
	st.args = args
	st.mu.Unlock()
	if _, err := audit.ParseDSN(st.auditDSN(env)); err != nil {
		return usagef("--audit-dsn: %w", err)
	}
	if dryRun(cmd) {
		return nil
	}
	_, err := st.open(cmd.Context(), env, true)
	if err == nil {
		return nil
	}
	if st.optional {
		st.warnOnce(env, err)
		return nil
	}
	return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%w\nnothing was changed: an unaudited change breaks compliance. Fix the audit store (or --audit-dsn), or pass --audit-optional to go ahead without it", err)}
}

// defer_ checks the DSN now and leaves opening the store to require.
func (st *auditRecorder) deferOpen(env *Env, args []string) error {
	st.mu.Lock()
	st.args = args
	st.mu.Unlock()
	if _, err := audit.ParseDSN(st.auditDSN(env)); err != nil {
		return usagef("--audit-dsn: %w", err)
	}
	return nil
}

// require is preflight for a command that deferred it (auditedLater): it
// opens and probes the store before the first change, and refuses as
// preflight does.
func (st *auditRecorder) require(cmd *cobra.Command, env *Env) error {
	st.mu.Lock()
	args := st.args
	st.mu.Unlock()
	return st.preflight(cmd, env, args)
}

func (st *auditRecorder) warnOnce(env *Env, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.warned {
		env.warnf("%v; going ahead WITHOUT an audit trail (--audit-optional)", err)
		st.warned = true
	}
}

// open returns the open store, opening (and with probe, probing) it first.
func (st *auditRecorder) open(ctx context.Context, env *Env, probe bool) (*audit.Store, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.store != nil {
		return st.store, nil
	}
	if st.openErr != nil && st.optional {
		return nil, st.openErr
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, auditOpenTimeout)
	defer cancel()
	s, err := audit.Open(ctx, st.auditDSN(env))
	if err == nil && probe {
		if err = s.Probe(ctx); err != nil {
			s.Close()
		}
	}
	if err != nil {
		st.openErr = err
		return nil, err
	}
	st.store = s
	return s, nil
}

func (st *auditRecorder) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.store != nil {
		st.store.Close()
		st.store = nil
	}
}

// record appends an audit event for a state-changing command. It returns once
// the event is durable; an error means the change is not on record (with
// --audit-optional: a warning, and nil). A dry run records nothing.
func (e *Env) record(cmd *cobra.Command, ev CertEvent) error {
	return e.recordAll(cmd, []CertEvent{ev})
}

// recordAll appends several events in one durable commit (all or none).
func (e *Env) recordAll(cmd *cobra.Command, evs []CertEvent) error {
	if len(evs) == 0 || (cmd != nil && dryRun(cmd)) {
		return nil
	}
	st := e.auditor()
	ctx := context.Background()
	if cmd != nil && cmd.Context() != nil {
		ctx = cmd.Context()
	}
	s, err := st.open(ctx, e, false)
	if err == nil {
		events := make([]audit.Event, len(evs))
		for i, ev := range evs {
			events[i] = st.event(e, cmd, ev)
		}
		actx, cancel := context.WithTimeout(ctx, auditAppendTimeout)
		_, err = s.AppendAll(actx, events)
		cancel()
		if cmd == nil || cmd.Annotations[annAudited] != "true" {
			st.close() // no wrapper closes it after the command
		}
	}
	if err == nil {
		return nil
	}
	if st.optional {
		st.warnOnce(e, err)
		return nil
	}
	what := describeEvent(evs[0])
	if len(evs) > 1 {
		what = fmt.Sprintf("%s and %d more", what, len(evs)-1)
	}
	return fmt.Errorf("audit: the %s of %s is NOT on record: %w", evs[0].Action, what, err)
}

func describeEvent(ev CertEvent) string {
	switch {
	case ev.Name != "":
		return ev.Name
	case ev.Path != "":
		return ev.Path
	}
	return "this change"
}

// event turns a command's CertEvent into an audit event: time from the clock,
// who and where from the flags and the OS, certificate facts from the
// certificate. Never key material.
func (st *auditRecorder) event(env *Env, cmd *cobra.Command, ev CertEvent) audit.Event {
	out := audit.Event{
		Time:     env.Clock.Now(),
		Action:   ev.Action,
		CertName: ev.Name,
		CertPath: ev.Path,
		Serial:   ev.Serial,
		Issuer:   ev.Issuer,
		Detail:   ev.Detail,
	}
	if out.CertPath != "" && out.CertPath != "-" && !filepath.IsAbs(out.CertPath) {
		if abs, err := filepath.Abs(out.CertPath); err == nil {
			out.CertPath = abs
		}
	}
	out.Operator, out.OSUser = st.who(env)
	out.Host, _ = os.Hostname()
	if c := ev.Cert; c != nil {
		f := facts.Describe(c)
		if out.CertName == "" {
			out.CertName = f.CommonName
		}
		out.Serial, out.Fingerprint, out.Issuer = f.Serial, f.FingerprintSHA256, f.Issuer
		out.NotBefore, out.NotAfter = f.NotBefore, f.NotAfter
	}
	if ev.Previous != nil {
		out.PrevFingerprint = facts.Fingerprint(ev.Previous)
	}
	if ev.Err != nil {
		out.Result, out.Error = audit.ResultFailure, ev.Err.Error()
	}
	if cmd != nil {
		out.Command = st.commandLine(env, cmd)
	}
	return out
}

// commandLine rebuilds the command as typed: path, flags set (as --name=value,
// never the values of flags that may hold secrets) and arguments.
func (st *auditRecorder) commandLine(env *Env, cmd *cobra.Command) string {
	words := []string{cmd.CommandPath()}
	if env.Root != "" && env.Root != "/" {
		words = []string{"certrescue", "--root", env.Root, strings.TrimPrefix(cmd.CommandPath(), "certrescue ")}
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch {
		case f.Name == "root":
		case secretFlag(f.Name):
			words = append(words, "--"+f.Name+"=xxxxx")
		default:
			words = append(words, "--"+f.Name+"="+f.Value.String())
		}
	})
	st.mu.Lock()
	words = append(words, st.args...)
	st.mu.Unlock()
	return strings.Join(words, " ")
}

// secretFlag names flags whose values are not recorded.
func secretFlag(name string) bool {
	for _, s := range []string{"dsn", "password", "passwd", "token", "secret"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// who returns the operator (--operator, CERTRESCUE_OPERATOR, the user sudo was
// run by, the OS user) and the OS user (with the sudo user when there is one).
func (st *auditRecorder) who(env *Env) (operator, osUser string) {
	osUser = "unknown"
	if u, err := user.Current(); err == nil {
		osUser = u.Username
	} else {
		osUser = fmt.Sprintf("uid %d", os.Getuid())
	}
	sudo := getenv(env, "SUDO_USER")
	if sudo != "" && sudo != osUser {
		osUser += " (sudo from " + sudo + ")"
	}
	switch {
	case st.operator != "":
		operator = st.operator
	case getenv(env, "CERTRESCUE_OPERATOR") != "":
		operator = getenv(env, "CERTRESCUE_OPERATOR")
	case sudo != "":
		operator = sudo
	default:
		operator = strings.SplitN(osUser, " ", 2)[0]
	}
	return operator, osUser
}
