package restart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Restarter restarts one component.
type Restarter interface {
	// Restart restarts the component and returns once the restart was issued
	// (health gates, not the restarter, decide when it is back).
	Restart(ctx context.Context, component string) error
	// Describe says what Restart would do, for plans and dry runs.
	Describe(component string) string
}

// Validator is a Restarter that can tell before anything changes whether it
// knows how to restart every component (the command strategy needs one
// command each).
type Validator interface {
	Validate(components []string) error
}

// ErrManual is returned by the none strategy: the operator must restart.
var ErrManual = errors.New("restart it yourself (--restart none)")

// Strategy names, as --restart takes them.
const (
	StaticPod = "static-pod"
	Systemd   = "systemd"
	Command   = "command"
	None      = "none"
)

// Strategies lists the --restart values.
var Strategies = []string{Auto, StaticPod, Systemd, Command, None}

// Exec runs a program and returns its combined output. The real one is
// exec.CommandContext; tests record calls.
type Exec func(ctx context.Context, name string, args ...string) ([]byte, error)

// RealExec runs programs for real, with stdin closed.
func RealExec(ctx context.Context, name string, args ...string) ([]byte, error) {
	return realExecEnv(ctx, nil, name, args...)
}

// realExecEnv is RealExec with env (nil: this process's).
func realExecEnv(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// runErr wraps a failed command with what it printed (trimmed).
func runErr(what string, out []byte, err error) error {
	msg := strings.TrimSpace(string(out))
	if len(msg) > 500 {
		msg = msg[len(msg)-500:]
	}
	if msg == "" {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %s", what, err, msg)
}

// NoneRestarter restarts nothing.
type NoneRestarter struct{}

// Restart returns ErrManual.
func (NoneRestarter) Restart(context.Context, string) error { return ErrManual }

// Describe says the operator must restart.
func (NoneRestarter) Describe(c string) string { return "restart " + c + " yourself" }

// CommandRestarter runs a shell command per component.
type CommandRestarter struct {
	Commands map[string]string // component -> shell command
	Exec     Exec
	Shell    string // default /bin/sh
}

// Restart runs the component's command with sh -c.
func (r CommandRestarter) Restart(ctx context.Context, c string) error {
	cmd, ok := r.Commands[c]
	if !ok {
		return fmt.Errorf("no restart command for %s: add --restart-command %s=COMMAND", c, c)
	}
	sh := r.Shell
	if sh == "" {
		sh = "/bin/sh"
	}
	run := r.Exec
	if run == nil {
		run = RealExec
	}
	if out, err := run(ctx, sh, "-c", cmd); err != nil {
		return runErr(fmt.Sprintf("restart %s: %s", c, cmd), out, err)
	}
	return nil
}

// Validate refuses components without a command.
func (r CommandRestarter) Validate(components []string) error {
	var missing []string
	for _, c := range components {
		if _, ok := r.Commands[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--restart command: no restart command for %s: add --restart-command NAME=COMMAND for each (nothing was changed)", strings.Join(missing, ", "))
	}
	return nil
}

// Describe shows the command.
func (r CommandRestarter) Describe(c string) string {
	if cmd, ok := r.Commands[c]; ok {
		return "sh -c " + quote(cmd)
	}
	return "no command given for " + c
}

// ParseCommands reads repeated NAME=CMD values.
func ParseCommands(specs []string, known []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		name, cmd, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.TrimSpace(cmd) == "" {
			return nil, fmt.Errorf("--restart-command %q: want COMPONENT=COMMAND, for example kube-apiserver='systemctl restart kube-apiserver'", s)
		}
		if len(known) > 0 && !contains(known, name) {
			k := append([]string(nil), known...)
			sort.Strings(k)
			return nil, fmt.Errorf("--restart-command %q: unknown component %q (known: %s)", s, name, strings.Join(k, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--restart-command: %s given twice", name)
		}
		out[name] = cmd
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
