package ha

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed/ha"
)

// TestTheKitPlay runs kit.yml (its action plugin, certrescue_kit_push) with
// Debian's ansible-playbook against one node reached through Ansible's
// local connection (the HA test reaches nodes over ssh): the first run
// pushes, unpacks and verifies; a rerun pushes nothing; a file changed on
// the node, a tarball whose files do not match its SHA256SUMS, and a file
// that is not a kit are refused, named in the error.
func TestTheKitPlay(t *testing.T) {
	ha.Need(t, "/usr/bin/ansible-playbook", "ansible")
	tarball, kitDir := buildKit(t)
	home := t.TempDir()
	node := filepath.Join(home, "node", "kit")
	inv := filepath.Join(home, "hosts")
	// The node's directory in the inventory, not in -e: an extra variable
	// would win over kit.yml's certrescue_node_dir for the controller too.
	if err := os.WriteFile(inv, []byte("[workers]\nnode1 ansible_connection=local ansible_python_interpreter=/usr/bin/python3 certrescue_node_dir="+node+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	play := func(kit string) (string, error) {
		cmd := exec.Command("ansible-playbook", "-i", inv, filepath.Join(kitDir, "ansible", "kit.yml"),
			"-e", "certrescue_kit="+kit, "-e", "certrescue_controller_dir="+filepath.Join(home, "controller"))
		cmd.Dir = filepath.Join(kitDir, "ansible")
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(kitDir, "ansible", "ansible.cfg"),
			"ANSIBLE_HOME="+filepath.Join(home, "ansible-home"), "ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "ansible-tmp"),
			"ANSIBLE_NOCOLOR=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	recap := regexp.MustCompile(`node1 +: ok=(\d+) +changed=(\d+) .*failed=(\d+)`)
	changed := func(out string) string {
		m := recap.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no recap for node1:\n%s", out)
		}
		return m[2]
	}
	name := strings.TrimSuffix(filepath.Base(tarball), ".tar.gz")
	bin := filepath.Join(node, name, "bin", "certrescue-linux-amd64")

	out, err := play(tarball)
	if err != nil {
		t.Fatalf("kit.yml: %v\n%s", err, out)
	}
	if c := changed(out); c != "1" {
		t.Errorf("the first run: changed=%s, want 1 (the push)\n%s", c, out)
	}
	for p, want := range map[string]os.FileMode{node: 0o700 | os.ModeDir, filepath.Join(node, filepath.Base(tarball)): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v (%v), want %v", p, fi.Mode(), err, want)
		}
	}
	if b, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.Contains(string(b), "ha-test") {
		t.Errorf("the node's certrescue: %v: %s", err, b)
	}
	leftovers, _ := filepath.Glob(filepath.Join(node, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("left in the kit directory: %v", leftovers)
	}

	// The same tarball again: nothing pushed, verified again.
	before, _ := os.Stat(filepath.Join(node, filepath.Base(tarball)))
	out, err = play(tarball)
	if err != nil {
		t.Fatalf("kit.yml again: %v\n%s", err, out)
	}
	if c := changed(out); c != "0" {
		t.Errorf("the rerun: changed=%s, want 0\n%s", c, out)
	}
	if after, _ := os.Stat(filepath.Join(node, filepath.Base(tarball))); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the rerun pushed the tarball again")
	}

	// A file of the unpacked kit changed on the node.
	conf := filepath.Join(node, name, "conf", "ca-config.json")
	orig, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(orig, ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = play(tarball)
	if err == nil || !strings.Contains(out, "conf/ca-config.json: FAILED") || !strings.Contains(out, "the kit was not used") {
		t.Errorf("a changed kit file on the node: %v\n%s", err, out)
	}
	if err := os.WriteFile(conf, orig, 0o644); err != nil {
		t.Fatal(err)
	}

	// A tarball of the same name whose bin/ does not match its SHA256SUMS:
	// refused before anything from it runs (on the controller already,
	// where kit.yml unpacks the kit first).
	bad := filepath.Join(t.TempDir(), filepath.Base(tarball))
	stage := t.TempDir()
	if b, err := exec.Command("cp", "-a", kitDir, stage).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, b)
	}
	planted := filepath.Join(stage, name, "bin", "certrescue-linux-amd64")
	if err := os.WriteFile(planted, []byte("#!/bin/sh\ntouch "+filepath.Join(home, "ran")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("tar", "-C", stage, "-czf", bad, name).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
	out, err = play(bad)
	if err == nil || !strings.Contains(out, "bin/certrescue-linux-amd64: FAILED") {
		t.Errorf("a tarball that does not match its SHA256SUMS: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, "ran")); err == nil {
		t.Error("the planted binary ran")
	}

	// Not a kit.
	out, err = play(filepath.Join(home, "hosts"))
	if err == nil || !strings.Contains(out, "src must name the kit tarball") {
		t.Errorf("a file that is not a kit: %v\n%s", err, out)
	}
}
