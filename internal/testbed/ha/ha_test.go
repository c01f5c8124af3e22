package ha

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

func TestMain(m *testing.M) {
	testbed.Main()
	os.Exit(m.Run())
}

// TestNodesAreReachedOverSSHAsTheirOwnHosts builds the network and one
// node's sshd only (no Kubernetes): the controller reaches the node as root
// with the test's key and a strictly checked host key, the node has its own
// hostname, and its node directories are its root's.
func TestNodesAreReachedOverSSHAsTheirOwnHosts(t *testing.T) {
	Need(t, "/usr/sbin/sshd", "openssh-server")
	Need(t, "/usr/bin/ansible", "ansible")
	c := &Cluster{Dir: t.TempDir(), bins: map[string]string{}}
	c.net = newNetwork(t)
	c.newSSH(t)
	n := &Node{Name: "cp1", Addr: NodeAddr(0), Root: filepath.Join(c.Dir, "cp1-root"), Units: filepath.Join(c.Dir, "cp1-units")}
	n.NS = c.net.addNode(t, 0, n.Addr)
	c.Nodes = []*Node{n}
	writeFile(t, filepath.Join(n.Units, "etc/systemd/system/sshd.service"), "[Service]\nExecStart=/usr/sbin/sshd -D -e -f "+c.sshdConfig(t, n)+"\n", 0o644)
	writeFile(t, n.Path("/etc/kubernetes/marker"), "cp1's own\n", 0o644)
	for _, d := range Binds {
		if err := os.MkdirAll(n.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n.Sup = testbed.StartSupervisor(t, n.NS, testbed.SupervisorSpec{Root: n.Root, UnitRoot: n.Units, Hostname: n.Name, Units: []string{"sshd.service"}, Binds: Binds})
	c.waitSSH(t, n)
	out, err := c.SSHRun(n, "cat /etc/kubernetes/marker; hostname")
	if err != nil || out != "cp1's own\ncp1\n" {
		t.Fatalf("over ssh: %q (%v)", out, err)
	}
	host, _ := os.Hostname()
	if host == "cp1" {
		t.Fatal("the host was renamed")
	}
	if _, err := os.Stat("/etc/kubernetes/marker"); err == nil {
		t.Fatal("the node's file is on the host")
	}
	// ansible's ping module over the same ssh, as the collection runs.
	{
		inv := filepath.Join(c.Dir, "hosts")
		writeFile(t, inv, "cp1 ansible_host="+n.Addr+" ansible_user=root ansible_python_interpreter=/usr/bin/python3 ansible_remote_tmp=/var/lib/certrescue/ansible-tmp\n", 0o600)
		out, err := c.net.ctl.Run("env", "ANSIBLE_HOME="+filepath.Join(c.Dir, "ah"), "ANSIBLE_LOCAL_TEMP="+filepath.Join(c.Dir, "at"),
			"ANSIBLE_SSH_ARGS=-o ControlMaster=no "+strings.Join(c.SSHArgs(), " "), "ansible", "-i", inv, "cp1", "-m", "ansible.builtin.ping")
		if err != nil || !strings.Contains(out, `"pong"`) {
			t.Fatalf("ansible ping: %v\n%s", err, out)
		}
	}
}
