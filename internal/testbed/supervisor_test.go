package testbed

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}

// TestSupervisorRunsUnitsAtTheirNodePaths runs a unit under the supervisor:
// its ExecStart with the drop-in's override and Environment=, the node's
// directories at their node paths (written through to the root, never to
// the host), restart by command, Restart=always after a crash, and every
// process gone after the test.
func TestSupervisorRunsUnitsAtTheirNodePaths(t *testing.T) {
	NeedRoot(t, "the supervisor")
	if _, err := os.Stat("/etc/certrescue-sup-test"); err == nil {
		t.Fatal("/etc/certrescue-sup-test exists on the host before the test")
	}
	root := t.TempDir()
	b := &BinaryInstall{Root: root}
	b.mkdir(t, "/etc/certrescue-sup-test", 0o755)
	b.write(t, BinUnitDir+"/sleeper.service", `[Service]
ExecStart=/bin/sh -c 'echo old > /etc/certrescue-sup-test/out; exec sleep 600'
Restart=always
`, 0o644)
	b.write(t, BinUnitDir+"/sleeper.service.d/10-override.conf", `[Service]
Environment="GREETING=hello from the drop-in"
ExecStart=
ExecStart=/bin/sh -c 'echo "$GREETING" > /etc/certrescue-sup-test/out; exec sleep 600'
`, 0o644)
	ns := NewNetNS(t, "10.0.0.1")
	s := StartSupervisor(t, ns, SupervisorSpec{Root: root, Units: []string{"sleeper.service"}, Binds: []string{"/etc/certrescue-sup-test"}})

	out := filepath.Join(root, "etc/certrescue-sup-test/out")
	activePID := regexp.MustCompile(`sleeper active pid (\d+) starts (\d+)`)
	// started waits for the unit's greeting in the root's file and returns
	// its pid and start count from the supervisor.
	started := func() (pid, starts string) {
		t.Helper()
		var line string
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(out)
			if line = strings.TrimSpace(string(b)); line == "hello from the drop-in" {
				status, err := s.Ctl("status")
				if m := activePID.FindStringSubmatch(status); err == nil && m != nil {
					return m[1], m[2]
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("the unit wrote %q to the root's file, want the drop-in's greeting", line)
		return "", ""
	}
	first, _ := started()
	if _, err := os.Stat("/etc/certrescue-sup-test"); err == nil {
		t.Error("the node directory appeared on the host")
	}
	if got, err := s.Exec("cat", "/etc/certrescue-sup-test/out"); err != nil || strings.TrimSpace(got) != "hello from the drop-in" {
		t.Errorf("inside the namespace the node path reads %q (%v)", got, err)
	}

	os.Remove(out)
	if msg, err := s.Ctl("restart", "sleeper"); err != nil || !strings.Contains(msg, "started") {
		t.Fatalf("restart: %v: %s", err, msg)
	}
	second, _ := started()
	if second == first {
		t.Errorf("restart kept pid %s", first)
	}

	// A crash (SIGKILL of the unit's process, by its PID) is restarted.
	os.Remove(out)
	if _, err := s.Exec("kill", "-9", second); err != nil {
		t.Fatal(err)
	}
	third, starts := started()
	if third == second || starts != "3" {
		t.Errorf("pid %s, %s starts after the crash; want a new pid and 3 starts", third, starts)
	}
	if _, err := s.Ctl("restart", "nosuch"); err == nil {
		t.Error("restart of an unknown unit succeeded")
	}
}
