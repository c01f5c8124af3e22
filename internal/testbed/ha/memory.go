package ha

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

// PIDs are the testbed's live processes: every supervisor, every process
// they started (components, kubelets, sshd) and haproxy.
func (c *Cluster) PIDs() []int {
	pids := append([]int{}, c.pids...)
	var sups []*testbed.Supervisor
	for _, n := range c.Nodes {
		sups = append(sups, n.Sup)
	}
	for _, w := range c.Workers {
		sups = append(sups, w.Sup)
	}
	for _, s := range sups {
		if s == nil {
			continue
		}
		pids = append(pids, s.PID)
		data, _ := os.ReadFile(filepath.Join(s.Run, "all.pids"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// RSS is the resident memory of the testbed's live processes, in bytes.
// Pages shared between processes (the text of a binary every worker runs)
// count once per process: Memory's PSS is the fairer sum.
func (c *Cluster) RSS() int64 { return c.Memory().RSS }

// Memory is what the testbed and the machine hold, in bytes.
type Memory struct {
	// RSS and PSS sum the testbed's live processes: resident pages, and
	// resident pages with each shared page divided among the processes
	// that map it (/proc/PID/smaps_rollup).
	RSS, PSS int64
	// MachineUsed is the whole machine's MemTotal - MemAvailable.
	MachineUsed int64
}

// Memory reads the testbed's processes and the machine's memory now.
func (c *Cluster) Memory() Memory { return c.memory(true) }

// memory reads PSS only withPSS: smaps_rollup walks each process's page
// tables, several times the kernel's work of VmRSS, and a sampler at 50
// workers reads some 170 processes.
func (c *Cluster) memory(withPSS bool) Memory {
	var m Memory
	for _, pid := range c.PIDs() {
		m.RSS += procKB("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS:")
		if withPSS {
			m.PSS += procKB("/proc/"+strconv.Itoa(pid)+"/smaps_rollup", "Pss:")
		}
	}
	m.MachineUsed = procKB("/proc/meminfo", "MemTotal:") - procKB("/proc/meminfo", "MemAvailable:")
	return m
}

// procKB is the first "FIELD  N kB" line of a /proc file, in bytes; 0 when
// the file or the field is gone (the process exited).
func procKB(file, field string) int64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// MemorySampler samples Memory every interval (PSS every tenth time) until
// Stop and keeps the peak of each figure.
type MemorySampler struct {
	mu   sync.Mutex
	peak Memory
	stop chan struct{}
	done chan struct{}
}

// SampleMemory starts a sampler; it stops when the test ends at the latest.
func (c *Cluster) SampleMemory(t testing.TB, every time.Duration) *MemorySampler {
	m := &MemorySampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; ; i++ {
			now := c.memory(i%10 == 0)
			m.mu.Lock()
			m.peak = Memory{RSS: max(m.peak.RSS, now.RSS), PSS: max(m.peak.PSS, now.PSS), MachineUsed: max(m.peak.MachineUsed, now.MachineUsed)}
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { m.Stop() })
	return m
}

// Stop ends the sampling and returns the peaks.
func (m *MemorySampler) Stop() Memory {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}
