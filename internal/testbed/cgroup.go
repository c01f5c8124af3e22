package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// CPUCgroupRoot is where cgroup v1's cpu controller is mounted.
const CPUCgroupRoot = "/sys/fs/cgroup/cpu"

var cgroups atomic.Int64 // numbers each group of the process

// CPUCgroup makes a cgroup v1 cpu group of its own for the test, with
// cpu.shares as given (1024 is what a process of the root group weighs),
// and returns its directory; "" when this machine has no cgroup v1 cpu
// controller (the test logs it and runs without). The group is removed when
// the test ends: register it before the processes that join it, so their
// cleanup runs first; what is left in it then is moved back to the root.
//
// A testbed that runs many simulated nodes on two cores gives their
// processes a group like this so they yield to the rest under load (the
// fleet's workers have CPUs of their own in a real cluster); CFS shares
// only weigh: an idle machine gives the group all of it.
func CPUCgroup(t testing.TB, name string, shares int) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(CPUCgroupRoot, "cpu.shares")); err != nil {
		t.Logf("testbed: no cgroup v1 cpu controller at %s (%v): %s runs without a CPU weight", CPUCgroupRoot, err, name)
		return ""
	}
	dir := filepath.Join(CPUCgroupRoot, fmt.Sprintf("%s-%d-%d", name, os.Getpid(), cgroups.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		t.Fatalf("testbed: cgroup %s: %v", dir, err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	if err := os.WriteFile(filepath.Join(dir, "cpu.shares"), []byte(strconv.Itoa(shares)), 0o644); err != nil {
		t.Fatalf("testbed: cgroup %s: cpu.shares: %v", dir, err)
	}
	return dir
}

// removeCgroup moves what is still in dir to the root group and removes it.
func removeCgroup(t testing.TB, dir string) {
	for range 50 {
		data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, pid := range strings.Fields(string(data)) {
			_ = os.WriteFile(filepath.Join(CPUCgroupRoot, "cgroup.procs"), []byte(pid), 0o644)
		}
		if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(100 * time.Millisecond) // a process leaving the group as it exits
	}
	t.Errorf("testbed: cgroup %s not removed", dir)
}
