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
func (c *Cluster) RSS() int64 {
	var sum int64
	for _, pid := range c.PIDs() {
		sum += vmRSS(pid)
	}
	return sum
}

func vmRSS(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0 // gone
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// MemorySampler samples RSS every interval until Stop and keeps the peak.
type MemorySampler struct {
	mu   sync.Mutex
	peak int64
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
		for {
			rss := c.RSS()
			m.mu.Lock()
			m.peak = max(m.peak, rss)
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

// Stop ends the sampling and returns the peak in bytes.
func (m *MemorySampler) Stop() int64 {
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
