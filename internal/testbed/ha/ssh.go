package ha

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SSH is how the controller reaches the nodes as root: a client key the test
// makes (authorized on every node) and a known_hosts file with each node's
// host key, so ssh checks host keys strictly.
type SSH struct {
	Key        string // the client's private key (0600)
	KnownHosts string
}

func sshKeygen(t testing.TB, path, comment string) string {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", path, err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pub))
}

// newSSH makes the client key.
func (c *Cluster) newSSH(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Fatalf("ha: /usr/sbin/sshd missing (scripts/test-deps.d/40-ha.sh installs openssh-server): %v", err)
	}
	dir := filepath.Join(c.Dir, "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.SSH = SSH{Key: filepath.Join(dir, "id_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts")}
	c.clientPub = sshKeygen(t, c.SSH.Key, "certrescue-ha-controller")
}

// sshdConfig writes node n's host key, authorized_keys and sshd_config
// (outside the node paths certrescue reads) and returns the config's path.
func (c *Cluster) sshdConfig(t testing.TB, n *Node) string {
	t.Helper()
	return c.sshdConfigIn(t, filepath.Join(n.Units, "ssh"), n.Name, n.Addr)
}

// sshdConfigIn writes the sshd files of host name (listening on addr) in
// dir, adds its host key to the controller's known_hosts and returns the
// config's path.
func (c *Cluster) sshdConfigIn(t testing.TB, dir, name, addr string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	pub := sshKeygen(t, hostKey, "root@"+name)
	writeFile(t, filepath.Join(dir, "authorized_keys"), c.clientPub+"\n", 0o600)
	c.knownMu.Lock()
	f, err := os.OpenFile(c.SSH.KnownHosts, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.knownMu.Unlock()
		t.Fatal(err)
	}
	fields := strings.Fields(pub)
	fmt.Fprintf(f, "%s %s %s\n", addr, fields[0], fields[1])
	f.Close()
	c.knownMu.Unlock()
	conf := filepath.Join(dir, "sshd_config")
	writeFile(t, conf, fmt.Sprintf(`# sshd of testbed node %s: root with the controller's key only
ListenAddress %s:22
HostKey %s
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile %s
Subsystem sftp internal-sftp
MaxStartups 100
MaxSessions 100
LogLevel INFO
`, name, addr, hostKey, filepath.Join(dir, "authorized_keys")), 0o600)
	return conf
}

// SSHArgs are ssh's options for reaching the nodes (ansible's
// ansible_ssh_common_args take the same).
func (c *Cluster) SSHArgs() []string {
	return []string{"-i", c.SSH.Key, "-o", "UserKnownHostsFile=" + c.SSH.KnownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=10"}
}

// SSHRun runs a shell command on node n over ssh from the controller.
func (c *Cluster) SSHRun(n *Node, command string) (string, error) {
	return c.sshRunAt(n.Addr, command)
}

func (c *Cluster) sshRunAt(addr, command string) (string, error) {
	args := append(append([]string{"ssh"}, c.SSHArgs()...), "root@"+addr, command)
	return c.net.ctl.Run(args[0], args[1:]...)
}
