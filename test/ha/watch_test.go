package ha

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/fleet"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/testbed/ha"
)

// vipPoller sends GET /api/v1/namespaces/default through the VIP every
// 100 ms (each on a new connection, as the test's admin) until stop.
type vipPoller struct {
	mu       sync.Mutex
	sent     int
	failed   []string
	stopOnce sync.Once
	stop     chan struct{}
	done     sync.WaitGroup
}

func startVIPPoller(t *testing.T, c *ha.Cluster) *vipPoller {
	p := &vipPoller{stop: make(chan struct{})}
	client := c.HTTPClient(c.ClientTLS, 5*time.Second)
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case at := <-tick.C:
				p.done.Add(1)
				go func() {
					defer p.done.Done()
					err := get(client, c.VIPURL()+"/api/v1/namespaces/default")
					p.mu.Lock()
					p.sent++
					if err != nil {
						p.failed = append(p.failed, at.Format("15:04:05.000")+" "+err.Error())
					}
					p.mu.Unlock()
				}()
			}
		}
	}()
	t.Cleanup(func() { p.finish() })
	return p
}

func get(client *http.Client, u string) error {
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// finish stops the poller and returns how many requests it sent and the
// failed ones.
func (p *vipPoller) finish() (int, []string) {
	p.stopOnce.Do(func() { close(p.stop) })
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, append([]string{}, p.failed...)
}

// etcdSample is which members answered at one instant: Alive, their status
// (the member runs and serves); Healthy, /health "true" (it also knows a
// leader: false during an election).
type etcdSample struct {
	At      time.Time
	Alive   []string
	Healthy []string
}

// etcdWatch asks every member's /health every 250 ms with the first node's
// healthcheck client (read afresh each time: the rescue renews it).
type etcdWatch struct {
	mu      sync.Mutex
	samples []etcdSample
	stop    chan struct{}
	done    chan struct{}
}

func watchEtcd(t *testing.T, c *ha.Cluster) *etcdWatch {
	w := &etcdWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			s := etcdSample{At: time.Now()}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for _, n := range c.Nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cfg, err := fleet.ClientTLS(nodefs.New(n.Root), layout.PKIDir+"/etcd/ca.crt", layout.PKIDir+"/etcd/healthcheck-client.crt", layout.PKIDir+"/etcd/healthcheck-client.key")
					if err != nil {
						return
					}
					ec := &fleet.EtcdClient{HTTP: c.HTTPClient(cfg, 2*time.Second)}
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					ep := "https://" + n.Addr + ":2379"
					_, alive := ec.Status(ctx, ep)
					healthy := ec.Health(ctx, ep)
					mu.Lock()
					if alive == nil {
						s.Alive = append(s.Alive, n.Name)
					}
					if healthy == nil {
						s.Healthy = append(s.Healthy, n.Name)
					}
					mu.Unlock()
				}()
			}
			wg.Wait()
			sort.Strings(s.Alive)
			sort.Strings(s.Healthy)
			w.mu.Lock()
			w.samples = append(w.samples, s)
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { w.finish() })
	return w
}

func (w *etcdWatch) finish() []etcdSample {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]etcdSample{}, w.samples...)
}

// restartWindow is one etcd restart as a node's supervisor logged it: from
// the restart request to the new process started.
type restartWindow struct {
	Node       string
	From, To   time.Time
	FromText   string
	ToText     string
	Superseded bool
}

var supLine = regexp.MustCompile(`^(\d\d:\d\d:\d\d\.\d\d\d) (.*)$`)

// etcdRestarts reads each node's supervisor log for etcd's restarts.
func etcdRestarts(t *testing.T, c *ha.Cluster) []restartWindow {
	t.Helper()
	var out []restartWindow
	for _, n := range c.Nodes {
		f, err := os.Open(filepath.Join(n.Sup.Run, "supervisor.log"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		var open *restartWindow
		for sc.Scan() {
			m := supLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			at, _ := time.Parse("15:04:05.000", m[1])
			switch {
			case m[2] == "restart etcd requested":
				open = &restartWindow{Node: n.Name, From: at, FromText: m[1]}
			case open != nil && strings.HasPrefix(m[2], "started etcd pid "):
				open.To, open.ToText = at, m[1]
				out = append(out, *open)
				open = nil
			}
		}
		f.Close()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out
}
