package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
)

// etcdHealthy accepts etcd's {"health":"true",...}.
func etcdHealthy(b []byte) error {
	var v struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("not etcd's health JSON: %q", firstLines(b, 2))
	}
	if v.Health != "true" {
		return fmt.Errorf("etcd reports health=%q: %s", v.Health, v.Reason)
	}
	return nil
}

// Gate is one readiness check of one component.
type Gate struct {
	Component string
	Name      string        // what it checks: "etcd /health"
	Timeout   time.Duration // how long to keep trying
	Probe     Probe
	// Ready, when set, checks that the files the probe will read (its client
	// credentials, CAs, the certificate it compares) can be read now: what a
	// dry run verifies.
	Ready func() error
	// Prepare, when set, is called just before the component is restarted
	// (the leader lease gate notes the old holder then).
	Prepare func(ctx context.Context)
	// Restarted, when set, is called once the restart returned (the old
	// process is gone), before the gate waits; it says what it did, if
	// anything (the lease gate releases the lease the old process held).
	Restarted func(ctx context.Context) string
}

// Probe is one attempt.
type Probe interface {
	Check(ctx context.Context) error
}

// HTTPProbe is a GET that must answer 200 with an expected body.
type HTTPProbe struct {
	URL string
	// URLFunc gives the URL at each attempt when URL is empty (the API
	// server's comes from admin.conf, which a deployment rewrites).
	URLFunc func() (string, error)
	// TLS builds the client's TLS configuration at each attempt (nil for plain
	// HTTP); credentials are read then, so renewed files are used.
	TLS func() (*tls.Config, error)
	// Served, when set, returns the certificate the server must present (the
	// one now on disk): a server still presenting the old one fails.
	Served func() (*x509.Certificate, error)
	// Body checks the response body; nil accepts "ok".
	Body    func([]byte) error
	Timeout time.Duration // per attempt; default 5s
}

// Check runs one attempt.
func (p HTTPProbe) Check(ctx context.Context) error {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if p.TLS != nil {
		cfg, err := p.TLS()
		if err != nil {
			return err
		}
		tr.TLSClientConfig = cfg
	}
	defer tr.CloseIdleConnections()
	if p.URL == "" && p.URLFunc != nil {
		u, err := p.URLFunc()
		if err != nil {
			return err
		}
		p.URL = u
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return p.verifyFailed(ctx, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d: %s", p.URL, resp.StatusCode, firstLines(body, 6))
	}
	check := p.Body
	if check == nil {
		check = expectOK
	}
	if err := check(body); err != nil {
		return fmt.Errorf("%s: %w", p.URL, err)
	}
	if p.Served != nil {
		want, err := p.Served()
		if err != nil {
			return err
		}
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
			return fmt.Errorf("%s: no server certificate to compare", p.URL)
		}
		if !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, want.Raw) {
			got := resp.TLS.PeerCertificates[0]
			return fmt.Errorf("%w: %s serves a certificate valid until %s, not the renewed one on disk (valid until %s): the process has not reloaded it",
				ErrNotTakenUp, p.URL, got.NotAfter.UTC().Format(time.RFC3339), want.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func expectOK(b []byte) error {
	if strings.TrimSpace(string(b)) != "ok" {
		return fmt.Errorf("answered %q, want \"ok\"", firstLines(b, 3))
	}
	return nil
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(strings.TrimSpace(string(b)), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, " | ")
}

// Backoff between attempts: Initial, doubling up to Max.
type Backoff struct {
	Initial, Max time.Duration
}

// DefaultBackoff starts at 200ms and settles at 2s.
var DefaultBackoff = Backoff{Initial: 200 * time.Millisecond, Max: 2 * time.Second}

// ErrTimeout is wrapped when a gate did not pass in time.
var ErrTimeout = errors.New("health gate did not pass in time")

// Result says how a gate went.
type Result struct {
	Gate     Gate
	Attempts int
	Took     time.Duration
	Err      error // nil when it passed; else wraps ErrTimeout and the last probe error
}

// Wait retries the gate's probe until it passes, the gate's timeout runs out
// or ctx ends. The clock measures the timeout and waits between attempts:
// the command layer passes clock.Real (a gate measures a real process).
func Wait(ctx context.Context, g Gate, c clock.Clock, b Backoff) Result {
	start := c.Now()
	deadline := start.Add(g.Timeout)
	delay := b.Initial
	res := Result{Gate: g}
	for {
		res.Attempts++
		err := g.Probe.Check(ctx)
		if err == nil {
			res.Took = c.Now().Sub(start)
			return res
		}
		if ctx.Err() != nil {
			res.Took, res.Err = c.Now().Sub(start), fmt.Errorf("%s: %w (last error: %w)", g.Name, ctx.Err(), err)
			return res
		}
		if !c.Now().Add(delay).Before(deadline) {
			res.Took = c.Now().Sub(start)
			res.Err = fmt.Errorf("%w: %s, %d attempts in %s; last error: %w", ErrTimeout, g.Name, res.Attempts, res.Took.Round(time.Millisecond), err)
			return res
		}
		if IsPermanent(err) {
			res.Took = c.Now().Sub(start)
			res.Err = fmt.Errorf("%s: %w (after %d attempts; waiting would not change it)", g.Name, err, res.Attempts)
			return res
		}
		if err := c.Sleep(ctx, delay); err != nil {
			res.Took, res.Err = c.Now().Sub(start), fmt.Errorf("%s: %w", g.Name, err)
			return res
		}
		delay = min(delay*2, b.Max)
	}
}
