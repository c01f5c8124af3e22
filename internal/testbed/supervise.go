package testbed

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/nodefs"
)

// This file is the supervisor process itself (see Supervisor): it runs in
// the test's network namespace and its own private mount namespace.

// unitProc is one unit and its current process.
type unitProc struct {
	name string
	argv []string
	env  []string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has exited
	stopping bool          // the supervisor stopped it: do not restart it
	starts   int
}

type supervisor struct {
	spec  supervisorWire
	run   string
	log   *os.File
	units []*unitProc
	down  chan struct{}
	once  sync.Once
}

func supervise(run string) int {
	s := &supervisor{run: run, down: make(chan struct{})}
	s.log = os.Stderr
	data, err := os.ReadFile(filepath.Join(run, "spec.json"))
	if err == nil {
		err = json.Unmarshal(data, &s.spec)
	}
	if err == nil && s.spec.Hostname != "" {
		err = s.hostname()
	}
	if err == nil {
		err = s.mounts()
	}
	if err == nil {
		err = s.loadUnits()
	}
	if err != nil {
		s.logf("supervisor: %v", err)
		return 1
	}
	l, err := net.Listen("unix", filepath.Join(run, "ctl.sock"))
	if err != nil {
		s.logf("supervisor: %v", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; s.shutdown() }()
	for _, u := range s.units {
		if err := s.start(u); err != nil {
			s.logf("supervisor: %v", err)
			s.shutdown()
			return 1
		}
	}
	// Written beside and renamed: the test polls for the file and must never
	// read it half-written.
	err = os.WriteFile(filepath.Join(run, "ready.tmp"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	if err == nil {
		err = os.Rename(filepath.Join(run, "ready.tmp"), filepath.Join(run, "ready"))
	}
	if err != nil {
		s.logf("supervisor: %v", err)
		s.shutdown()
		return 1
	}
	go s.serve(l)
	<-s.down
	l.Close()
	return 0
}

func (s *supervisor) logf(format string, a ...any) {
	fmt.Fprintf(s.log, time.Now().Format("15:04:05.000 ")+format+"\n", a...)
}

// mounts makes every Binds directory show the node root's copy. It refuses
// to run in the test's own mount namespace: these mounts must not outlive
// the supervisor, nor touch the host.
func (s *supervisor) mounts() error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("mount namespace: %w", err)
	}
	if self == s.spec.HostMountNS {
		return errors.New("refusing to mount: still in the test's mount namespace (start it with unshare --mount --propagation private)")
	}
	if s.spec.FreshHome {
		up, work := filepath.Join(s.run, "home", "up"), filepath.Join(s.run, "home", "work")
		if err := errors.Join(os.MkdirAll(up, 0o700), os.MkdirAll(work, 0o700), os.WriteFile(filepath.Join(up, ".bashrc"), nil, 0o644)); err != nil {
			return err
		}
		if err := syscall.Mount("overlay", "/root", "overlay", 0, "lowerdir=/root,upperdir="+up+",workdir="+work); err != nil {
			return fmt.Errorf("overlay on /root: %w", err)
		}
		s.logf("root's home: an overlay on /root with an empty .bashrc")
	}
	overlaid := map[string]bool{}
	for i, dir := range s.spec.Binds {
		if !path.IsAbs(dir) || path.Clean(dir) != dir || dir == "/" {
			return fmt.Errorf("bind %q: want a clean absolute directory other than /", dir)
		}
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			parent := path.Dir(dir)
			for {
				if _, err := os.Stat(parent); err == nil {
					break
				}
				parent = path.Dir(parent)
			}
			if !overlaid[parent] {
				up, work := filepath.Join(s.run, "overlay", strconv.Itoa(i), "up"), filepath.Join(s.run, "overlay", strconv.Itoa(i), "work")
				if err := errors.Join(os.MkdirAll(up, 0o755), os.MkdirAll(work, 0o755)); err != nil {
					return err
				}
				opts := "lowerdir=" + parent + ",upperdir=" + up + ",workdir=" + work
				if err := syscall.Mount("overlay", parent, "overlay", 0, opts); err != nil {
					return fmt.Errorf("overlay on %s: %w", parent, err)
				}
				overlaid[parent] = true
			}
			if err := os.MkdirAll(dir, 0o755); err != nil { // in the overlay's upper layer
				return err
			}
		}
		src := filepath.Join(s.spec.Root, dir)
		if err := syscall.Mount(src, dir, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src, dir, err)
		}
		s.logf("mounted %s on %s", src, dir)
	}
	return nil
}

// hostname sets the spec's hostname, refusing to in the test's own UTS
// namespace (that would rename the host).
func (s *supervisor) hostname() error {
	self, err := os.Readlink("/proc/self/ns/uts")
	if err != nil {
		return fmt.Errorf("uts namespace: %w", err)
	}
	if self == s.spec.HostUTSNS {
		return errors.New("refusing to set the hostname: still in the test's UTS namespace (start it with unshare --uts)")
	}
	return syscall.Sethostname([]byte(s.spec.Hostname))
}

// loadUnits parses each unit with its drop-ins, as systemd merges them.
func (s *supervisor) loadUnits() error {
	unitRoot := s.spec.Root
	if s.spec.UnitRoot != "" {
		unitRoot = s.spec.UnitRoot
	}
	node := nodefs.New(unitRoot) // the node's view: drop-in symlinks resolve inside the root
	for _, name := range s.spec.Units {
		base := "/etc/systemd/system/" + name
		files := []string{base}
		dropins := node.Glob(base + ".d/*.conf")
		sort.Strings(dropins)
		files = append(files, dropins...)
		var u *inventory.Unit
		for _, f := range files {
			rf, err := node.ReadFile(f, inventory.MaxManifestSize)
			if err != nil {
				return fmt.Errorf("unit %s: %w", f, err)
			}
			if u, err = inventory.ParseUnit(rf.Data, u); err != nil {
				return fmt.Errorf("unit %s: %w", f, err)
			}
		}
		if len(u.ExecStart) != 1 {
			return fmt.Errorf("unit %s: %d ExecStart= lines, a Type=simple service has one", name, len(u.ExecStart))
		}
		argv := slices.Clone(u.ExecStart[0])
		argv[0] = strings.TrimLeft(argv[0], "@-+!:")
		// systemd gives a service a clean environment plus its Environment=.
		env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		keys := make([]string, 0, len(u.Env))
		for k := range u.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = append(env, k+"="+u.Env[k])
		}
		s.units = append(s.units, &unitProc{name: unitBase(name), argv: argv, env: env})
		s.logf("unit %s: %s", name, strings.Join(argv, " "))
	}
	return nil
}

func (s *supervisor) unit(name string) *unitProc {
	for _, u := range s.units {
		if u.name == unitBase(name) {
			return u
		}
	}
	return nil
}

// start starts u's process and a watcher that restarts it when it exits on
// its own, after UnitRestartSec.
func (s *supervisor) start(u *unitProc) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cmd != nil {
		return fmt.Errorf("%s is already running (pid %d)", u.name, u.cmd.Process.Pid)
	}
	out, err := os.OpenFile(filepath.Join(s.run, u.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(u.argv[0], u.argv[1:]...)
	cmd.Env, cmd.Dir = u.env, "/"
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", u.name, err)
	}
	pids, err := os.OpenFile(filepath.Join(s.run, "all.pids"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		fmt.Fprintln(pids, cmd.Process.Pid)
		pids.Close()
	}
	u.cmd, u.exited, u.stopping = cmd, make(chan struct{}), false
	u.starts++
	s.logf("started %s pid %d", u.name, cmd.Process.Pid)
	go func(cmd *exec.Cmd, exited chan struct{}) {
		err := cmd.Wait()
		out.Close()
		u.mu.Lock()
		stopping := u.stopping
		if u.cmd == cmd {
			u.cmd = nil
		}
		u.mu.Unlock()
		close(exited)
		if stopping {
			return
		}
		s.logf("%s pid %d exited (%v); Restart=always: starting it again in %ds", u.name, cmd.Process.Pid, err, UnitRestartSec)
		select {
		case <-s.down:
			return
		case <-time.After(UnitRestartSec * time.Second):
		}
		u.mu.Lock()
		again := u.cmd == nil && !u.stopping
		u.mu.Unlock()
		if again {
			if err := s.start(u); err != nil {
				s.logf("%v", err)
			}
		}
	}(cmd, u.exited)
	return nil
}

// stop sends SIGTERM, then SIGKILL after stopTimeout, and waits.
func (s *supervisor) stop(u *unitProc) {
	u.mu.Lock()
	u.stopping = true
	cmd, exited := u.cmd, u.exited
	u.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		s.logf("%s pid %d did not stop within %s: SIGKILL", u.name, cmd.Process.Pid, stopTimeout)
		_ = cmd.Process.Kill()
		<-exited
	}
	s.logf("stopped %s pid %d", u.name, cmd.Process.Pid)
}

func (s *supervisor) shutdown() {
	s.once.Do(func() {
		for i := len(s.units) - 1; i >= 0; i-- {
			s.stop(s.units[i])
		}
		close(s.down)
	})
}

func (s *supervisor) serve(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go s.handle(conn)
	}
}

func (s *supervisor) handle(conn net.Conn) {
	defer conn.Close()
	line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return
	}
	reply := func(format string, a ...any) { fmt.Fprintf(conn, format+"\n", a...) }
	if f[0] == "status" {
		for _, u := range s.units {
			u.mu.Lock()
			if u.cmd != nil {
				reply("%s active pid %d starts %d", u.name, u.cmd.Process.Pid, u.starts)
			} else {
				reply("%s inactive starts %d", u.name, u.starts)
			}
			u.mu.Unlock()
		}
		reply("ok")
		return
	}
	if f[0] == "shutdown" {
		s.logf("shutdown requested")
		s.shutdown()
		reply("ok")
		return
	}
	if len(f) != 2 {
		reply("error: want restart|stop|start UNIT")
		return
	}
	u := s.unit(f[1])
	if u == nil {
		reply("error: no unit %s", f[1])
		return
	}
	s.logf("%s %s requested", f[0], u.name)
	switch f[0] {
	case "restart", "start":
		if f[0] == "restart" {
			s.stop(u)
		}
		if err := s.start(u); err != nil {
			reply("error: %v", err)
			return
		}
		u.mu.Lock()
		pid := 0
		if u.cmd != nil {
			pid = u.cmd.Process.Pid
		}
		u.mu.Unlock()
		reply("ok %s started, pid %d", u.name, pid)
	case "stop":
		s.stop(u)
		reply("ok %s stopped", u.name)
	default:
		reply("error: unknown command %q", f[0])
	}
}
