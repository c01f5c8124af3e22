package testbed

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Supervisor stands in for systemd on a binary-install node: it reads the
// node's unit files (ROOT/etc/systemd/system/NAME and NAME.d/*.conf drop-ins,
// parsed by the product's own inventory.ParseUnit) and runs each unit's
// ExecStart, with the unit's Environment=, as systemd runs a Type=simple
// service with Restart=always (the units say Type=notify, as real ones do;
// the supervisor starts them as simple services, so a restart returns once
// the process has started and readiness is left to certrescue's gates, which
// is what the test is about). systemd itself cannot run here: it needs to be
// PID 1 of its own PID namespace with a writable cgroup hierarchy, and
// `systemd-run`/`systemctl` need a running systemd manager; this machine has
// neither, so a test that must show units being restarted runs them under
// this supervisor instead.
//
// The components see the node's files at their node paths: the unit names
// /etc/kubernetes/ssl/apiserver.pem, the kubeconfigs reference
// /etc/kubernetes/ssl/admin.pem, and the node root is a temporary directory.
// Rather than rewrite those paths (which would make the files the rescue
// reads differ from what a node has), the supervisor runs in a private mount
// namespace (`unshare --mount --propagation private`, inside the test's
// network namespace) where each Binds directory ROOT/DIR is bind-mounted
// over DIR. A DIR missing on the host (/etc/kubernetes, /var/lib/etcd) is
// created inside an overlay of its nearest existing parent whose upper layer
// is in the supervisor's own state directory, so the host's disk is never
// written. Nothing of this is visible outside the namespace, and it all goes
// away with the supervisor's processes.
//
// The test drives it like systemctl: RestartCommand(NAME) is a shell command
// (`RUN/supervisorctl restart NAME`) for certrescue's --restart-command.
// Every PID it starts is appended to RUN/all.pids and killed by the test's
// cleanup, also if the supervisor itself died; the children also get SIGKILL
// when the supervisor dies (Pdeathsig).
type Supervisor struct {
	Spec SupervisorSpec
	Run  string // state directory: control socket, logs, pid files, overlay layers
	PID  int    // the supervisor's PID (ip netns exec and unshare exec it)
	ctl  string
	cmd  *exec.Cmd
}

// SupervisorSpec says what a Supervisor runs.
type SupervisorSpec struct {
	Root  string   // node root; units are read from ROOT/etc/systemd/system
	Units []string // unit names in start order: "etcd.service", "kube-apiserver.service", ...
	// Binds are node directories the components see at their node paths
	// (ROOT/DIR bind-mounted over DIR), for example /etc/kubernetes,
	// /var/lib/etcd and /usr/local/bin.
	Binds []string
	// UnitRoot is where the units are read from (ROOT/etc/systemd/system),
	// when not Root: a kubeadm node's root has static pods, not units.
	UnitRoot string
	// Hostname, when set, gives the supervisor a UTS namespace of its own
	// with this hostname (a node of a multi-node testbed is its own host).
	Hostname string
	// FreshHome gives root a home of the node's own: an overlay over /root
	// (everything of the host's still readable, the testbed's cache among
	// it; what the node writes there stays the node's) whose ~/.bashrc is
	// empty, as on a fresh machine. A node reached over ssh needs it: bash
	// runs ~/.bashrc for every command sshd starts, and this machine's
	// (pyenv init, which rehashes under a lock file) makes each command of
	// an ansible run seconds long, and fifty at once queue on that lock.
	FreshHome bool
}

// supervisorWire is the spec as the supervisor process reads it.
type supervisorWire struct {
	SupervisorSpec
	HostMountNS string
	HostUTSNS   string
}

const (
	envSupervisor = "CERTRESCUE_TESTBED_SUPERVISOR"
	envCtl        = "CERTRESCUE_TESTBED_CTL"
	// UnitRestartSec is the RestartSec= of the units the testbed writes, and
	// what the supervisor waits before it starts a unit that exited on its
	// own (Restart=always).
	UnitRestartSec = 2
	// UnitTimeoutStopSec is the TimeoutStopSec= of the testbed's units and
	// how long the supervisor waits after SIGTERM before SIGKILL (the API
	// server's graceful shutdown takes longer than that here).
	UnitTimeoutStopSec = 10
	stopTimeout        = UnitTimeoutStopSec * time.Second
)

// Main runs the testbed's helper processes when the test binary is started
// as one (the supervisor, or its control client); otherwise it returns at
// once. Call it first thing in TestMain of a package that uses
// StartSupervisor:
//
//	func TestMain(m *testing.M) { testbed.Main(); os.Exit(m.Run()) }
func Main() {
	if run := os.Getenv(envSupervisor); run != "" {
		os.Exit(supervise(run))
	}
	if sock := os.Getenv(envCtl); sock != "" {
		var args []string
		for _, a := range os.Args[1:] {
			if !strings.HasPrefix(a, "-test.") {
				args = append(args, a)
			}
		}
		os.Exit(ctlMain(sock, args))
	}
}

// StartSupervisor starts the supervisor inside ns and waits until it has
// started every unit (started, not healthy: that is for the test to wait
// for). Every directory of spec.Binds must exist under the root. It is
// stopped, and every process it started killed by PID, when the test ends.
func StartSupervisor(t testing.TB, ns *NetNS, spec SupervisorSpec) *Supervisor {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) not found: %v", err)
	}
	for _, d := range spec.Binds {
		if fi, err := os.Stat(filepath.Join(spec.Root, d)); err != nil || !fi.IsDir() {
			t.Fatalf("testbed: bind %s: %s is not a directory under the root (%v)", d, filepath.Join(spec.Root, d), err)
		}
	}
	// A short path: a unix socket's path must fit in 108 bytes.
	run, err := os.MkdirTemp("", "crsup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	s := &Supervisor{Spec: spec, Run: run, ctl: filepath.Join(run, "supervisorctl")}
	ns0, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	uts0, err := os.Readlink("/proc/self/ns/uts")
	if err != nil {
		t.Fatal(err)
	}
	wire := supervisorWire{SupervisorSpec: spec, HostMountNS: ns0, HostUTSNS: uts0}
	data, _ := json.Marshal(wire)
	if err := os.WriteFile(filepath.Join(run, "spec.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\n# supervisorctl restart|stop|start|status|shutdown [UNIT]: the testbed's systemctl\nexec env %s=%s %s -test.run='^$' \"$@\"\n",
		envCtl, shellQuote(filepath.Join(run, "ctl.sock")), shellQuote(self))
	if err := os.WriteFile(s.ctl, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(run, "supervisor.log"))
	if err != nil {
		t.Fatal(err)
	}
	// -test.run=^$: a package that forgot testbed.Main in TestMain runs no
	// test in the child, and the wait below fails saying so.
	uargs := []string{"--mount", "--propagation", "private"}
	if spec.Hostname != "" {
		uargs = append(uargs, "--uts")
	}
	s.cmd = ns.Command(context.Background(), "unshare", append(uargs, self, "-test.run=^$")...)
	s.cmd.Env = append(os.Environ(), envSupervisor+"="+run)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("testbed: start the supervisor: %v", err)
	}
	s.PID = s.cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); log.Close(); close(exited) }() // stop reports how it ended
	t.Cleanup(func() { s.stop(t, exited) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(run, "ready")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != s.PID {
				t.Fatalf("testbed: the supervisor says it is pid %s, started as %d", b, s.PID)
			} else if err == nil {
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("testbed: the supervisor exited before starting its units (does TestMain call testbed.Main?):\n%s", tail(filepath.Join(run, "supervisor.log")))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("testbed: the supervisor did not start its units within 30s:\n%s", tail(filepath.Join(run, "supervisor.log")))
		}
	}
}

// RestartCommand is the shell command that restarts unit (or component)
// name, for --restart-command NAME=...: it returns once the new process has
// started, as `systemctl restart` does for a Type=simple service.
func (s *Supervisor) RestartCommand(name string) string {
	return shellQuote(s.ctl) + " restart " + name
}

// Ctl runs the control client (restart, stop, start, status, shutdown).
func (s *Supervisor) Ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return combined(exec.CommandContext(ctx, s.ctl, args...))
}

// Command runs name in the supervisor's network and mount namespaces, where
// the node's files are at their node paths (kubectl with admin.conf, whose
// client-certificate is /etc/kubernetes/ssl/admin.pem).
func (s *Supervisor) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	ns := []string{"--target", strconv.Itoa(s.PID), "--mount", "--net"}
	if s.Spec.Hostname != "" {
		ns = append(ns, "--uts")
	}
	cmd := exec.CommandContext(ctx, "nsenter", append(append(ns, "--", name), args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Exec is Command with a bound of a minute, returning the combined output.
func (s *Supervisor) Exec(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return combined(s.Command(ctx, name, args...))
}

// Log is the path of a unit's output (the journal's stand-in).
func (s *Supervisor) Log(unit string) string {
	return filepath.Join(s.Run, unitBase(unit)+".log")
}

func (s *Supervisor) stop(t testing.TB, exited chan struct{}) {
	if t.Failed() {
		t.Logf("--- supervisor log:\n%s", tail(filepath.Join(s.Run, "supervisor.log")))
		for _, u := range s.Spec.Units {
			t.Logf("--- last lines of %s:\n%s", u, tail(s.Log(u)))
		}
	}
	_, _ = s.Ctl("shutdown")
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill() // by PID, the one this test started
		<-exited
	}
	// The supervisor stops its children; if it died first they got SIGKILL
	// from Pdeathsig; this is the last word, by PID, for every one of them.
	data, _ := os.ReadFile(filepath.Join(s.Run, "all.pids"))
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func ctlMain(sock string, args []string) int {
	if len(args) == 0 || len(args) > 2 {
		fmt.Fprintln(os.Stderr, "usage: supervisorctl restart|stop|start|status|shutdown [UNIT]")
		return 2
	}
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "supervisorctl: %v\n", err)
		return 1
	}
	defer conn.Close()
	fmt.Fprintln(conn, strings.Join(args, " "))
	sc := bufio.NewScanner(conn)
	code := 1
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "ok"); ok {
			code = 0
			if rest = strings.TrimSpace(rest); rest != "" {
				fmt.Println(rest)
			}
			continue
		}
		fmt.Println(line)
	}
	return code
}

func unitBase(name string) string { return strings.TrimSuffix(name, ".service") }

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
