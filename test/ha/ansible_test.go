package ha

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/audit/audittest"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testbed/ha"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// buildKit runs scripts/kit.sh (linux/amd64 only) and unpacks the kit: the
// collection runs from the kit, as an operator carries it in.
func buildKit(t *testing.T) (tarball, dir string) {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(repoRoot(), "scripts", "kit.sh"), "ha-test")
	cmd.Env = append(os.Environ(), "KIT_ARCHS=amd64", "KIT_OUT="+out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/kit.sh: %v\n%s", err, b)
	}
	tarball = strings.TrimSpace(string(b[strings.LastIndexByte(strings.TrimSpace(string(b)), '\n')+1:]))
	unpack := t.TempDir()
	if b, err := exec.Command("tar", "-C", unpack, "-xzf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	return tarball, filepath.Join(unpack, "certrescue-kit-ha-test")
}

// run is one ansible-playbook run of the collection.
type run struct {
	kitDir, inventory, home string
	c                       *ha.Cluster
}

// inventory writes the testbed's inventory; extra are more variables per
// host (name -> vars).
func (r *run) writeInventory(t *testing.T, tarball, dsn string, extra map[string]map[string]any) {
	t.Helper()
	hosts := map[string]any{}
	var endpoints []string
	endpoints = append(endpoints, "https://127.0.0.1:2379")
	for _, n := range r.c.Nodes {
		endpoints = append(endpoints, "https://"+n.Addr+":2379")
	}
	for _, n := range r.c.Nodes {
		cmds := map[string]string{}
		for _, comp := range ha.Components {
			cmds[comp] = n.RestartCommand(comp)
		}
		vars := map[string]any{"ansible_host": n.Addr, "certrescue_restart_commands": cmds}
		for k, v := range extra[n.Name] {
			vars[k] = v
		}
		hosts[n.Name] = vars
	}
	all := map[string]any{
		"ansible_user":                 "root",
		"ansible_python_interpreter":   "/usr/bin/python3",
		"ansible_ssh_private_key_file": r.c.SSH.Key,
		"ansible_ssh_common_args":      "-o UserKnownHostsFile=" + r.c.SSH.KnownHosts + " -o StrictHostKeyChecking=yes -o ConnectTimeout=20",
		// Ansible's temporary files on a node go to the node's own disk.
		"ansible_remote_tmp":        "/var/lib/certrescue/ansible-tmp",
		"certrescue_kit":            tarball,
		"certrescue_controller_dir": filepath.Join(r.home, "controller"),
		"certrescue_restart":        "command",
		"certrescue_gate_timeout":   "180s",
		"certrescue_lb":             r.c.VIPURL(),
		"certrescue_etcd_endpoints": endpoints,
		"certrescue_operator":       "ha-test",
		// A node rolled is out of haproxy meanwhile (its admin socket is a
		// path: the controller reaches it from its namespace).
		"certrescue_lb_drain_command":   `echo "set server kube-apiservers/{{ inventory_hostname }} state drain" | socat stdio ` + r.c.HAProxySocket,
		"certrescue_lb_restore_command": `echo "set server kube-apiservers/{{ inventory_hostname }} state ready" | socat stdio ` + r.c.HAProxySocket,
	}
	if dsn != "" {
		all["certrescue_audit_dsn"] = dsn
	}
	workers := map[string]any{}
	for _, w := range r.c.Workers {
		vars := map[string]any{"ansible_host": w.Addr, "certrescue_kubelet_restart": "command",
			"certrescue_kubelet_restart_command": w.RestartCommand(), "certrescue_kubelet_healthz": w.Healthz()}
		for k, v := range extra[w.Name] {
			vars[k] = v
		}
		workers[w.Name] = vars
	}
	inv := map[string]any{"all": map[string]any{"vars": all, "children": map[string]any{
		"control_plane": map[string]any{"hosts": hosts},
		"workers":       map[string]any{"hosts": workers},
	}}}
	data, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	r.inventory = filepath.Join(r.home, "hosts.yml")
	if err := os.WriteFile(r.inventory, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// playTime is one play's wall time, as its output arrived.
type playTime struct {
	Name string
	Took time.Duration
}

// playbook runs ansible-playbook PLAYBOOK in the controller namespace and
// returns its output, its error and each play's wall time.
func (r *run) playbook(t *testing.T, playbook string, extra ...string) (string, []playTime, error) {
	t.Helper()
	// 25 minutes for the control plane, and half a minute more per worker
	// (each batch's kubelet installs gate on the Nodes Ready).
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute+time.Duration(len(r.c.Workers))*30*time.Second)
	defer cancel()
	args := append([]string{"-i", r.inventory, filepath.Join(r.kitDir, "ansible", playbook)}, extra...)
	cmd := r.c.Controller().Command(ctx, "ansible-playbook", args...)
	cmd.Dir = filepath.Join(r.kitDir, "ansible")
	cmd.Env = append(os.Environ(),
		"ANSIBLE_CONFIG="+filepath.Join(r.kitDir, "ansible", "ansible.cfg"),
		"ANSIBLE_HOME="+filepath.Join(r.home, "ansible-home"),
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(r.home, "ansible-tmp"),
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(r.home, "cp"),
		// Each task's wall time, and the slowest at the end (Debian's
		// ansible ships ansible.posix).
		"ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT=25",
		"ANSIBLE_NOCOLOR=1", "PYTHONUNBUFFERED=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// ssh's connection masters outlive the run (ansible.cfg keeps them 15
	// minutes): each is told to exit when the test is done.
	t.Cleanup(func() { closeMasters(t, filepath.Join(r.home, "cp")) })
	var out strings.Builder
	var plays []playTime
	var mu sync.Mutex
	start, current := time.Now(), ""
	seen := map[string]int{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		mu.Lock()
		out.WriteString(line + "\n")
		if strings.HasPrefix(line, "PLAY [") || strings.HasPrefix(line, "PLAY RECAP") {
			now := time.Now()
			if current != "" {
				plays = append(plays, playTime{current, now.Sub(start)})
			}
			start, current = now, ""
			if a, b := strings.Index(line, "["), strings.LastIndex(line, "]"); strings.HasPrefix(line, "PLAY [") && b > a {
				current = line[a+1 : b]
				// A serial play prints its header once per batch.
				seen[current]++
				if seen[current] > 1 {
					current += fmt.Sprintf(" (batch %d)", seen[current])
				}
			}
		}
		mu.Unlock()
	}
	err = cmd.Wait()
	return out.String(), plays, err
}

// closeMasters stops every ssh connection master whose socket is in dir.
func closeMasters(t *testing.T, dir string) {
	socks, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, sock := range socks {
		if out, err := exec.Command("ssh", "-O", "exit", "-o", "ControlPath="+sock, "master").CombinedOutput(); err != nil {
			t.Logf("ssh -O exit %s: %v %s", sock, err, out)
		}
	}
}

func logPlays(t *testing.T, what string, plays []playTime, total time.Duration) {
	t.Helper()
	for _, p := range plays {
		t.Logf("FIGURE %s: play %-60q %6.1fs", what, p.Name, p.Took.Seconds())
	}
	t.Logf("FIGURE %s: one ansible-playbook run, %.1fs wall in all", what, total.Seconds())
}

// freshDSN is a PostgreSQL schema of the test's own, as the nodes reach it
// (through the controller's forward to the host's loopback) and as the test
// reads it; "" when no PostgreSQL answers (which fails under make test).
func freshDSN(t *testing.T, c *ha.Cluster) (nodes, local string) {
	t.Helper()
	dsn := os.Getenv("CERTRESCUE_TEST_PG_DSN")
	if dsn == "" {
		cache := os.Getenv("CERTRESCUE_TESTBED_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "certrescue-testbed")
		}
		data, _ := os.ReadFile(filepath.Join(cache, "db.env"))
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "CERTRESCUE_TEST_PG_DSN="); ok {
				dsn = v
			}
		}
	}
	if u, err := url.Parse(dsn); dsn == "" || err != nil || !answers(u.Host) {
		if testbed.Require() {
			t.Fatalf("no PostgreSQL answers (%q): scripts/test-deps.d/20-databases.sh starts it", dsn)
		}
		t.Log("no PostgreSQL: the nodes' audit events stay in their own SQLite files")
		return "", ""
	}
	local = audittest.FreshDSN(t, "postgres")
	u, err := url.Parse(local)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = c.Forward(t, "5432", u.Host)
	return u.String(), local
}

func answers(hostport string) bool {
	conn, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

// files hashes every file under the node's /etc/kubernetes.
func files(t *testing.T, n *ha.Node) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := n.Path(layout.KubernetesDir)
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, n.Root)] = fmt.Sprintf("%x %v", sha(b), fi.Mode().Perm())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
