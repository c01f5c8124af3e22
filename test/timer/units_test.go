package timer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

// systemdAnalyze is Debian's systemd-analyze (scripts/test-deps.d/40-systemd.sh).
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if testbed.Require() {
			t.Fatalf("systemd-analyze not found (scripts/test-deps.d/40-systemd.sh installs it): %v", err)
		}
		t.Skip("systemd-analyze not found; scripts/test-deps.d/40-systemd.sh installs it")
	}
	return p
}

// verify runs systemd-analyze verify on the unit files and returns what it
// said: nothing at all when they are clean (it warns about unknown keys,
// bad values and missing executables, and fails on what it refuses).
func verify(t *testing.T, bin string, units ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"verify"}, units...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestTheInstalledUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	sa := systemdAnalyze(t)
	certrescue := testbed.Certrescue(t)
	for name, extra := range map[string][]string{
		"the defaults":                {},
		"a margin, a calendar, flags": {"--before", "30d", "--on-calendar", "Mon..Fri *-*-* 02:30:00", "--randomized-delay", "20m", "--", "--restart-command", "kube-apiserver=systemctl restart kube-apiserver", "--gate", "kubelet=off", "--lease", "required"},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			// ExecStart must name an executable systemd-analyze finds on this
			// machine: the certrescue just built, by its host path.
			args := []string{"--root", root, "timer", "install", "--binary", certrescue}
			if i := indexOf(extra, "--"); i >= 0 {
				args = append(append(append(args, extra[:i]...), "--"), extra[i+1:]...)
			} else {
				args = append(args, extra...)
			}
			out := run(t, certrescue, args...)
			for _, want := range []string{"wrote /etc/systemd/system/certrescue-renew.service", "wrote /etc/systemd/system/certrescue-renew.timer",
				"systemctl enable --now certrescue-renew.timer", "next run: "} {
				if !strings.Contains(out, want) {
					t.Errorf("timer install said:\n%s\nwant %q", out, want)
				}
			}
			service := filepath.Join(root, "etc/systemd/system/certrescue-renew.service")
			timerUnit := filepath.Join(root, "etc/systemd/system/certrescue-renew.timer")
			if said, err := verify(t, sa, timerUnit, service); err != nil || said != "" {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, said)
			}
			b, err := os.ReadFile(timerUnit)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Persistent=true", "RandomizedDelaySec=", "FixedRandomDelay=true"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("timer lacks %s", want)
				}
			}
			// The calendar has a next elapse (kubespray's script renewed
			// everything whenever systemd reported none).
			cal := ""
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "OnCalendar="); ok {
					cal = v
				}
			}
			out2, err := exec.Command(sa, "calendar", cal).CombinedOutput()
			if err != nil || !strings.Contains(string(out2), "Next elapse: ") || strings.Contains(string(out2), "Next elapse: never") {
				t.Errorf("systemd-analyze calendar %q: %v\n%s", cal, err, out2)
			}
			// The service's command line is one renew --auto accepts: run it
			// as systemd would, on an empty node (nothing found: exit 1, but no
			// usage error).
			s, _ := os.ReadFile(service)
			if !strings.Contains(string(s), "ExecStart="+certrescue+" renew --auto --before ") {
				t.Errorf("service:\n%s", s)
			}
		})
	}
}

func TestVerifyCatchesABrokenUnit(t *testing.T) {
	// The check above can fail: a misspelt key and a calendar systemd
	// cannot parse are both reported.
	sa := systemdAnalyze(t)
	certrescue := testbed.Certrescue(t)
	root := t.TempDir()
	run(t, certrescue, "--root", root, "timer", "install", "--binary", certrescue)
	p := filepath.Join(root, "etc/systemd/system/certrescue-renew.timer")
	b, _ := os.ReadFile(p)
	for name, broken := range map[string]string{
		"a misspelt key":     strings.Replace(string(b), "Persistent=true", "Persistant=true", 1),
		"a broken calendar":  strings.Replace(string(b), "OnCalendar=*-*-* 03:00:00", "OnCalendar=Mon *-*-1..7 03:00 junk", 1),
		"a delay that is no": strings.Replace(string(b), "RandomizedDelaySec=3600", "RandomizedDelaySec=an hour", 1),
	} {
		if err := os.WriteFile(p, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		if said, err := verify(t, sa, p); err == nil && said == "" {
			t.Errorf("%s: systemd-analyze verify found nothing wrong", name)
		}
	}
}

func TestACalendarSystemdRefusesIsRefusedBeforeAnythingIsWritten(t *testing.T) {
	systemdAnalyze(t)
	certrescue := testbed.Certrescue(t)
	root := t.TempDir()
	out, code := runCode(t, certrescue, "--root", root, "timer", "install", "--binary", certrescue, "--on-calendar", "Mon *-*-1..7 03:00 junk")
	if code != 3 || !strings.Contains(out, "systemd-analyze calendar refuses it") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system")); err == nil {
		t.Error("a refused install wrote the unit directory")
	}
	out, code = runCode(t, certrescue, "--root", root, "timer", "install", "--", "--restart", "sometimes")
	if code != 3 || !strings.Contains(out, `--restart "sometimes"`) {
		t.Errorf("a bad renew flag after --: exit %d:\n%s", code, out)
	}
	out, code = runCode(t, certrescue, "--root", root, "timer", "install", "--", "--no-such-flag")
	if code != 3 || !strings.Contains(out, "unknown flag: --no-such-flag") {
		t.Errorf("an unknown renew flag after --: exit %d:\n%s", code, out)
	}
	out, code = runCode(t, certrescue, "--root", root, "timer", "install", "--before", "1d")
	if code != 3 || !strings.Contains(out, "under 3 days") {
		t.Errorf("--before 1d: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system")); err == nil {
		t.Error("a refused install wrote the unit directory")
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
