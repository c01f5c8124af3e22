package txn_test

import (
	"bufio"
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// A rescue waiting on a health gate that never passes ends promptly on
// SIGTERM: exit 130, the renewed files left in place and consistent, and the
// next rescue resumes rather than starting over.
func TestSIGTERMDuringAGateEndsTheRescueAndTheNextRunResumes(t *testing.T) {
	bin := testbed.Certrescue(t)
	root := t.TempDir()
	now := time.Now()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{
		NotBefore: now.Add(-400 * 24 * time.Hour), NotAfter: now.Add(-24 * time.Hour),
		CANotBefore: now.Add(-365 * 24 * time.Hour), CANotAfter: now.Add(9 * 365 * 24 * time.Hour),
	})
	args := []string{"--root", root, "rescue", "--restart", "command",
		"--restart-command", "etcd=true", "--restart-command", "kube-apiserver=true",
		"--restart-command", "kube-controller-manager=true", "--restart-command", "kube-scheduler=true",
		"--restart-command", "kubelet=true",
		// Nothing listens there: the gate waits until its timeout.
		"--gate", "etcd=https://127.0.0.1:9/health", "--gate-timeout", "10m"}
	cmd := exec.Command(bin, args...)
	// stdout is read line by line here, stderr by exec's own goroutine: two
	// buffers (one written by both raced, and lost lines), joined once the
	// process has ended.
	var out, stderr bytes.Buffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	waiting := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "waiting:") {
			waiting = true
			break
		}
	}
	if !waiting {
		t.Fatalf("the rescue never reached its etcd gate:\n%s", out.String())
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
		}
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a hang detector, not a timing assertion
		t.Fatalf("SIGTERM did not end the rescue:\n%s", out.String())
	}
	t.Logf("ended %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	out.Write(stderr.Bytes())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "interrupted while restarting etcd") || !strings.Contains(out.String(), "resumes") {
		t.Errorf("the output does not say what was interrupted and what the next run does:\n%s", out.String())
	}
	for _, p := range pairs(t, root) {
		if !p.keyMatches {
			t.Errorf("%s: certificate and key from different generations", p.name)
		}
		if !p.cert.IsCA && p.cert.NotAfter.Before(now) {
			t.Errorf("%s: still expired after the deploy", p.name)
		}
	}
	if left := temps(t, root); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// The next run resumes the restarts (its gate now off).
	resume := append([]string{}, args[:len(args)-4]...)
	for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"} {
		resume = append(resume, "--gate", c+"=off")
	}
	next, err := exec.Command(bin, resume...).CombinedOutput()
	if !strings.Contains(string(next), "resuming its restarts") {
		t.Errorf("the next rescue did not resume (%v):\n%s", err, next)
	}
}
